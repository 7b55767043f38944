"""The scale-out schedule store: PostgreSQL through asyncpg, for several servers sharing one schedule.

The database itself forbids double booking: every blocked resource interval is a row
in ``claims`` and an exclusion constraint over ``(resource_id WITH =, during WITH &&)``
(``btree_gist``) rejects any two overlapping rows of one resource, whichever server
wrote them. The store still checks for conflicts first so the common case gets a
precise error; a race lost between that check and the insert surfaces as an exclusion
violation and is reported as :class:`~telemedroom.errors.SlotUnavailable` too.
Transactions that fail with a serialisation failure or a deadlock are retried.

Needs ``pip install 'telemedroom[postgres]'``; asyncpg is imported only when a store opens.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from telemedroom.errors import (
    HoldExpired,
    IdempotencyKeyReused,
    InvalidTransition,
    ScheduleStoreError,
    SlotUnavailable,
    UnknownAppointment,
    UnknownBookingCode,
)
from telemedroom.scheduling._codes import new_booking_code
from telemedroom.scheduling._models import (
    BLOCKING_STATUSES,
    TRANSITIONS,
    Appointment,
    AppointmentStatus,
    Hold,
    Slot,
)
from telemedroom.scheduling._store import CODE_ATTEMPTS, Busy, ScheduleStore, same_request

__all__ = ["MIGRATIONS", "PostgresStore"]

T = TypeVar("T")

# Versioned migrations: index i brings the schema to version i + 1 (never edit a shipped one).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE EXTENSION IF NOT EXISTS btree_gist;
    CREATE TABLE appointments (
        id text PRIMARY KEY,
        service_id text NOT NULL,
        start_at timestamptz NOT NULL,
        end_at timestamptz NOT NULL,
        buffer_before interval NOT NULL,
        buffer_after interval NOT NULL,
        resource_ids text[] NOT NULL,
        patient text NOT NULL,
        status text NOT NULL,
        booking_code text NOT NULL CONSTRAINT appointments_booking_code_key UNIQUE,
        idempotency_key text CONSTRAINT appointments_idempotency_key_key UNIQUE,
        created_at timestamptz NOT NULL,
        rescheduled_from text REFERENCES appointments(id)
    );
    CREATE INDEX appointments_by_start ON appointments (start_at);
    CREATE TABLE holds (
        id text PRIMARY KEY,
        service_id text NOT NULL,
        start_at timestamptz NOT NULL,
        end_at timestamptz NOT NULL,
        buffer_before interval NOT NULL,
        buffer_after interval NOT NULL,
        resource_ids text[] NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        consumed_by text  -- the appointment it became, kept a day so retries find it
    );
    -- one row per resource blocked by a hold (expires_at set) or an appointment (NULL)
    CREATE TABLE claims (
        owner_id text NOT NULL,
        resource_id text NOT NULL,
        during tstzrange NOT NULL,
        expires_at timestamptz,
        PRIMARY KEY (owner_id, resource_id),
        CONSTRAINT claims_no_overlap EXCLUDE USING gist (resource_id WITH =, during WITH &&)
    );
    """,
)

# Any number identifies our advisory lock; it serialises migrations of concurrent servers.
_MIGRATION_LOCK = 0x7E1E_5C4E

_APPOINTMENT_COLUMNS = (
    "id, service_id, start_at, end_at, buffer_before, buffer_after, resource_ids, "
    "patient, status, booking_code, idempotency_key, created_at, rescheduled_from"
)
_HOLD_COLUMNS = (
    "id, service_id, start_at, end_at, buffer_before, buffer_after, resource_ids, created_at, expires_at"
)
_OVERLAPS = (
    "resource_id = ANY($1::text[]) AND during && tstzrange($2, $3, '[)') "
    "AND (expires_at IS NULL OR expires_at > $4)"
)


def _slot(row: Any, offset: int = 1) -> Slot:
    return Slot(
        service_id=row[offset],
        start=row[offset + 1],
        end=row[offset + 2],
        buffer_before=row[offset + 3],
        buffer_after=row[offset + 4],
        resource_ids=tuple(row[offset + 5]),
    )


def _appointment(row: Any) -> Appointment:
    return Appointment(
        id=row[0],
        slot=_slot(row),
        patient=row[7],
        status=row[8],
        booking_code=row[9],
        idempotency_key=row[10],
        created_at=row[11],
        rescheduled_from=row[12],
    )


def _hold(row: Any) -> Hold:
    return Hold(id=row[0], slot=_slot(row), created_at=row[7], expires_at=row[8])


def _slot_values(slot: Slot) -> tuple[Any, ...]:
    return (
        slot.service_id,
        slot.start,
        slot.end,
        slot.buffer_before,
        slot.buffer_after,
        list(slot.resource_ids),
    )


def _lock_key(resource_id: str) -> int:
    """A stable signed 64-bit advisory-lock key per resource (the same on every server)."""
    return int.from_bytes(
        hashlib.sha256(f"telemedroom.scheduling:{resource_id}".encode()).digest()[:8], "big", signed=True
    )


class _Retry(Exception):
    """A booking code collided; draw another."""


class PostgresStore(ScheduleStore):
    """A schedule in PostgreSQL (>= 13) shared by several room servers.

    Args:
        dsn: libpq connection string, e.g. ``postgresql://user@db.example/telemedroom``
            or ``postgresql://user@/telemedroom?host=/run/postgresql`` for a Unix socket.
        min_size: Connections kept open.
        max_size: At most this many connections.
        retries: How often a transaction that hit a serialisation failure or deadlock
            is tried again.

    Examples:
        >>> store = PostgresStore("postgresql://telemedroom@localhost/telemedroom")
        >>> store.dsn
        'postgresql://telemedroom@localhost/telemedroom'
    """

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10, retries: int = 20) -> None:
        self.dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._retries = retries
        self._pool: Any = None
        self._asyncpg: Any = None

    async def open(self) -> None:
        """Connect and apply pending migrations."""
        try:
            import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
        except ImportError as exc:
            raise ScheduleStoreError(
                "postgres", "asyncpg is missing; pip install 'telemedroom[postgres]'"
            ) from exc
        self._asyncpg = asyncpg
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=self._min_size, max_size=self._max_size)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ScheduleStoreError("postgres", f"cannot connect: {exc}") from exc
        try:
            await self._run(self._migrate)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _migrate(self, conn: Any) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
        if current > len(MIGRATIONS):
            raise ScheduleStoreError(
                "postgres",
                f"schema version {current} is newer than this telemedroom knows ({len(MIGRATIONS)}); "
                "upgrade telemedroom",
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)

    async def schema_version(self) -> int:
        """The schema version the database is at (rows of ``schema_migrations``)."""
        return int(await self._run(lambda conn: conn.fetchval("SELECT max(version) FROM schema_migrations")))

    async def _run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction, retrying serialisation failures and deadlocks."""
        if self._pool is None:
            raise ScheduleStoreError("postgres", "the store is not open; use `async with PostgresStore(...)`")
        pg = self._asyncpg
        for attempt in range(self._retries):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await work(conn)
            except (pg.SerializationError, pg.DeadlockDetectedError) as exc:
                if attempt + 1 == self._retries:
                    raise ScheduleStoreError("postgres", f"gave up after {self._retries} retries") from exc
                # jitter so the retrying transactions do not collide in lockstep again
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            except (pg.UniqueViolationError, pg.ExclusionViolationError):
                raise  # the callers turn these into scheduling errors
            except (OSError, pg.PostgresError, pg.InterfaceError) as exc:
                raise ScheduleStoreError("postgres", str(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- inside a transaction ------------------------------------------------------------------

    @staticmethod
    async def _taken(conn: Any, slot: Slot, now: datetime, exclude: Sequence[str]) -> list[str]:
        rows = await conn.fetch(
            f"SELECT DISTINCT resource_id FROM claims WHERE {_OVERLAPS} AND owner_id <> ALL($5::text[])",
            list(slot.resource_ids),
            slot.blocked_start,
            slot.blocked_end,
            now,
            list(exclude),
        )
        return sorted(row[0] for row in rows)

    @staticmethod
    async def _lock_resources(conn: Any, resource_ids: Iterable[str]) -> None:
        """Queue writers of the same resources one behind the other, in one global order.

        Without this, concurrent inserts that conflict under the exclusion constraint
        wait on each other's uncommitted rows and can deadlock (each costing the
        server's ``deadlock_timeout``). Transaction-scoped advisory locks, taken in
        ascending key order, make them wait in line instead; the overlap check after
        the lock then sees the winner's committed claim. The exclusion constraint stays
        the guarantee; the locks only make losing cheap.
        """
        for key in sorted({_lock_key(rid) for rid in resource_ids}):
            await conn.execute("SELECT pg_advisory_xact_lock($1)", key)

    @staticmethod
    async def _sweep(conn: Any, slot: Slot, now: datetime) -> None:
        # lapsed holds must leave the table before the exclusion constraint sees new claims
        await conn.execute(
            "DELETE FROM claims WHERE resource_id = ANY($1::text[]) AND during && tstzrange($2, $3, '[)') "
            "AND expires_at <= $4",
            list(slot.resource_ids),
            slot.blocked_start,
            slot.blocked_end,
            now,
        )

    @staticmethod
    async def _claim(conn: Any, owner_id: str, slot: Slot, expires: datetime | None) -> None:
        # a fixed order of inserts keeps two multi-resource bookings from deadlocking
        await conn.executemany(
            "INSERT INTO claims VALUES ($1, $2, tstzrange($3, $4, '[)'), $5)",
            [
                (owner_id, rid, slot.blocked_start, slot.blocked_end, expires)
                for rid in sorted(slot.resource_ids)
            ],
        )

    @staticmethod
    async def _insert(conn: Any, a: Appointment) -> Appointment:
        exists = await conn.fetchval("SELECT 1 FROM appointments WHERE booking_code = $1", a.booking_code)
        if exists:
            raise _Retry
        await conn.execute(
            f"INSERT INTO appointments ({_APPOINTMENT_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            a.id,
            *_slot_values(a.slot),
            a.patient,
            a.status,
            a.booking_code,
            a.idempotency_key,
            a.created_at,
            a.rescheduled_from,
        )
        if a.blocks_resources:
            await PostgresStore._claim(conn, a.id, a.slot, None)
        return a

    async def _lost_race(self, slot: Slot, now: datetime, exc: BaseException) -> SlotUnavailable:
        taken = await self._run(lambda conn: self._taken(conn, slot, now, ()))
        error = SlotUnavailable(slot, taken, "booked by another server at the same moment")
        error.__cause__ = exc
        return error

    async def _with_codes(
        self, appointment: Appointment, attempt: Callable[[Appointment], Awaitable[Appointment]]
    ) -> Appointment:
        pg = self._asyncpg
        for _ in range(CODE_ATTEMPTS):
            try:
                return await attempt(appointment)
            except _Retry:
                appointment = replace(appointment, booking_code=new_booking_code())
            except pg.UniqueViolationError as exc:
                if exc.constraint_name == "appointments_booking_code_key":
                    appointment = replace(appointment, booking_code=new_booking_code())
                    continue
                if exc.constraint_name == "appointments_idempotency_key_key":
                    existing = await self._run(partial(self._by_key, key=appointment.idempotency_key))
                    if existing is not None:
                        return self._idempotent(existing, appointment)
                raise ScheduleStoreError("postgres", str(exc)) from exc
            except pg.ExclusionViolationError as exc:
                raise await self._lost_race(appointment.slot, appointment.created_at, exc) from exc
        raise ScheduleStoreError("postgres", "could not draw a unique booking code")

    @staticmethod
    def _idempotent(existing: Appointment, asked: Appointment) -> Appointment:
        if not same_request(existing, asked):
            raise IdempotencyKeyReused(asked.idempotency_key or "", existing.id)
        return existing

    @staticmethod
    async def _by_key(conn: Any, key: str | None) -> Appointment | None:
        if key is None:
            return None
        row = await conn.fetchrow(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE idempotency_key = $1", key
        )
        return None if row is None else _appointment(row)

    @staticmethod
    async def _get(conn: Any, appointment_id: str, *, lock: bool = False) -> Appointment:
        row = await conn.fetchrow(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1{' FOR UPDATE' if lock else ''}",
            appointment_id,
        )
        if row is None:
            raise UnknownAppointment(appointment_id)
        return _appointment(row)

    # -- the seam ------------------------------------------------------------------------------

    async def busy(
        self, resource_ids: Sequence[str], start: datetime, end: datetime, *, now: datetime
    ) -> list[Busy]:
        """Blocked intervals of these resources overlapping ``[start, end)``."""
        rows = await self._run(
            lambda conn: conn.fetch(
                f"SELECT resource_id, lower(during), upper(during) FROM claims WHERE {_OVERLAPS}",
                list(resource_ids),
                start,
                end,
                now,
            )
        )
        return [Busy(r[0], r[1], r[2]) for r in rows]

    async def add_hold(self, hold: Hold, *, now: datetime) -> Hold:
        """Record a hold if its slot is free."""

        async def work(conn: Any) -> Hold:
            await self._lock_resources(conn, hold.slot.resource_ids)
            await self._sweep(conn, hold.slot, now)
            taken = await self._taken(conn, hold.slot, now, ())
            if taken:
                raise SlotUnavailable(hold.slot, taken, "held or booked by someone else")
            await conn.execute(
                f"INSERT INTO holds ({_HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                hold.id,
                *_slot_values(hold.slot),
                hold.created_at,
                hold.expires_at,
            )
            await self._claim(conn, hold.id, hold.slot, hold.expires_at)
            return hold

        try:
            return await self._run(work)
        except self._asyncpg.ExclusionViolationError as exc:
            raise await self._lost_race(hold.slot, now, exc) from exc

    async def release_hold(self, hold_id: str) -> None:
        """Drop a hold."""

        async def work(conn: Any) -> None:
            await conn.execute("DELETE FROM claims WHERE owner_id = $1", hold_id)
            await conn.execute("DELETE FROM holds WHERE id = $1", hold_id)

        await self._run(work)

    async def book(self, appointment: Appointment, *, hold_id: str | None, now: datetime) -> Appointment:
        """Record an appointment atomically (see :meth:`ScheduleStore.book`)."""

        async def work(conn: Any, a: Appointment) -> Appointment:
            existing = await self._by_key(conn, a.idempotency_key)
            if existing is not None:
                return self._idempotent(existing, a)
            await self._lock_resources(conn, a.slot.resource_ids)
            existing = await self._by_key(conn, a.idempotency_key)  # may have committed meanwhile
            if existing is not None:
                return self._idempotent(existing, a)
            exclude: tuple[str, ...] = ()
            if hold_id is not None:
                row = await conn.fetchrow(
                    f"SELECT {_HOLD_COLUMNS}, consumed_by FROM holds WHERE id = $1 FOR UPDATE", hold_id
                )
                if row is None or row["consumed_by"] is not None:
                    raise HoldExpired(hold_id, None)
                hold = _hold(row)
                if hold.expires_at <= now:
                    raise HoldExpired(hold_id, hold.expires_at)
                if hold.slot != a.slot:
                    raise SlotUnavailable(a.slot, (), f"hold {hold_id} is for another slot")
                exclude = (hold_id,)
            await self._sweep(conn, a.slot, now)
            taken = await self._taken(conn, a.slot, now, exclude)
            if taken:
                raise SlotUnavailable(a.slot, taken, "held or booked by someone else")
            if hold_id is not None:
                await conn.execute("DELETE FROM claims WHERE owner_id = $1", hold_id)
            await conn.execute("DELETE FROM holds WHERE expires_at <= $1", now - timedelta(days=1))
            stored = await self._insert(conn, a)
            if hold_id is not None:
                await conn.execute("UPDATE holds SET consumed_by = $1 WHERE id = $2", stored.id, hold_id)
            return stored

        try:
            return await self._with_codes(appointment, lambda a: self._run(lambda conn: work(conn, a)))
        except (SlotUnavailable, HoldExpired):
            # Under READ COMMITTED a concurrent request with the same key may have
            # committed between our key lookup and the overlap check or the hold lock:
            # then the slot is "taken" by this very request, which is the idempotent answer.
            existing = await self._run(partial(self._by_key, key=appointment.idempotency_key))
            if existing is not None:
                return self._idempotent(existing, appointment)
            raise

    async def reschedule(self, appointment_id: str, new: Appointment, *, now: datetime) -> Appointment:
        """Book ``new`` and cancel the old one in one transaction."""

        async def work(conn: Any, a: Appointment) -> Appointment:
            current = await self._get(conn, appointment_id)
            await self._lock_resources(conn, {*current.slot.resource_ids, *a.slot.resource_ids})
            old = await self._get(conn, appointment_id, lock=True)
            if "cancelled" not in TRANSITIONS[old.status]:
                raise InvalidTransition(old.id, old.status, "cancelled")
            await self._sweep(conn, a.slot, now)
            taken = await self._taken(conn, a.slot, now, (old.id,))
            if taken:
                raise SlotUnavailable(a.slot, taken, "held or booked by someone else")
            await conn.execute("DELETE FROM claims WHERE owner_id = $1", old.id)
            await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", old.id)
            return await self._insert(conn, a)

        return await self._with_codes(new, lambda a: self._run(lambda conn: work(conn, a)))

    async def transition(self, appointment_id: str, to: AppointmentStatus, *, now: datetime) -> Appointment:
        """Move an appointment to another status if allowed."""

        async def work(conn: Any) -> Appointment:
            current = await self._get(conn, appointment_id, lock=True)
            if to not in TRANSITIONS[current.status]:
                raise InvalidTransition(current.id, current.status, to)
            await conn.execute("UPDATE appointments SET status = $1 WHERE id = $2", to, appointment_id)
            if to not in BLOCKING_STATUSES:
                await conn.execute("DELETE FROM claims WHERE owner_id = $1", appointment_id)
            return replace(current, status=to)

        return await self._run(work)

    async def get(self, appointment_id: str) -> Appointment:
        """The appointment with this id."""
        return await self._run(lambda conn: self._get(conn, appointment_id))

    async def by_code(self, booking_code: str) -> Appointment:
        """The appointment with this booking code."""
        row = await self._run(
            lambda conn: conn.fetchrow(
                f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE booking_code = $1", booking_code
            )
        )
        if row is None:
            raise UnknownBookingCode(booking_code)
        return _appointment(row)

    async def appointments(
        self,
        *,
        resource_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Appointment]:
        """Appointments, optionally filtered, ordered by start."""
        rows = await self._run(
            lambda conn: conn.fetch(
                f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments "
                "WHERE ($1::text IS NULL OR $1 = ANY(resource_ids)) "
                "AND ($2::timestamptz IS NULL OR end_at > $2) AND ($3::timestamptz IS NULL OR start_at < $3) "
                "ORDER BY start_at, id",
                resource_id,
                start,
                end,
            )
        )
        return [_appointment(row) for row in rows]

    async def get_hold(self, hold_id: str) -> Hold:
        """The hold with this id, live, lapsed or used (``HoldExpired`` once it is gone)."""
        row = await self._run(
            lambda conn: conn.fetchrow(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE id = $1", hold_id)
        )
        if row is None:
            raise HoldExpired(hold_id, None)
        return _hold(row)

    async def holds(self, *, now: datetime) -> list[Hold]:
        """Holds live at ``now``."""
        rows = await self._run(
            lambda conn: conn.fetch(
                f"SELECT {_HOLD_COLUMNS} FROM holds WHERE expires_at > $1 AND consumed_by IS NULL "
                "ORDER BY start_at, id",
                now,
            )
        )
        return [_hold(row) for row in rows]
