"""Scheduler: slot search over rules, bookings, qualifications, buffers; join tokens through a hook."""

from __future__ import annotations

import ast
import hashlib
import hmac
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import telemedroom.scheduling
from telemedroom import errors
from telemedroom.scheduling import (
    Closure,
    ParticipantRole,
    Requirement,
    Resource,
    Scheduler,
    ScheduleStore,
    Service,
    Slot,
)

from .conftest import DR_A, GP, MONDAY, RESOURCES, ROOM, ROOM_2, FakeClock

BERLIN = ZoneInfo("Europe/Berlin")
NEURO = Service(
    id="fp-30",
    name="Facial paralysis follow-up",
    duration=timedelta(minutes=30),
    buffer_before=timedelta(minutes=5),
    buffer_after=timedelta(minutes=10),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="neurology")),
)


@pytest.fixture
def scheduler(store: ScheduleStore, clock: FakeClock) -> Scheduler:
    return Scheduler(store, RESOURCES, clock=clock)


def local(slots: list[Slot]) -> list[str]:
    return [s.start.astimezone(BERLIN).strftime("%H:%M") for s in slots]


async def test_slots_fill_the_opening_back_to_back_with_buffers(scheduler: Scheduler) -> None:
    slots = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1))
    assert local(slots) == ["09:00", "09:25", "09:50", "10:15", "10:40", "11:05", "11:30"]
    assert {s.resource_ids for s in slots} == {("room-1", "dr-a")}
    assert all(
        s.end - s.start == timedelta(minutes=20) and s.buffer_after == timedelta(minutes=5) for s in slots
    )
    week = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=7))
    assert len(week) == 5 * 7  # Monday to Friday


async def test_a_booking_moves_the_next_patient_to_free_resources(scheduler: Scheduler) -> None:
    [first] = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=1)
    await scheduler.book(first, "pat-1", idempotency_key="k1")
    [again] = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=1)
    assert (again.start, again.resource_ids) == (first.start, ("room-2", "dr-b"))
    await scheduler.book(again, "pat-2", idempotency_key="k2")
    slots = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1))
    assert local(slots)[0] == "09:25"


async def test_qualifications_and_buffers_shape_the_offer(scheduler: Scheduler) -> None:
    slots = await scheduler.find_slots(NEURO, MONDAY, MONDAY + timedelta(days=1))
    # first start 5 min after opening (buffer before), every 45 min; the last one's cleaning ends at 12:00
    assert local(slots) == ["09:05", "09:50", "10:35", "11:20"]
    assert slots[-1].blocked_end.astimezone(BERLIN).strftime("%H:%M") == "12:00"
    assert {s.resource_ids[1] for s in slots} == {"dr-b"}
    assert slots[0].blocked_start.astimezone(BERLIN).strftime("%H:%M") == "09:00"


async def test_resources_can_be_chosen_and_must_be_distinct(scheduler: Scheduler) -> None:
    slots = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), resources=[ROOM_2, "dr-b"])
    assert {s.resource_ids for s in slots} == {("room-2", "dr-b")}
    two_doctors = Service(
        id="board",
        name="Tumour board",
        duration=timedelta(minutes=30),
        requires=(
            Requirement(kind="practitioner"),
            Requirement(kind="practitioner", qualification="general"),
        ),
    )
    [slot] = await scheduler.find_slots(two_doctors, MONDAY, MONDAY + timedelta(days=1), limit=1)
    assert slot.resource_ids == ("dr-a", "dr-b")
    assert await scheduler.find_slots(two_doctors, MONDAY, MONDAY + timedelta(days=1), resources=[DR_A]) == []


async def test_past_slots_are_not_offered(scheduler: Scheduler, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 2, 10, 30, tzinfo=BERLIN)
    slots = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1))
    assert local(slots) == ["10:40", "11:05", "11:30"]
    assert await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(hours=1)) == []
    past = Slot(
        service_id=GP.id,
        start=datetime(2026, 3, 2, 9, tzinfo=BERLIN),
        end=datetime(2026, 3, 2, 9, 20, tzinfo=BERLIN),
        resource_ids=("room-1",),
    )
    with pytest.raises(errors.SlotUnavailable, match="already begun"):
        await scheduler.hold(past)
    with pytest.raises(errors.SlotUnavailable, match="already begun"):
        await scheduler.book(past, "pat-1", idempotency_key="late")
    with pytest.raises(errors.SlotUnavailable, match="already begun"):
        await scheduler.reschedule("any", past)


async def test_closures_take_days_out(store: ScheduleStore, clock: FakeClock) -> None:
    closed_room = Resource(
        id="room-1",
        kind="room",
        name="Room 1",
        availability=ROOM.availability,
        closures=(Closure(start=date(2026, 3, 3), end=date(2026, 3, 3), reason="maintenance"),),
    )
    scheduler = Scheduler(store, [closed_room, DR_A], clock=clock)
    slots = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=3))
    assert sorted({s.start.astimezone(BERLIN).date() for s in slots}) == [date(2026, 3, 2), date(2026, 3, 4)]


async def test_bad_queries_are_typed_errors(scheduler: Scheduler) -> None:
    with pytest.raises(errors.NaiveDatetimeError) as naive:
        await scheduler.find_slots(GP, datetime(2026, 3, 2), MONDAY)
    assert naive.value.name == "start"
    with pytest.raises(errors.InvalidTimeRange):
        await scheduler.find_slots(GP, MONDAY, MONDAY)
    with pytest.raises(errors.InvalidScheduleData):
        await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=0)
    with pytest.raises(errors.SlotUnavailable) as unknown:
        await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), resources=["room-9"])
    assert unknown.value.resource_ids == ("room-9",)


async def test_slots_outside_availability_cannot_be_held_or_booked(scheduler: Scheduler) -> None:
    evening = Slot(
        service_id=GP.id,
        start=datetime(2026, 3, 2, 18, tzinfo=BERLIN),
        end=datetime(2026, 3, 2, 18, 20, tzinfo=BERLIN),
        resource_ids=("room-1", "dr-a"),
    )
    with pytest.raises(errors.SlotUnavailable) as info:
        await scheduler.book(evening, "pat-1", idempotency_key="k")
    assert info.value.resource_ids == ("room-1",)
    assert "availability" in info.value.reason
    with pytest.raises(errors.SlotUnavailable):
        await scheduler.hold(evening)
    with pytest.raises(errors.InvalidScheduleData):
        await scheduler.hold(
            (await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1)))[0], timedelta(0)
        )


class HmacIssuer:
    """A join-token signer like the session layer's (HMAC over the claims), for this test."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.calls: list[tuple[str, str, datetime, datetime]] = []

    async def __call__(
        self,
        *,
        appointment_id: str,
        participant: str,
        role: ParticipantRole,
        not_before: datetime,
        not_after: datetime,
    ) -> str:
        self.calls.append((participant, role, not_before, not_after))
        claims = f"{appointment_id}|{participant}|{role}|{not_before.isoformat()}|{not_after.isoformat()}"
        return f"{claims}.{hmac.new(self.key, claims.encode(), hashlib.sha256).hexdigest()}"


async def test_join_tokens_come_from_the_hook(store: ScheduleStore, clock: FakeClock) -> None:
    issuer = HmacIssuer(b"secret")
    scheduler = Scheduler(store, RESOURCES, clock=clock, join_tokens=issuer)
    [slot] = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=1)
    booked = await scheduler.book(slot, "pat-1", idempotency_key="k")
    tokens = await scheduler.issue_join_tokens(booked)
    assert set(tokens) == {"pat-1", "dr-a"}  # the room gets no token
    claims, signature = tokens["pat-1"].rsplit(".", 1)
    assert hmac.compare_digest(signature, hmac.new(b"secret", claims.encode(), hashlib.sha256).hexdigest())
    assert {(p, r) for p, r, _, _ in issuer.calls} == {("pat-1", "patient"), ("dr-a", "practitioner")}
    assert {(nb, na) for _, _, nb, na in issuer.calls} == {
        (slot.start - timedelta(minutes=15), slot.end + timedelta(minutes=30))
    }
    await scheduler.cancel(booked)
    with pytest.raises(errors.InvalidTransition):
        await scheduler.issue_join_tokens(booked.id)
    with pytest.raises(errors.SchedulingError, match="join-token issuer"):
        await Scheduler(store, RESOURCES, clock=clock).issue_join_tokens(booked)


def test_scheduling_does_not_import_the_session_layer() -> None:
    package = Path(telemedroom.scheduling.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("telemedroom.session"), source.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("telemedroom.session") for a in node.names), source.name


async def test_a_naive_clock_is_refused(store: ScheduleStore) -> None:
    scheduler = Scheduler(store, RESOURCES, clock=lambda: datetime(2026, 3, 1))
    with pytest.raises(errors.NaiveDatetimeError) as info:
        await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1))
    assert info.value.name == "clock()"
