"""The store seam: one suite, run against SqliteStore and a real PostgreSQL server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemedroom import errors
from telemedroom.scheduling import (
    Appointment,
    Hold,
    PostgresStore,
    Scheduler,
    ScheduleStore,
    Slot,
    SqliteStore,
)

from .conftest import GP, RESOURCES, FakeClock, make_store

BERLIN_9 = datetime(2026, 3, 2, 8, tzinfo=UTC)  # Monday 09:00 CET


def slot_at(minutes: int, resources: tuple[str, ...] = ("room-1", "dr-a")) -> Slot:
    start = BERLIN_9 + timedelta(minutes=minutes)
    return Slot(
        service_id=GP.id,
        start=start,
        end=start + GP.duration,
        resource_ids=resources,
        buffer_after=GP.buffer_after,
    )


@pytest.fixture
def scheduler(store: ScheduleStore, clock: FakeClock) -> Scheduler:
    return Scheduler(store, RESOURCES, clock=clock)


async def test_hold_then_book_consumes_the_hold(scheduler: Scheduler, store: ScheduleStore) -> None:
    hold = await scheduler.hold(slot_at(0), timedelta(minutes=5))
    assert [h.id for h in await store.holds(now=scheduler.clock())] == [hold.id]
    booked = await scheduler.book(hold, "pat-1", idempotency_key="k1")
    assert booked.status == "booked"
    assert booked.slot == hold.slot
    assert await store.holds(now=scheduler.clock()) == []
    assert await store.get(booked.id) == booked
    assert await store.by_code(booked.booking_code) == booked


async def test_second_booking_of_a_resource_is_refused(scheduler: Scheduler) -> None:
    await scheduler.book(slot_at(0), "pat-1", idempotency_key="k1")
    # same room, another practitioner, overlapping by the 5-minute cleaning buffer
    with pytest.raises(errors.SlotUnavailable) as info:
        await scheduler.book(slot_at(20, ("room-1", "dr-b")), "pat-2", idempotency_key="k2")
    assert info.value.resource_ids == ("room-1",)
    assert info.value.slot == slot_at(20, ("room-1", "dr-b"))
    # after the buffer the room is free again
    await scheduler.book(slot_at(25, ("room-1", "dr-b")), "pat-2", idempotency_key="k3")


async def test_a_live_hold_blocks_and_a_lapsed_one_does_not(
    scheduler: Scheduler, store: ScheduleStore, clock: FakeClock
) -> None:
    hold = await scheduler.hold(slot_at(0), timedelta(minutes=5))
    with pytest.raises(errors.SlotUnavailable):
        await scheduler.book(slot_at(0), "pat-2", idempotency_key="k2")
    with pytest.raises(errors.SlotUnavailable):
        await scheduler.hold(slot_at(0, ("room-1", "dr-b")))
    clock.advance(timedelta(minutes=5))
    assert await store.holds(now=clock()) == []
    assert await store.busy(["room-1", "dr-a"], BERLIN_9, BERLIN_9 + timedelta(hours=1), now=clock()) == []
    other = await scheduler.book(slot_at(0), "pat-2", idempotency_key="k2")
    with pytest.raises(errors.HoldExpired) as info:
        await scheduler.book(hold, "pat-1", idempotency_key="k1")
    assert info.value.hold_id == hold.id
    assert info.value.expires_at == hold.expires_at
    assert [a.id for a in await store.appointments()] == [other.id]


async def test_a_released_or_used_hold_cannot_be_booked(scheduler: Scheduler) -> None:
    hold = await scheduler.hold(slot_at(0))
    await scheduler.release(hold)
    with pytest.raises(errors.HoldExpired) as info:
        await scheduler.book(hold, "pat-1", idempotency_key="k1")
    assert info.value.expires_at is None
    hold = await scheduler.hold(slot_at(0))
    booked = await scheduler.book(hold, "pat-1", idempotency_key="k1")
    with pytest.raises(errors.HoldExpired):
        await scheduler.book(hold, "pat-2", idempotency_key="k2")
    # the client's retry of the same request gets its appointment back
    used = await scheduler.store.get_hold(hold.id)
    assert used == hold
    assert await scheduler.book(used, "pat-1", idempotency_key="k1") == booked
    with pytest.raises(errors.HoldExpired):
        await scheduler.store.get_hold("never-existed")


async def test_repeated_book_with_one_key_returns_the_same_appointment(
    scheduler: Scheduler, store: ScheduleStore
) -> None:
    first = await scheduler.book(slot_at(0), "pat-1", idempotency_key="retry-me")
    again = await scheduler.book(slot_at(0), "pat-1", idempotency_key="retry-me")
    assert again == first
    assert len(await store.appointments()) == 1
    with pytest.raises(errors.IdempotencyKeyReused) as info:
        await scheduler.book(slot_at(60), "pat-1", idempotency_key="retry-me")
    assert (info.value.key, info.value.appointment_id) == ("retry-me", first.id)


async def test_status_follows_the_fhir_workflow(scheduler: Scheduler) -> None:
    booked = await scheduler.book(slot_at(0), "pat-1", idempotency_key="k1")
    checked_in = await scheduler.check_in(booked.booking_code.lower().replace("-", " "))
    assert (checked_in.id, checked_in.status) == (booked.id, "checked-in")
    with pytest.raises(errors.InvalidTransition) as info:
        await scheduler.cancel(booked)
    assert (info.value.appointment_id, info.value.from_status, info.value.to_status) == (
        booked.id,
        "checked-in",
        "cancelled",
    )
    assert (await scheduler.complete(booked.id)).status == "fulfilled"
    assert (await scheduler.get(booked.id)).status == "fulfilled"
    other = await scheduler.book(slot_at(30), "pat-2", idempotency_key="k2")
    assert (await scheduler.mark_no_show(other)).status == "noshow"
    with pytest.raises(errors.InvalidTransition):
        await scheduler.check_in(other.booking_code)


async def test_a_visit_that_did_not_take_place_reopens_its_appointment(
    scheduler: Scheduler, store: ScheduleStore
) -> None:
    """checked-in (or arrived) -> booked, on both stores: the same code checks in again."""
    booked = await scheduler.book(slot_at(0), "pat-1", idempotency_key="k1")
    await scheduler.check_in(booked.booking_code)
    reopened = await scheduler.reopen(booked.id)
    assert (reopened.id, reopened.status, reopened.booking_code) == (booked.id, "booked", booked.booking_code)
    assert (await store.by_code(booked.booking_code)).status == "booked"
    # the slot stayed blocked throughout: nobody else got it in between
    with pytest.raises(errors.SlotUnavailable):
        await scheduler.book(slot_at(0), "pat-2", idempotency_key="k2")
    assert (await scheduler.check_in(booked.booking_code)).status == "checked-in"
    assert (await store.transition(booked.id, "arrived", now=scheduler.clock())).status == "arrived"
    assert (await scheduler.reopen(booked)).status == "booked"
    # only a visit in progress can be reopened
    with pytest.raises(errors.InvalidTransition) as info:
        await scheduler.reopen(booked)
    assert (info.value.from_status, info.value.to_status) == ("booked", "booked")
    await scheduler.check_in(booked.booking_code)
    await scheduler.complete(booked)
    with pytest.raises(errors.InvalidTransition):
        await scheduler.reopen(booked)
    assert (await store.get(booked.id)).status == "fulfilled"


async def test_cancel_frees_the_resources(scheduler: Scheduler) -> None:
    booked = await scheduler.book(slot_at(0), "pat-1", idempotency_key="k1")
    assert (await scheduler.cancel(booked)).status == "cancelled"
    with pytest.raises(errors.InvalidTransition):
        await scheduler.cancel(booked)
    again = await scheduler.book(slot_at(0), "pat-2", idempotency_key="k2")
    assert again.id != booked.id


async def test_unknown_codes_and_ids_are_typed_errors(scheduler: Scheduler) -> None:
    with pytest.raises(errors.UnknownBookingCode) as info:
        await scheduler.check_in("acef-ghjk")
    assert info.value.code == "ACEF-GHJK"
    with pytest.raises(errors.UnknownAppointment) as missing:
        await scheduler.cancel("nope")
    assert missing.value.appointment_id == "nope"


async def test_reschedule_takes_the_new_slot_before_releasing_the_old(
    scheduler: Scheduler, store: ScheduleStore
) -> None:
    mine = await scheduler.book(slot_at(0), "pat-1", idempotency_key="k1")
    theirs = await scheduler.book(slot_at(60), "pat-2", idempotency_key="k2")
    with pytest.raises(errors.SlotUnavailable):
        await scheduler.reschedule(mine, slot_at(60))
    assert (await store.get(mine.id)).status == "booked"  # nothing changed
    # moving by ten minutes overlaps only with itself, which is allowed
    moved = await scheduler.reschedule(mine, slot_at(10))
    assert (moved.status, moved.rescheduled_from, moved.patient) == ("booked", mine.id, "pat-1")
    assert (await store.get(mine.id)).status == "cancelled"
    assert {a.id for a in await store.appointments() if a.blocks_resources} == {moved.id, theirs.id}
    with pytest.raises(errors.InvalidTransition):
        await scheduler.reschedule(mine, slot_at(120))


async def test_busy_and_appointment_queries(scheduler: Scheduler, store: ScheduleStore) -> None:
    a = await scheduler.book(slot_at(0), "pat-1", idempotency_key="k1")
    b = await scheduler.book(slot_at(0, ("room-2", "dr-b")), "pat-2", idempotency_key="k2")
    busy = await store.busy(["room-1"], BERLIN_9, BERLIN_9 + timedelta(hours=3), now=scheduler.clock())
    assert [(x.resource_id, x.start, x.end) for x in busy] == [
        ("room-1", BERLIN_9, BERLIN_9 + timedelta(minutes=25))
    ]
    assert [x.id for x in await store.appointments(resource_id="dr-b")] == [b.id]
    assert {x.id for x in await store.appointments(start=BERLIN_9, end=BERLIN_9 + timedelta(minutes=1))} == {
        a.id,
        b.id,
    }
    assert await store.appointments(start=BERLIN_9 + timedelta(minutes=20)) == []


async def test_a_colliding_booking_code_is_redrawn(store: ScheduleStore, clock: FakeClock) -> None:
    base = Appointment(
        id="a1",
        slot=slot_at(0),
        patient="pat-1",
        status="booked",
        booking_code="ACEF-GHJK",
        created_at=clock(),
    )
    first = await store.book(base, hold_id=None, now=clock())
    second = await store.book(
        replace(base, id="a2", slot=slot_at(60), idempotency_key=None), hold_id=None, now=clock()
    )
    assert first.booking_code == "ACEF-GHJK"
    assert second.booking_code != "ACEF-GHJK"
    assert (await store.by_code(second.booking_code)).id == "a2"


async def test_data_survives_reopening_and_migrations_run_once(
    store_kind: str, store_url: str, clock: FakeClock
) -> None:
    async with make_store(store_kind, store_url) as store:
        booked = await Scheduler(store, RESOURCES, clock=clock).book(slot_at(0), "pat-1", idempotency_key="k")
        hold = await store.add_hold(
            Hold(id="h1", slot=slot_at(60), created_at=clock(), expires_at=clock() + timedelta(hours=1)),
            now=clock(),
        )
    async with make_store(store_kind, store_url) as store:
        assert await store.get(booked.id) == booked
        assert await store.holds(now=clock()) == [hold]
        if isinstance(store, PostgresStore):
            assert await store.schema_version() == 1


async def test_a_newer_schema_is_refused(store_kind: str, store_url: str) -> None:
    async with make_store(store_kind, store_url):
        pass
    if store_kind == "sqlite":
        import sqlite3

        with sqlite3.connect(store_url) as db:
            db.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    else:
        import asyncpg

        conn = await asyncpg.connect(store_url)
        await conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
        await conn.close()
    with pytest.raises(errors.ScheduleStoreError) as info:
        async with make_store(store_kind, store_url):
            pass
    assert "schema version 99" in str(info.value)
    assert info.value.store == store_kind


async def test_a_closed_store_says_so() -> None:
    store = SqliteStore(":memory:")
    with pytest.raises(errors.ScheduleStoreError, match="not open"):
        await store.appointments()
    with pytest.raises(errors.ScheduleStoreError, match="not open"):
        await PostgresStore("postgresql://nobody@/x").get("a")


async def test_an_unreachable_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ScheduleStoreError) as info:
        async with PostgresStore(f"postgresql://nobody@/x?host={tmp_path}"):
            pass
    assert info.value.store == "postgres"
    assert info.value.__cause__ is not None
    with pytest.raises(errors.ScheduleStoreError, match="directory does not exist"):
        async with SqliteStore(tmp_path / "missing-dir" / "x.db"):
            pass
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(errors.ScheduleStoreError, match="cannot open") as info:
        async with SqliteStore(tmp_path / "a-directory.db"):
            pass
    assert info.value.__cause__ is not None
