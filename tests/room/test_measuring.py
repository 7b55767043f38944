"""Guided measuring: device by device, a failed try is retried, a device that never answers is skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.room.conftest import devices_for, make_config

from telemedroom.room import DeviceStep, Room, RoomEvent, RoomState
from telemedroom.testing import BumbleBackend


def steps(events: list[RoomEvent]) -> list[tuple[str, str, int]]:
    return [(e.device, e.status, e.attempt) for e in events if isinstance(e, DeviceStep)]


async def test_a_device_that_never_advertises_is_tried_three_times_then_skipped(data_dir: Path) -> None:
    config = make_config(data_dir, ["thermometer", "scale"], device_timeout_s=0.3)
    async with BumbleBackend() as radio:
        for device in devices_for(["scale"]):  # no thermometer in the room
            await radio.add(device)
        async with Room(config, ble_backend=radio) as room:
            events = room.events()
            appointment = await room.book_walk_in("pat-1")
            await room.check_in(appointment.booking_code)
            readings = await room.measure()
            assert room.skipped == ["thermometer"]
            seen = []
            while not (seen and seen[-1].type == "state" and seen[-1].state is RoomState.WAITING):
                seen.append(await anext(events))
    thermometer = [s for s in steps(seen) if s[0] == "thermometer"]
    assert [s for s in thermometer if s[1] in ("failed", "skipped")] == [
        ("thermometer", "failed", 1),
        ("thermometer", "failed", 2),
        ("thermometer", "failed", 3),
        ("thermometer", "skipped", 3),
    ]
    assert [type(r).__name__ for r in readings] == ["BodyWeight"]
    errors = [e for e in seen if e.type == "error"]
    assert len(errors) == 3
    assert all(e.state is RoomState.MEASURING for e in errors)
    # the scale still came after the skipped thermometer, as the configured order says
    assert ("scale", "done", 1) in steps(seen)


async def test_a_failed_try_is_retried_and_the_second_try_succeeds(data_dir: Path) -> None:
    config = make_config(data_dir, ["blood_pressure"], device_timeout_s=0.3)
    async with BumbleBackend() as radio, Room(config, ble_backend=radio) as room:
        events = room.events()
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        measuring = asyncio.ensure_future(room.measure())
        seen: list[RoomEvent] = []
        # the cuff is switched on only once the first try has failed
        while not (seen and isinstance(seen[-1], DeviceStep) and seen[-1].status == "failed"):
            seen.append(await anext(events))
        for device in devices_for(["blood_pressure"]):
            await radio.add(device)
        readings = await measuring
        while not (seen[-1].type == "state" and seen[-1].state is RoomState.WAITING):
            seen.append(await anext(events))
    assert [s for s in steps(seen) if s[1] in ("failed", "done", "skipped")] == [
        ("blood_pressure", "failed", 1),
        ("blood_pressure", "done", 2),
    ]
    assert len(readings) == 1
    reading_events = [e for e in seen if e.type == "reading"]
    assert [e.summary for e in reading_events] == ["128/82 mmHg"]
    assert reading_events[0].measurement["systolic"] == 128


async def test_a_glucometer_gives_its_stored_records(data_dir: Path) -> None:
    async with BumbleBackend() as radio:
        for device in devices_for(["glucometer"]):
            await radio.add(device)
        async with Room(make_config(data_dir, ["glucometer"]), ble_backend=radio) as room:
            appointment = await room.book_walk_in("pat-1")
            await room.check_in(appointment.booking_code)
            (record,) = await room.measure()
    assert type(record).__name__ == "BloodGlucose"
    assert record.sequence_number == 42  # type: ignore[attr-defined]
