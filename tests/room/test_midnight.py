"""The room's own schedule is open around the clock: a walk-in may cross midnight.

The process's clock is moved with time-machine (the room, its scheduler, its tokens
and its journal all read the real clock) to ten minutes to midnight, and ticks on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from tests.room.conftest import make_config

from telemedroom.room import Room, RoomState

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    "late",
    [
        datetime(2026, 12, 3, 23, 50, tzinfo=BERLIN),
        datetime(2026, 12, 31, 23, 50, tzinfo=BERLIN),  # and into a new year
        datetime(2026, 3, 28, 23, 50, tzinfo=BERLIN),  # the evening before the clocks spring forward
    ],
    ids=["any-night", "new-years-eve", "before-dst"],
)
async def test_a_walk_in_at_ten_to_midnight_starts_now_and_checks_in(data_dir: Path, late: datetime) -> None:
    with time_machine.travel(late, tick=True):  # ticking: nothing waits on a frozen clock
        async with Room(make_config(data_dir, []), clock=lambda: datetime.now(BERLIN)) as room:
            appointment = await room.book_walk_in("pat-late", minutes=20)
            start = appointment.slot.start.astimezone(BERLIN)
            assert late < start <= late + timedelta(minutes=2)  # the next whole minute, before midnight
            assert appointment.slot.end == start + timedelta(minutes=20)
            assert appointment.slot.end.astimezone(BERLIN).date() == late.date() + timedelta(days=1)
            await room.check_in(appointment.booking_code)
            assert room.state is RoomState.CHECKED_IN
