"""32 clients race for one slot: exactly one Appointment, 31 SlotUnavailable, on each store.

Each client has its own store object and so its own database connection (SQLite: 32
connections to one file; PostgreSQL: 32 connections to the server), as 32 room
servers would.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta

from telemedroom import errors
from telemedroom.scheduling import Appointment, PostgresStore, Scheduler, SqliteStore

from .conftest import GP, MONDAY, RESOURCES, FakeClock, make_store

CLIENTS = 32


async def race(
    kind: str, url: str, clock: FakeClock, *, hold_first: bool
) -> list[Appointment | BaseException]:
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(make_store(kind, url)) for _ in range(CLIENTS)]
        schedulers = [Scheduler(store, RESOURCES, clock=clock) for store in stores]
        [slot] = await schedulers[0].find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=1)
        if hold_first:
            results = await asyncio.gather(*(s.hold(slot) for s in schedulers), return_exceptions=True)
        else:
            results = await asyncio.gather(
                *(s.book(slot, f"pat-{i}", idempotency_key=f"client-{i}") for i, s in enumerate(schedulers)),
                return_exceptions=True,
            )
        # what was stored agrees with what the clients were told
        stored = await stores[0].appointments()
        live = await stores[0].holds(now=clock())
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(stored) + len(live) == len(winners)
        return list(results)


def check(results: list[Appointment | BaseException]) -> None:
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == CLIENTS - 1
    for loser in losers:
        assert isinstance(loser, errors.SlotUnavailable), repr(loser)
        assert set(loser.resource_ids) == {"room-1", "dr-a"}


async def test_32_clients_race_to_book_one_slot(store_kind: str, store_url: str, clock: FakeClock) -> None:
    check(await race(store_kind, store_url, clock, hold_first=False))


async def test_32_clients_race_to_hold_one_slot(store_kind: str, store_url: str, clock: FakeClock) -> None:
    check(await race(store_kind, store_url, clock, hold_first=True))


async def test_retries_with_one_key_under_contention_return_one_appointment(
    store_kind: str, store_url: str, clock: FakeClock
) -> None:
    """A client retrying the same request on several servers at once gets one booking."""
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(make_store(store_kind, store_url)) for _ in range(8)]
        schedulers = [Scheduler(store, RESOURCES, clock=clock) for store in stores]
        [slot] = await schedulers[0].find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=1)
        results = await asyncio.gather(*(s.book(slot, "pat-1", idempotency_key="same") for s in schedulers))
        assert len({r.id for r in results}) == 1
        assert len(await stores[0].appointments()) == 1
    assert isinstance(stores[0], SqliteStore | PostgresStore)
