"""Random sequences of hold/book/cancel/reschedule/expire never double-book and never lose a booking.

A hypothesis state machine drives a real Scheduler on each store and keeps a plain
model of what must be there. After every step it checks, on the store's own data:

- no resource is blocked twice at any instant (live holds and blocking appointments);
- every booking the model made is stored with the status the model expects, and the
  store holds nothing else;
- each operation succeeded exactly when the model said the slot was free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations, product
from typing import Any, TypeVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from telemedroom import errors
from telemedroom.scheduling import Appointment, Hold, Scheduler, ScheduleStore, Slot

from .conftest import GP, RESOURCES, FakeClock, PostgresServer, make_store

T = TypeVar("T")

OPEN = datetime(2026, 3, 2, 8, tzinfo=UTC)  # Monday 09:00 in Berlin
PAIRS = list(product(["room-1", "room-2"], ["dr-a", "dr-b"]))
SLOTS = [
    Slot(
        service_id=GP.id,
        start=OPEN + timedelta(minutes=m),
        end=OPEN + timedelta(minutes=m + 20),
        resource_ids=pair,
        buffer_after=GP.buffer_after,
    )
    for m, pair in product([0, 10, 20, 45], PAIRS)
]


def overlaps(a: Slot, b: Slot) -> bool:
    return (
        bool(set(a.resource_ids) & set(b.resource_ids))
        and a.blocked_start < b.blocked_end
        and b.blocked_start < a.blocked_end
    )


@dataclass
class ModelHold:
    hold: Hold
    expires_at: datetime


class BookingMachine(RuleBasedStateMachine):
    """The model: live holds and appointments with their statuses."""

    store_kind = "sqlite"
    store_url = ":memory:"

    holds = Bundle("holds")
    appointments = Bundle("appointments")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
        self.store: ScheduleStore = make_store(self.store_kind, self.store_url)
        self.run(self._reset())
        self.run(self.store.open())
        self.scheduler = Scheduler(self.store, RESOURCES, clock=self.clock)
        self.model_holds: dict[str, ModelHold] = {}
        self.model_appointments: dict[str, Appointment] = {}
        self.keys = 0

    async def _reset(self) -> None:
        if self.store_kind == "postgres":
            import asyncpg

            conn = await asyncpg.connect(self.store_url)
            try:
                exists = await conn.fetchval("SELECT to_regclass('claims') IS NOT NULL")
                if exists:
                    await conn.execute("TRUNCATE claims, holds, appointments")
            finally:
                await conn.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.store.aclose())
        finally:
            self.loop.close()

    # -- the model's view of what blocks what -----------------------------------------------

    def live_holds(self) -> dict[str, ModelHold]:
        return {k: h for k, h in self.model_holds.items() if h.expires_at > self.clock()}

    def is_free(self, slot: Slot, *, ignore: str | None = None) -> bool:
        blockers = [h.hold.slot for k, h in self.live_holds().items() if k != ignore]
        blockers += [a.slot for k, a in self.model_appointments.items() if a.blocks_resources and k != ignore]
        return not any(overlaps(slot, other) for other in blockers)

    def next_key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    # -- rules -----------------------------------------------------------------------------------

    @rule(target=holds, slot=st.sampled_from(SLOTS), ttl=st.integers(1, 10))
    def hold(self, slot: Slot, ttl: int) -> Hold | None:
        expected = self.is_free(slot)
        try:
            held = self.run(self.scheduler.hold(slot, timedelta(minutes=ttl)))
        except errors.SlotUnavailable:
            assert not expected, "a free slot was refused"
            event("hold refused")
            return None
        assert expected, "a taken slot was held"
        event("hold placed")
        self.model_holds[held.id] = ModelHold(held, held.expires_at)
        return held

    @rule(target=appointments, slot=st.sampled_from(SLOTS), patient=st.sampled_from(["pat-1", "pat-2"]))
    def book_slot(self, slot: Slot, patient: str) -> Appointment | None:
        expected = self.is_free(slot)
        try:
            booked = self.run(self.scheduler.book(slot, patient, idempotency_key=self.next_key()))
        except errors.SlotUnavailable:
            assert not expected, "a free slot was refused"
            event("booking refused")
            return None
        assert expected, "a taken slot was booked"
        event("booked")
        self.model_appointments[booked.id] = booked
        return booked

    @rule(target=appointments, held=consumes(holds))
    def book_hold(self, held: Hold | None) -> Appointment | None:
        if held is None:
            return None
        live = held.id in self.live_holds()
        try:
            booked = self.run(self.scheduler.book(held, "pat-3", idempotency_key=self.next_key()))
        except errors.HoldExpired:
            assert not live, "a live hold was reported expired"
            event("hold expired")
            self.model_holds.pop(held.id, None)
            return None
        assert live, "a lapsed hold was booked"
        del self.model_holds[held.id]
        self.model_appointments[booked.id] = booked
        return booked

    @rule(held=consumes(holds))
    def release(self, held: Hold | None) -> None:
        if held is not None:
            self.run(self.scheduler.release(held))
            self.model_holds.pop(held.id, None)

    @rule(appointment=appointments)
    def repeat_booking(self, appointment: Appointment | None) -> None:
        if appointment is None or appointment.idempotency_key is None:
            return
        again = self.run(
            self.scheduler.book(
                appointment.slot, appointment.patient, idempotency_key=appointment.idempotency_key
            )
        )
        assert again.id == appointment.id

    @rule(appointment=appointments)
    def cancel(self, appointment: Appointment | None) -> None:
        if appointment is None:
            return
        current = self.model_appointments[appointment.id]
        try:
            cancelled = self.run(self.scheduler.cancel(appointment))
        except errors.InvalidTransition as exc:
            assert exc.from_status == current.status
            assert current.status in {"cancelled", "checked-in", "fulfilled"}
            return
        assert current.status == "booked"
        self.model_appointments[appointment.id] = cancelled

    @rule(appointment=appointments)
    def check_in(self, appointment: Appointment | None) -> None:
        if appointment is None:
            return
        current = self.model_appointments[appointment.id]
        try:
            checked = self.run(self.scheduler.check_in(appointment.booking_code))
        except errors.InvalidTransition:
            assert current.status != "booked"
            return
        assert current.status == "booked"
        self.model_appointments[appointment.id] = checked

    @rule(target=appointments, appointment=appointments, slot=st.sampled_from(SLOTS))
    def reschedule(self, appointment: Appointment | None, slot: Slot) -> Appointment | None:
        if appointment is None:
            return None
        current = self.model_appointments[appointment.id]
        expected_free = self.is_free(slot, ignore=appointment.id)
        try:
            moved = self.run(self.scheduler.reschedule(appointment, slot))
        except errors.InvalidTransition:
            assert current.status != "booked"
            return None
        except errors.SlotUnavailable:
            assert current.status == "booked"
            assert not expected_free, "a free slot was refused"
            return None
        assert current.status == "booked"
        assert expected_free, "a taken slot was rescheduled into"
        event("rescheduled")
        self.model_appointments[appointment.id] = Appointment(**{**_fields(current), "status": "cancelled"})
        self.model_appointments[moved.id] = moved
        return moved

    @rule(minutes=st.integers(1, 8))
    def expire(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def nothing_is_double_booked(self) -> None:
        stored = self.run(self.store.appointments())
        live = self.run(self.store.holds(now=self.clock()))
        blocking = [a.slot for a in stored if a.blocks_resources] + [h.slot for h in live]
        for a, b in combinations(blocking, 2):
            assert not overlaps(a, b), f"double booking: {a} and {b}"
        # and the store's busy view agrees with its rows
        busy = self.run(
            self.store.busy(
                ["room-1", "room-2", "dr-a", "dr-b"], OPEN, OPEN + timedelta(hours=3), now=self.clock()
            )
        )
        assert len(busy) == sum(len(s.resource_ids) for s in blocking)

    @invariant()
    def no_booking_is_lost(self) -> None:
        stored = {a.id: a for a in self.run(self.store.appointments())}
        assert stored == self.model_appointments
        live = {h.id for h in self.run(self.store.holds(now=self.clock()))}
        assert live == set(self.live_holds())


def _fields(appointment: Appointment) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(appointment, f.name) for f in fields(appointment)}


def _budget(examples: int) -> settings:
    current = settings()
    return settings(current, max_examples=min(current.max_examples, examples), stateful_step_count=25)


def test_sqlite_store_never_double_books() -> None:
    run_state_machine_as_test(BookingMachine, settings=_budget(100))


@pytest.mark.requires_system
def test_postgres_store_never_double_books(postgres_server: PostgresServer) -> None:
    class PostgresMachine(BookingMachine):
        store_kind = "postgres"
        store_url = postgres_server.create_database()

    run_state_machine_as_test(PostgresMachine, settings=_budget(25))
