"""The embedded schedule store: one SQLite file (or ``":memory:"``) through aiosqlite.

Serialisable booking: every write runs in ``BEGIN IMMEDIATE``, which takes SQLite's one
write lock before the overlap check, so two writers (tasks, processes or room servers
on the same file) can never both see a slot free and both take it. Within one store a
lock serialises the tasks sharing its connection; across stores SQLite's busy timeout
makes the later writer wait for the earlier one's commit.

Instants are stored as integer microseconds since the Unix epoch (UTC), so comparisons
are exact and indexable.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

__all__ = ["SqliteStore"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SQLITE_WAIT = 0.005  # seconds SQLite itself waits for a lock before we retry
_US = timedelta(microseconds=1)

# Versioned migrations: index i holds the script that brings the schema to version i + 1
# (statements are split on ";", so comments inside must not contain one).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE appointments (
        id TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER NOT NULL,
        buffer_before_us INTEGER NOT NULL,
        buffer_after_us INTEGER NOT NULL,
        resource_ids TEXT NOT NULL,
        patient TEXT NOT NULL,
        status TEXT NOT NULL,
        booking_code TEXT NOT NULL UNIQUE,
        idempotency_key TEXT UNIQUE,
        created_at_us INTEGER NOT NULL,
        rescheduled_from TEXT REFERENCES appointments(id)
    );
    CREATE INDEX appointments_by_start ON appointments(start_us);
    CREATE TABLE holds (
        id TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER NOT NULL,
        buffer_before_us INTEGER NOT NULL,
        buffer_after_us INTEGER NOT NULL,
        resource_ids TEXT NOT NULL,
        created_at_us INTEGER NOT NULL,
        expires_at_us INTEGER NOT NULL,
        consumed_by TEXT  -- the appointment it became, kept a day so retries find it
    );
    -- one row per resource blocked by a hold (expires_us set) or an appointment (NULL)
    CREATE TABLE claims (
        owner_id TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER NOT NULL,
        expires_us INTEGER,
        PRIMARY KEY (owner_id, resource_id)
    );
    CREATE INDEX claims_by_resource ON claims(resource_id, start_us);
    """,
)


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _US


def _at(us: int) -> datetime:
    return _EPOCH + us * _US


def _slot_columns(slot: Slot) -> tuple[Any, ...]:
    return (
        slot.service_id,
        _us(slot.start),
        _us(slot.end),
        slot.buffer_before // _US,
        slot.buffer_after // _US,
        json.dumps(slot.resource_ids),
    )


def _slot(row: Sequence[Any]) -> Slot:
    service_id, start, end, before, after, resource_ids = row
    return Slot(
        service_id=service_id,
        start=_at(start),
        end=_at(end),
        buffer_before=before * _US,
        buffer_after=after * _US,
        resource_ids=tuple(json.loads(resource_ids)),
    )


_APPOINTMENT_COLUMNS = (
    "id, service_id, start_us, end_us, buffer_before_us, buffer_after_us, resource_ids, "
    "patient, status, booking_code, idempotency_key, created_at_us, rescheduled_from"
)
_HOLD_COLUMNS = (
    "id, service_id, start_us, end_us, buffer_before_us, buffer_after_us, resource_ids, "
    "created_at_us, expires_at_us"
)


def _appointment(row: Sequence[Any]) -> Appointment:
    return Appointment(
        id=row[0],
        slot=_slot(row[1:7]),
        patient=row[7],
        status=row[8],
        booking_code=row[9],
        idempotency_key=row[10],
        created_at=_at(row[11]),
        rescheduled_from=row[12],
    )


def _hold(row: Sequence[Any]) -> Hold:
    return Hold(id=row[0], slot=_slot(row[1:7]), created_at=_at(row[7]), expires_at=_at(row[8]))


class SqliteStore(ScheduleStore):
    """The embedded default store: a SQLite file, or ``":memory:"`` for tests and demos.

    Args:
        path: Database file (created if missing) or ``":memory:"``.
        busy_timeout: How long a writer waits for another connection's write lock.

    Examples:
        >>> import asyncio
        >>> async def main() -> list[object]:
        ...     async with SqliteStore(":memory:") as store:
        ...         return await store.appointments()
        >>> asyncio.run(main())
        []
    """

    def __init__(self, path: str | Path, *, busy_timeout: timedelta = timedelta(seconds=30)) -> None:
        self.path = str(path)
        self._busy_timeout = busy_timeout
        self._db: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the database and apply pending migrations."""
        try:
            import aiosqlite
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ScheduleStoreError("sqlite", "aiosqlite is missing; pip install telemedroom") from exc
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise ScheduleStoreError("sqlite", f"cannot open {self.path}: its directory does not exist")
        # SQLite's own busy handler sleeps in steps of up to 100 ms, which starves
        # writers under contention; wait briefly in SQLite, retry with jitter here
        connection = aiosqlite.connect(self.path, isolation_level=None, timeout=_SQLITE_WAIT)
        try:
            self._db = await connection
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread without waiting; wait for it here so it
            # cannot report to an event loop that has closed in the meantime
            thread = getattr(connection, "_thread", None)
            if thread is not None:
                await asyncio.to_thread(thread.join, 5)
            raise ScheduleStoreError("sqlite", f"cannot open {self.path}: {exc}") from exc
        try:
            if self.path != ":memory:":
                await self._retry(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
        except sqlite3.Error as exc:
            await self.aclose()
            raise ScheduleStoreError("sqlite", f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Any]:
        """One serialisable write transaction (BEGIN IMMEDIATE takes the write lock first)."""
        if self._db is None:
            raise ScheduleStoreError("sqlite", "the store is not open; use `async with SqliteStore(...)`")
        async with self._lock:
            await self._retry(lambda: self._db.execute("BEGIN IMMEDIATE"))
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            try:
                await self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._db.execute("ROLLBACK")
                raise ScheduleStoreError("sqlite", f"commit failed: {exc}") from exc

    async def _retry(self, statement: Callable[[], Awaitable[Any]]) -> None:
        """Run a statement that may find the database locked, retrying until ``busy_timeout``."""
        deadline = asyncio.get_running_loop().time() + self._busy_timeout.total_seconds()
        attempt = 0
        while True:
            try:
                await statement()
                return
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or asyncio.get_running_loop().time() > deadline:
                    raise ScheduleStoreError("sqlite", f"cannot start a write transaction: {exc}") from exc
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(0.0005 * 2**attempt, 0.02)))

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        if self._db is None:
            raise ScheduleStoreError("sqlite", "the store is not open; use `async with SqliteStore(...)`")
        async with self._lock:
            try:
                async with self._db.execute(sql, tuple(params)) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.Error as exc:
                raise ScheduleStoreError("sqlite", str(exc)) from exc

    async def _migrate(self) -> None:
        async with self._write() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at_us INTEGER NOT NULL)"
            )
            async with db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations") as cursor:
                row = await cursor.fetchone()
            current = int(row[0])
            if current > len(MIGRATIONS):
                raise ScheduleStoreError(
                    "sqlite",
                    f"schema version {current} is newer than this telemedroom knows "
                    f"({len(MIGRATIONS)}); upgrade telemedroom",
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", (version, _us(datetime.now(UTC)))
                )

    # -- the overlap check, inside a write transaction -------------------------------------

    @staticmethod
    async def _conflicts(db: Any, slot: Slot, now: datetime, exclude: Sequence[str]) -> list[str]:
        ids = slot.resource_ids
        sql = (
            f"SELECT DISTINCT resource_id FROM claims WHERE resource_id IN ({','.join('?' * len(ids))}) "
            "AND start_us < ? AND end_us > ? AND (expires_us IS NULL OR expires_us > ?)"
        )
        if exclude:
            sql += f" AND owner_id NOT IN ({','.join('?' * len(exclude))})"
        params = (*ids, _us(slot.blocked_end), _us(slot.blocked_start), _us(now), *exclude)
        async with db.execute(sql, params) as cursor:
            return sorted(row[0] for row in await cursor.fetchall())

    @staticmethod
    async def _claim(db: Any, owner_id: str, slot: Slot, expires: datetime | None) -> None:
        await db.executemany(
            "INSERT INTO claims VALUES (?, ?, ?, ?, ?)",
            [
                (
                    owner_id,
                    resource_id,
                    _us(slot.blocked_start),
                    _us(slot.blocked_end),
                    None if expires is None else _us(expires),
                )
                for resource_id in slot.resource_ids
            ],
        )

    @staticmethod
    async def _prune(db: Any, now: datetime) -> None:
        # lapsed holds stop blocking at once (the overlap check ignores them); their rows
        # are swept here, the hold itself kept for a day so HoldExpired can say when
        await db.execute("DELETE FROM claims WHERE expires_us IS NOT NULL AND expires_us <= ?", (_us(now),))
        await db.execute("DELETE FROM holds WHERE expires_at_us <= ?", (_us(now - timedelta(days=1)),))

    # -- the seam ---------------------------------------------------------------------------

    async def busy(
        self, resource_ids: Sequence[str], start: datetime, end: datetime, *, now: datetime
    ) -> list[Busy]:
        """Blocked intervals of these resources overlapping ``[start, end)``."""
        if not resource_ids:
            return []
        rows = await self._read(
            f"SELECT resource_id, start_us, end_us FROM claims "
            f"WHERE resource_id IN ({','.join('?' * len(resource_ids))}) "
            "AND start_us < ? AND end_us > ? AND (expires_us IS NULL OR expires_us > ?)",
            (*resource_ids, _us(end), _us(start), _us(now)),
        )
        return [Busy(r, _at(s), _at(e)) for r, s, e in rows]

    async def add_hold(self, hold: Hold, *, now: datetime) -> Hold:
        """Record a hold if its slot is free."""
        async with self._write() as db:
            await self._prune(db, now)
            taken = await self._conflicts(db, hold.slot, now, ())
            if taken:
                raise SlotUnavailable(hold.slot, taken, "held or booked by someone else")
            await db.execute(
                f"INSERT INTO holds ({_HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (hold.id, *_slot_columns(hold.slot), _us(hold.created_at), _us(hold.expires_at)),
            )
            await self._claim(db, hold.id, hold.slot, hold.expires_at)
        return hold

    async def release_hold(self, hold_id: str) -> None:
        """Drop a hold."""
        async with self._write() as db:
            await db.execute("DELETE FROM claims WHERE owner_id = ?", (hold_id,))
            await db.execute("DELETE FROM holds WHERE id = ?", (hold_id,))

    async def _by_key(self, db: Any, key: str | None) -> Appointment | None:
        if key is None:
            return None
        async with db.execute(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE idempotency_key = ?", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _appointment(row)

    async def _insert(self, db: Any, appointment: Appointment) -> Appointment:
        for _ in range(CODE_ATTEMPTS):
            async with db.execute(
                "SELECT 1 FROM appointments WHERE booking_code = ?", (appointment.booking_code,)
            ) as cursor:
                if await cursor.fetchone() is None:
                    break
            appointment = replace(appointment, booking_code=new_booking_code())
        a = appointment
        await db.execute(
            f"INSERT INTO appointments ({_APPOINTMENT_COLUMNS}) VALUES ({','.join('?' * 13)})",
            (
                a.id,
                *_slot_columns(a.slot),
                a.patient,
                a.status,
                a.booking_code,
                a.idempotency_key,
                _us(a.created_at),
                a.rescheduled_from,
            ),
        )
        if a.blocks_resources:
            await self._claim(db, a.id, a.slot, None)
        return a

    async def book(self, appointment: Appointment, *, hold_id: str | None, now: datetime) -> Appointment:
        """Record an appointment atomically (see :meth:`ScheduleStore.book`)."""
        async with self._write() as db:
            existing = await self._by_key(db, appointment.idempotency_key)
            if existing is not None:
                if not same_request(existing, appointment):
                    raise IdempotencyKeyReused(appointment.idempotency_key or "", existing.id)
                return existing
            await self._prune(db, now)
            exclude: tuple[str, ...] = ()
            if hold_id is not None:
                async with db.execute(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE id = ?", (hold_id,)) as c:
                    row = await c.fetchone()
                if row is None or await self._consumed(db, hold_id):
                    raise HoldExpired(hold_id, None)
                hold = _hold(row)
                if hold.expires_at <= now:
                    raise HoldExpired(hold_id, hold.expires_at)
                if hold.slot != appointment.slot:
                    raise SlotUnavailable(appointment.slot, (), f"hold {hold_id} is for another slot")
                exclude = (hold_id,)
            taken = await self._conflicts(db, appointment.slot, now, exclude)
            if taken:
                raise SlotUnavailable(appointment.slot, taken, "held or booked by someone else")
            stored = await self._insert(db, appointment)
            if hold_id is not None:
                await db.execute("DELETE FROM claims WHERE owner_id = ?", (hold_id,))
                await db.execute("UPDATE holds SET consumed_by = ? WHERE id = ?", (stored.id, hold_id))
            return stored

    async def _get(self, db: Any, appointment_id: str) -> Appointment:
        async with db.execute(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE id = ?", (appointment_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise UnknownAppointment(appointment_id)
        return _appointment(row)

    async def reschedule(self, appointment_id: str, new: Appointment, *, now: datetime) -> Appointment:
        """Book ``new`` and cancel the old one in one transaction."""
        async with self._write() as db:
            old = await self._get(db, appointment_id)
            if "cancelled" not in TRANSITIONS[old.status]:
                raise InvalidTransition(old.id, old.status, "cancelled")
            await self._prune(db, now)
            taken = await self._conflicts(db, new.slot, now, (old.id,))
            if taken:
                raise SlotUnavailable(new.slot, taken, "held or booked by someone else")
            await db.execute("DELETE FROM claims WHERE owner_id = ?", (old.id,))
            await db.execute("UPDATE appointments SET status = 'cancelled' WHERE id = ?", (old.id,))
            return await self._insert(db, new)

    async def transition(self, appointment_id: str, to: AppointmentStatus, *, now: datetime) -> Appointment:
        """Move an appointment to another status if allowed."""
        async with self._write() as db:
            current = await self._get(db, appointment_id)
            if to not in TRANSITIONS[current.status]:
                raise InvalidTransition(current.id, current.status, to)
            await db.execute("UPDATE appointments SET status = ? WHERE id = ?", (to, appointment_id))
            if to not in BLOCKING_STATUSES:
                await db.execute("DELETE FROM claims WHERE owner_id = ?", (appointment_id,))
            return replace(current, status=to)

    async def get(self, appointment_id: str) -> Appointment:
        """The appointment with this id."""
        rows = await self._read(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE id = ?", (appointment_id,)
        )
        if not rows:
            raise UnknownAppointment(appointment_id)
        return _appointment(rows[0])

    async def by_code(self, booking_code: str) -> Appointment:
        """The appointment with this booking code."""
        rows = await self._read(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE booking_code = ?", (booking_code,)
        )
        if not rows:
            raise UnknownBookingCode(booking_code)
        return _appointment(rows[0])

    async def appointments(
        self,
        *,
        resource_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Appointment]:
        """Appointments, optionally filtered, ordered by start."""
        where, params = ["1 = 1"], []
        if start is not None:
            where.append("end_us > ?")
            params.append(_us(start))
        if end is not None:
            where.append("start_us < ?")
            params.append(_us(end))
        rows = await self._read(
            f"SELECT {_APPOINTMENT_COLUMNS} FROM appointments WHERE {' AND '.join(where)} "
            "ORDER BY start_us, id",
            params,
        )
        found = [_appointment(row) for row in rows]
        return [a for a in found if resource_id is None or resource_id in a.slot.resource_ids]

    async def get_hold(self, hold_id: str) -> Hold:
        """The hold with this id, live, lapsed or used (``HoldExpired`` once it is gone)."""
        rows = await self._read(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE id = ?", (hold_id,))
        if not rows:
            raise HoldExpired(hold_id, None)
        return _hold(rows[0])

    @staticmethod
    async def _consumed(db: Any, hold_id: str) -> bool:
        async with db.execute("SELECT consumed_by FROM holds WHERE id = ?", (hold_id,)) as cursor:
            row = await cursor.fetchone()
        return row is not None and row[0] is not None

    async def holds(self, *, now: datetime) -> list[Hold]:
        """Holds live at ``now``."""
        rows = await self._read(
            f"SELECT {_HOLD_COLUMNS} FROM holds WHERE expires_at_us > ? AND consumed_by IS NULL "
            "ORDER BY start_us, id",
            (_us(now),),
        )
        return [_hold(row) for row in rows]
