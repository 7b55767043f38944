"""The demo's timeline: one formatter per room event, every event type covered."""

from __future__ import annotations

import io
import typing
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from rich.console import Console

from telemedroom._cli._timeline import _FORMAT, Timeline
from telemedroom.room import CleaningStarted, DeviceStep, RoomEvent, RoomState, StateChanged


def _members() -> set[type]:
    union = typing.get_args(RoomEvent)[0]  # Annotated[Union[...], discriminator]
    return set(typing.get_args(union))


def test_every_event_type_has_a_formatter() -> None:
    assert _members() == set(_FORMAT)


def _lines(*events: object, zone: ZoneInfo | None = None) -> list[str]:
    console = Console(width=120, record=True, file=io.StringIO())
    timeline = Timeline(console, zone=zone or ZoneInfo("UTC"), started=0.0, clock=lambda: 2.0)
    for event in events:
        timeline.event(event)  # type: ignore[arg-type]
    return console.export_text().splitlines()


def test_lines_carry_elapsed_time_label_and_text() -> None:
    [line] = _lines(StateChanged(state=RoomState.WAITING, previous=RoomState.MEASURING, visit_id="v"))
    assert line == "  +2.0s room      state waiting"


def test_device_progress_shows_outcomes_not_every_status() -> None:
    step = {"device": "blood_pressure", "instruction": "put_on_cuff", "index": 0, "total": 3}
    lines = _lines(
        DeviceStep(status="waiting", attempt=1, **step),
        DeviceStep(status="connecting", attempt=1, **step),
        DeviceStep(status="measuring", attempt=1, **step),
        DeviceStep(status="failed", attempt=1, detail="no reading in time", **step),
        DeviceStep(status="connecting", attempt=2, **step),
        DeviceStep(status="done", attempt=2, **step),
    )
    assert lines == [
        "  +2.0s device    [1/3] blood pressure: connecting (put_on_cuff)",
        "  +2.0s device    [1/3] blood pressure: failed (put_on_cuff): no reading in time",
        "  +2.0s device    [1/3] blood pressure: connecting, attempt 2 (put_on_cuff)",
        "  +2.0s device    [1/3] blood pressure: done, attempt 2 (put_on_cuff)",
    ]


def test_times_are_shown_in_the_rooms_zone() -> None:
    until = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    [line] = _lines(CleaningStarted(until=until), zone=ZoneInfo("Europe/Berlin"))
    assert line.endswith("cleaning buffer until 11:30:00 CET")
