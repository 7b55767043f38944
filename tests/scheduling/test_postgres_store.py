"""PostgreSQL specifics: the database itself forbids overlaps; migrations are versioned."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest

from telemedroom import errors
from telemedroom.scheduling import PostgresStore
from telemedroom.scheduling._postgres_store import MIGRATIONS

pytestmark = pytest.mark.requires_system


async def test_the_exclusion_constraint_rejects_overlapping_claims(postgres_dsn: str) -> None:
    import asyncpg

    async with PostgresStore(postgres_dsn):
        pass
    conn = await asyncpg.connect(postgres_dsn)
    try:
        at = [datetime(2026, 3, 2, h, tzinfo=UTC) for h in range(8, 12)]
        insert = "INSERT INTO claims VALUES ($1, $2, tstzrange($3, $4, '[)'), NULL)"
        await conn.execute(insert, "a1", "room-1", at[0], at[2])
        await conn.execute(insert, "a2", "room-1", at[2], at[3])  # touching is fine
        await conn.execute(insert, "a3", "room-2", at[0], at[2])  # another resource is fine
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(insert, "a4", "room-1", at[1], at[3])
        extensions = await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'")
        assert extensions == 1
    finally:
        await conn.close()


async def test_concurrent_servers_migrate_once(postgres_dsn: str) -> None:
    import asyncpg

    stores = [PostgresStore(postgres_dsn, max_size=1) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert {await s.schema_version() for s in stores} == {len(MIGRATIONS)}
    finally:
        await asyncio.gather(*(s.aclose() for s in stores))
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))


async def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(errors.ScheduleStoreError) as info:
        await PostgresStore("postgresql://localhost/x").open()
    assert "pip install 'telemedroom[postgres]'" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


async def test_a_race_lost_at_the_constraint_is_slot_unavailable(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the queueing lock and the overlap check are switched off, as if a
    second server's booking committed between our check and our insert; the database's
    exclusion constraint still refuses the overlap and the store reports it as a lost race."""
    import asyncpg

    from telemedroom.scheduling import Scheduler

    from .conftest import GP, MONDAY, RESOURCES, FakeClock

    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    async with PostgresStore(postgres_dsn) as store:
        scheduler = Scheduler(store, RESOURCES, clock=clock)
        [slot] = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1), limit=1)
        await scheduler.book(slot, "pat-1", idempotency_key="first")

        async def nothing(*args: object) -> list[str]:
            return []

        monkeypatch.setattr(PostgresStore, "_lock_resources", staticmethod(nothing))
        monkeypatch.setattr(PostgresStore, "_taken", staticmethod(nothing))
        with pytest.raises(errors.SlotUnavailable) as info:
            await scheduler.book(slot, "pat-2", idempotency_key="second")
        assert isinstance(info.value.__cause__, asyncpg.ExclusionViolationError)
        assert "same moment" in info.value.reason
        assert info.value.slot == slot
        monkeypatch.undo()
        assert [a.patient for a in await store.appointments()] == ["pat-1"]
