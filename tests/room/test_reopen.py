"""An aborted visit gives its appointment back: booked again, the reason audited, the same code works.

On both schedule stores the room opens itself from its configuration: SQLite in the
data dir, and PostgreSQL on a real throwaway server (tests/scheduling/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.room.conftest import make_config
from tests.scheduling.conftest import postgres_dsn, postgres_server  # noqa: F401 (fixtures)

from telemedroom.room import Room, RoomState, ScheduleSettings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.requires_system)])
def schedule(request: pytest.FixtureRequest) -> ScheduleSettings:
    if request.param == "sqlite":
        return ScheduleSettings()  # sqlite:/// in the data dir
    return ScheduleSettings(store=request.getfixturevalue("postgres_dsn"))


async def test_an_aborted_visit_books_its_appointment_again(
    data_dir: Path, schedule: ScheduleSettings
) -> None:
    async with Room(make_config(data_dir, [], schedule=schedule)) as room:
        assert room.scheduler is not None
        appointment = await room.book_walk_in("pat-abort", minutes=20)
        await room.check_in(appointment.booking_code)
        await room.measure()  # no devices: straight to the waiting room
        assert room.state is RoomState.WAITING
        assert (await room.scheduler.get(appointment.id)).status == "checked-in"

        await room.abort("patient left")
        assert room.state is RoomState.IDLE
        assert (await room.scheduler.get(appointment.id)).status == "booked"
        assert room.audit is not None
        aborted, reopened = list(room.audit)[-2:]
        assert (aborted.action.value, aborted.detail) == ("aborted", {"reason": "patient left"})
        assert reopened.action.value == "appointment_reopened"
        assert reopened.appointment == appointment.id
        assert reopened.detail == {"reason": "patient left", "status": "booked"}

        # the same booking code checks the patient in again
        visit = await room.check_in(appointment.booking_code)
        assert visit.appointment_id == appointment.id
        assert room.state is RoomState.CHECKED_IN


async def test_an_appointment_that_moved_on_meanwhile_is_left_and_that_is_audited(data_dir: Path) -> None:
    """The appointment was moved on elsewhere (here: completed) before the abort: it stays, audited."""
    async with Room(make_config(data_dir, [])) as room:
        assert room.scheduler is not None
        appointment = await room.book_walk_in("pat-abort", minutes=20)
        await room.check_in(appointment.booking_code)
        await room.scheduler.complete(appointment.id)  # e.g. a clinic system closed it
        await room.abort("visit interrupted")
        assert room.state is RoomState.IDLE
        assert (await room.scheduler.get(appointment.id)).status == "fulfilled"
        assert room.audit is not None
        last = list(room.audit)[-1]
        assert last.action.value == "appointment_reopened"
        assert last.detail == {
            "reason": "visit interrupted",
            "status": "unchanged",
            "error": "InvalidTransition",
        }
