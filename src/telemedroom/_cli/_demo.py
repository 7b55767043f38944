"""``telemedroom demo``: a complete visit on one machine, rendered from the room's events.

Everything the room touches is real code - :class:`~telemedroom.room.Room` with its
device manager, outbox, journal, audit log, embedded signaling server and WebRTC peer -
and everything outside it is simulated: the devices are virtual GATT servers on an
in-memory radio (:class:`~telemedroom.testing.BumbleBackend`), the cameras synthetic,
and the physician a script (a headless :class:`~telemedroom.session.peer.PhysicianPeer`,
or headless Chromium on the real console page). This module only books the slot, plays
the physician and prints; the visit itself is :meth:`Room.run_visit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from telemedroom._chromium import CHROMIUM_FLAGS, until
from telemedroom._cli._outbox import ndjson_counts
from telemedroom._cli._serve import console_link, serve_room
from telemedroom._cli._serve import http_url as _http
from telemedroom._cli._timeline import Timeline
from telemedroom._room._sinks import fhir_dir
from telemedroom.errors import MissingExtraError, RecordRejectedError, SessionError
from telemedroom.fhir import DrainResult
from telemedroom.room import (
    CheckedIn,
    FhirSettings,
    KioskSettings,
    Room,
    RoomConfig,
    RoomEvent,
    RoomState,
    StateChanged,
    VisitSummary,
    summary_of,
)
from telemedroom.scheduling import Appointment
from telemedroom.session.audit import AuditLog
from telemedroom.testing import top_up, virtual_devices

__all__ = ["DemoResult", "run_demo"]

# everything the demo uses (ble: the bleak bridge of the virtual radio); --browser adds "browser"
DEMO_EXTRAS = ("ble", "sim", "video", "server")
# A fictitious statutory insurance number (KVNR, http://fhir.de/sid/gkv/kvid-10): the record
# creates the demo Patient by it (RoomConfig.demo sets [fhir] patient_identifier_system).
PATIENT = "X000000019"
PHYSICIAN = "dr-demo"  # the subject of the physician's join token


@dataclass(frozen=True)
class DemoResult:
    """What the demo leaves: the visit's summary, the files written, the audit verdict."""

    summary: VisitSummary
    data_dir: Path
    fhir_files: dict[str, int]
    audit_entries: int
    audit_head: str


Physician = Callable[[Room, Appointment, Timeline], Coroutine[Any, Any, None]]


async def headless_physician(room: Room, appointment: Appointment, timeline: Timeline) -> None:
    """A scripted physician in Python: admit, see the video, watch the vitals, take a still, end."""
    from telemedroom.session.peer import PhysicianPeer

    url = room.visit_url(appointment.id)
    token = room.physician_token(appointment.id, subject=PHYSICIAN)
    async with PhysicianPeer(url, token) as doctor:
        timeline.line("physician", "opened the console; waiting for the patient", "magenta")
        waiting = await doctor.next_waiting(timeout=120)
        await doctor.admit(waiting.id)
        timeline.line("physician", f"admits the {waiting.role} from the waiting room", "magenta")
        frame = await doctor.first_video_frame(timeout=30)
        timeline.line("physician", f"sees the room camera, {frame.width}x{frame.height}", "magenta")
        expected = len(room.readings)
        seen = 0
        async for reading in doctor.measurements():
            seen += 1
            timeline.line("physician", f"live vitals: {summary_of(reading)}", "magenta")
            if seen >= expected:
                break
        snapshot = await doctor.snapshot()
        timeline.line(
            "physician",
            f"asks for a still of the exam camera: {snapshot.media_type}, {snapshot.width}x{snapshot.height}",
            "magenta",
        )
        await doctor.end()
        timeline.line("physician", "ends the visit", "magenta")


async def browser_physician(room: Room, appointment: Appointment, timeline: Timeline) -> None:
    """The physician is headless Chromium on the real console page, clicking as a person would.

    Uses the system's Chromium through Playwright's ``executable_path``; nothing is downloaded.

    Raises:
        MissingExtraError: Playwright is not installed (``telemedroom[browser]``).
        SessionError: No Chromium on this system.
    """
    import tempfile

    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        raise MissingExtraError("browser", "telemedroom demo --browser (playwright)") from exc
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SessionError(
            "telemedroom demo --browser drives the system's Chromium: apt-get install chromium "
            "(telemedroom never downloads a browser)"
        )
    token = room.physician_token(appointment.id, subject=PHYSICIAN)
    link = f"{_http(room.signaling_url or '')}/console/#token={token}"
    with tempfile.TemporaryDirectory(prefix="telemedroom-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS)
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(link)
                await until(page, "document.body.dataset.joined === 'physician'", 30)  # any language
                timeline.line("physician", "Chromium opened the console; waiting for the patient", "magenta")
                await page.locator("#waiting-list li button.admit").first.click(timeout=120_000)
                timeline.line("physician", "clicks Admit in the waiting room", "magenta")
                await until(page, "document.getElementById('remote').videoWidth > 0", 30)
                size = await page.evaluate(
                    "(v => [v.videoWidth, v.videoHeight])(document.getElementById('remote'))"
                )
                timeline.line("physician", f"sees the room camera, {size[0]}x{size[1]}", "magenta")
                expected = len(room.readings)
                await until(
                    page, f"document.querySelectorAll('#vitals-list li.vital').length >= {expected}", 30
                )
                vitals = page.locator("#vitals-list li.vital")
                for n in reversed(range(await vitals.count())):  # the newest is on top
                    kind = await vitals.nth(n).get_attribute("data-kind")
                    value = await vitals.nth(n).get_attribute("data-value")
                    timeline.line("physician", f"live vitals: {kind} {value}", "magenta")
                await page.click("#snapshot")
                await page.locator("#snapshots img").first.wait_for(timeout=30_000)
                width = await until(page, "document.querySelector('#snapshots img').naturalWidth", 30)
                timeline.line("physician", f"clicks Snapshot: a {width}-pixel-wide still arrives", "magenta")
                await page.click("#end")
                timeline.line("physician", "clicks End visit", "magenta")
            finally:
                await context.close()


async def _render(events: AsyncIterator[RoomEvent], timeline: Timeline, done: asyncio.Event) -> None:
    """Print every event until the room is idle again after a visit."""
    visited = False
    async for event in events:  # the room ends the subscription when it closes
        timeline.event(event)
        visited = visited or isinstance(event, CheckedIn)
        if visited and isinstance(event, StateChanged) and event.state is RoomState.IDLE:
            done.set()
            return


def _data_dir(chosen: Path | None) -> Path:
    # A fresh temporary folder by default; it stays, so the FHIR files can be looked at.
    if chosen is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="telemedroom-demo-"))
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen


async def run_demo(
    console: Console,
    *,
    timezone: str = "Europe/Berlin",
    data_dir: Path | None = None,
    physician: Physician = headless_physician,
    serve: Callable[[Room, Console], Awaitable[None]] | None = None,
    fhir: FhirSettings | None = None,
) -> DemoResult:
    """Book a slot, run the visit on :class:`Room`, play the physician, and print it all.

    ``fhir`` sends the record to a FHIR server instead of the NDJSON files (``--fhir-url``,
    ``--fhir-server``); the demo's patient is then created there by its identifier.

    Raises:
        RecordRejectedError: The FHIR server refused the record (printed in red with the
            server's reason; the record stays in the outbox).
        MissingExtraError: Any of the ``ble``, ``sim``, ``video`` and ``server`` extras
            (and ``browser`` for the browser physician) is missing: one error naming
            them all, pointing to ``pip install 'telemedroom[all]'``.
        TelemedroomError: The visit failed (the room's own error, e.g. ``PeerError``).
    """
    from telemedroom._extras import require_extras

    browser = physician is browser_physician
    require_extras("telemedroom demo", (*DEMO_EXTRAS, *(("browser",) if browser else ())), install="all")
    from telemedroom.testing import BumbleBackend  # entering it needs the sim extra

    folder = _data_dir(data_dir)
    # the kiosk (--serve) on a free port: a second demo or anything else may hold 8080
    config = RoomConfig.demo(folder).model_copy(
        update={"timezone": timezone, "kiosk": KioskSettings(host="127.0.0.1", port=0)}
    )
    if fhir is not None:
        config = config.model_copy(update={"fhir": fhir})
    timeline = Timeline(console, zone=config.zone)
    console.rule("[bold]telemedroom demo[/]: a complete visit on one machine")
    timeline.line("setup", f"{config.name}, time zone {timezone}")
    async with BumbleBackend() as radio:
        # the devices' clocks say "a minute ago"; their readings carry that time
        measured = datetime.now(config.zone).replace(second=0, microsecond=0) - timedelta(minutes=1)
        devices = virtual_devices(config.zone, list(config.devices), at=measured)
        for device in devices:
            await radio.add(device)
        timeline.line("setup", f"{len(config.devices)} virtual devices on an in-memory Bluetooth radio")
        async with Room(config, ble_backend=radio) as room:
            timeline.line("setup", f"room open: data in {folder}, signaling at {room.signaling_url}")
            # a short slot: the next walk-in (--serve) can start a few minutes later
            appointment = await room.book_walk_in(PATIENT, minutes=5)
            start = appointment.slot.start.astimezone(config.zone)
            timeline.line(
                "schedule",
                f"walk-in booked at {start:%H:%M} with the on-call physician; "
                f"booking code {appointment.booking_code}",
                "cyan",
            )
            done = asyncio.Event()
            events = room.events()  # subscribed now, before the visit begins
            rendering = asyncio.create_task(_render(events, timeline, done))
            timeline.line("kiosk", "the patient types the booking code", "cyan")
            visit = asyncio.create_task(room.run_visit(appointment.booking_code))
            doctor = asyncio.create_task(physician(room, appointment, timeline))
            try:
                await asyncio.wait({visit, doctor}, return_when=asyncio.FIRST_EXCEPTION)
                for task in (doctor, visit):  # the first failure is the one to report
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                summary = visit.result()
                async with asyncio.timeout(10):
                    await done.wait()
            finally:
                timeline.close()
                for task in (visit, doctor, rendering):
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            drained = await room.drain_outbox()
            where = config.fhir.base_url or fhir_dir(config)
            timeline.line("record", f"outbox drained: {drained.sent} bundle(s) to {where}")
            if drained.rejected:
                show_rejections(console, drained)
                raise RecordRejectedError(dict(drained.reasons))
            result = _result(summary, folder, config)
            show_summary(console, result, config)
            if serve is not None:
                top_up(devices, config.zone, datetime.now(config.zone).replace(second=0, microsecond=0))
                await serve(room, console)
    return result


def show_rejections(console: Console, drained: DrainResult) -> None:
    """Each record the server refused, in red, with its OperationOutcome text."""
    for row in drained.rejected:
        console.print(Text(f"record rejected by the FHIR server (outbox row {row}):", style="bold red"))
        console.print(Text(f"  {drained.reasons.get(row, '')}", style="red"))
        for issue in drained.issues.get(row, ()):
            where = f" at {', '.join(issue.expression)}" if issue.expression else ""
            console.print(
                Text(f"  {issue.severity} {issue.code}{where}: {issue.diagnostics or ''}", style="red")
            )
    console.print(
        "the record is kept in the outbox: fix the cause, then `telemedroom outbox requeue` "
        "and `telemedroom outbox drain`"
    )


def _result(summary: VisitSummary, folder: Path, config: RoomConfig) -> DemoResult:
    log = AuditLog.from_entries(AuditLog.read_entries(folder / "audit.jsonl"))
    log.verify(head=summary.audit_head or None)  # AuditIntegrityError: exit code 1
    return DemoResult(
        summary=summary,
        data_dir=folder,
        fhir_files=ndjson_counts(fhir_dir(config)),
        audit_entries=len(log),
        audit_head=log.head,
    )


def show_summary(console: Console, result: DemoResult, config: RoomConfig) -> None:
    """The readings table, the FHIR files, the audit verdict."""
    summary = result.summary
    console.rule("[bold]summary")
    readings = Table(title=f"Readings of visit {summary.visit_id[:8]}", title_justify="left")
    for column in ("reading", "value", "measured at", "device"):
        readings.add_column(column)
    for reading in summary.measurements:
        when = reading.measured_at.astimezone(config.zone) if reading.measured_at else None
        device = reading.device
        readings.add_row(
            type(reading).__name__,
            summary_of(reading),
            f"{when:%Y-%m-%d %H:%M %Z}" if when else "—",
            f"{device.manufacturer} {device.model}" if device and device.model else "—",
        )
    console.print(readings)
    if summary.skipped:
        console.print(f"skipped (no reading): {', '.join(summary.skipped)}")
    seconds = (summary.ended - summary.started).total_seconds()
    console.print(
        f"Encounter {summary.encounter_id}: {summary.observations} Observation(s), "
        f"{summary.media} Media, {seconds:.1f} s from check-in to wrap-up"
    )
    if config.fhir.base_url is not None:
        console.print(f"FHIR: the record is on {config.fhir.base_url} (server profile {config.fhir.server})")
    else:
        files = ", ".join(f"{name} ({n})" for name, n in result.fhir_files.items())
        console.print(f"FHIR (NDJSON): {fhir_dir(config)}: {files}")
    console.print(
        f"[green]audit chain verified[/]: {result.audit_entries} entries in "
        f"{result.data_dir / 'audit.jsonl'}, head {result.audit_head[:16]}…"
    )


async def serve_on(room: Room, console: Console) -> None:
    """After the scripted visit: book another slot and serve the room for a person to play in."""
    appointment = await room.book_walk_in(PATIENT)
    start = appointment.slot.start.astimezone(room.config.zone)
    console.rule("[bold]your turn")
    await serve_room(
        room,
        console,
        Timeline(console, zone=room.config.zone),
        extra=[
            f"booking code:       {appointment.booking_code} (the {start:%H:%M} appointment)",
            f"physician console:  {console_link(room, appointment.id)}",
        ],
    )
