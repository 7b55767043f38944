"""The demo's timeline: one line per room event (and per step of the scripted physician).

Each event type has one formatter in :data:`_FORMAT` (tables over branches); the
measurement progress is a rich progress bar that advances with ``DeviceStep`` events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from telemedroom.room import (
    Admitted,
    CheckedIn,
    CheckInRejected,
    CleaningStarted,
    DeviceStep,
    ExamStep,
    ParticipantsChanged,
    ReadingTaken,
    RecordDelivered,
    RecordRejected,
    RoomErrorEvent,
    RoomEvent,
    SnapshotTaken,
    StateChanged,
    VisitWrappedUp,
    WaitingRoom,
)

__all__ = ["Timeline"]


def _kinds(devices: list[str]) -> str:
    return ", ".join(d.replace("_", " ") for d in devices)


def _device_step(e: DeviceStep) -> str | None:
    if e.status in ("waiting", "measuring"):
        return None  # "connecting" and the outcome tell the story; the bar shows progress
    attempt = f", attempt {e.attempt}" if e.attempt > 1 else ""
    detail = f": {e.detail}" if e.detail else ""
    device = e.device.replace("_", " ")
    return f"[{e.index + 1}/{e.total}] {device}: {e.status}{attempt} ({e.instruction}){detail}"


# event type -> (timeline label, style, text or None to leave the event off the timeline)
_FORMAT: dict[type[Any], tuple[str, str, Callable[[Any, tzinfo], str | None]]] = {
    StateChanged: ("room", "bold", lambda e, _z: f"state {e.state.value}"),
    CheckedIn: ("kiosk", "cyan", lambda e, _z: f"checked in; guided measurements: {_kinds(e.devices)}"),
    CheckInRejected: ("kiosk", "red", lambda e, _z: f"check-in refused: {e.reason}"),
    DeviceStep: ("device", "blue", lambda e, _z: _device_step(e)),
    ReadingTaken: ("reading", "green", lambda e, _z: f"{e.device.replace('_', ' ')}: {e.summary}"),
    WaitingRoom: (
        "waiting",
        "yellow",
        lambda e, _z: "in the waiting room" + (f", position {e.position}" if e.position else ""),
    ),
    Admitted: ("session", "magenta", lambda e, _z: f"admitted by {e.physician or 'the physician'}"),
    ExamStep: ("exam", "cyan", lambda e, _z: f"[{e.index + 1}/{e.total}] {e.step}: {e.phase}"),
    SnapshotTaken: (
        "snapshot",
        "magenta",
        lambda e, _z: f"{e.camera} camera still kept for the record" + (f" ({e.step})" if e.step else ""),
    ),
    VisitWrappedUp: (
        "record",
        "green",
        lambda e, _z: (
            f"Encounter with {e.observations} Observation(s) and {e.media} Media "
            f"queued in the outbox (row {', '.join(map(str, e.outbox_ids))})"
        ),
    ),
    CleaningStarted: (
        "cleaning",
        "yellow",
        lambda e, z: f"cleaning buffer until {e.until.astimezone(z):%H:%M:%S %Z}",
    ),
    RoomErrorEvent: ("error", "bold red", lambda e, _z: f"in {e.state.value}: {e.message}"),
    RecordRejected: (
        "rejected",
        "bold red",
        lambda e, _z: f"the FHIR server refused outbox row {e.outbox_row} (kept): {e.reason}",
    ),
    RecordDelivered: (
        "record",
        "green",
        lambda e, _z: f"outbox row {e.outbox_row}, refused before, is delivered now",
    ),
    ParticipantsChanged: (
        "visit",
        "cyan",
        lambda e, _z: (
            "in the visit: "
            + (
                ", ".join(
                    f"{p.name or p.id} ({p.role}{', speaking' if p.speaking else ''})" for p in e.participants
                )
                or "nobody"
            )
        ),
    ),
}


class Timeline:
    """Prints room events and the physician's steps as they happen, with elapsed seconds.

    Examples:
        >>> from rich.console import Console
        >>> from telemedroom.room import ReadingTaken
        >>> timeline = Timeline(Console(width=80), started=0.0, clock=lambda: 1.25)
        >>> timeline.event(ReadingTaken(device="scale", measurement={}, summary="72.4 kg"))
          +1.2s reading   scale: 72.4 kg
    """

    def __init__(
        self,
        console: Console,
        *,
        zone: tzinfo = UTC,
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.zone = zone
        self._clock = clock
        self.started = clock() if started is None else started
        self.progress = Progress(
            TextColumn("  measuring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self._task: Any = None

    def line(self, label: str, text: str, style: str = "") -> None:
        """One timeline line: elapsed time, a label, the text."""
        elapsed = self._clock() - self.started
        self.console.print(
            Text.assemble(f"{elapsed:+6.1f}s ", (f"{label:<9}", style), " ", text), soft_wrap=True
        )

    def event(self, event: RoomEvent) -> None:
        """Render one room event (and move the measurement progress bar)."""
        # An event type this version does not know yet is shown by its type.
        label, style, render = _FORMAT.get(type(event), (event.type, "", lambda e, _z: ""))
        if isinstance(event, DeviceStep):
            self._advance(event)
        text = render(event, self.zone)
        if text is not None:
            self.line(label, text, style)

    def _advance(self, step: DeviceStep) -> None:
        if not self.console.is_terminal:
            return  # a bar is for people watching; a log or a pipe gets the lines only
        if self._task is None:
            self.progress.start()
            self._task = self.progress.add_task("", total=step.total)
        finished = step.index + (1 if step.status in ("done", "skipped") else 0)
        self.progress.update(self._task, completed=finished, description=step.device.replace("_", " "))
        if finished >= step.total:
            self.progress.stop()

    def close(self) -> None:
        """Stop the progress bar if it still runs."""
        if self._task is not None:
            self.progress.stop()
