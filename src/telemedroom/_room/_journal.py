"""The room's crash journal: which visit is in which state, in one small SQLite file.

It holds no health data in the clear: the visit id, the appointment id and the state
only, plus, during wrap-up, the visit's transaction Bundle sealed with AES-GCM (the
room's key; the visit id is the associated data). Every write is one fsync'ed SQLite
transaction (WAL, ``synchronous=FULL``), so after a crash the journal shows either the
state before a step or the state after it, never half of one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telemedroom._room._events import RoomState
from telemedroom.errors import RoomError

if TYPE_CHECKING:
    from telemedroom.fhir.outbox import Outbox
    from telemedroom.session.audit import AuditLog

__all__ = ["Journal", "JournalEntry", "recover_visit"]

logger = logging.getLogger("telemedroom.room")

_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS visit (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),  -- one room, at most one visit at a time
    visit_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated REAL NOT NULL,
    nonce BLOB,
    sealed BLOB                                  -- the wrap-up Bundle, AES-GCM; NULL before wrap-up
);
"""


@dataclass(frozen=True)
class JournalEntry:
    """The visit the journal knows about."""

    visit_id: str
    appointment_id: str
    state: RoomState
    bundle: bytes | None


class Journal:
    """One row: the current visit and its state; gone when the room is idle."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._aes = AESGCM(key)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _fail(self, exc: sqlite3.Error) -> RoomError:
        return RoomError(f"room journal {self.path}: {type(exc).__name__}: {exc}")

    async def open(self) -> None:
        """Open (or create) the journal file."""

        def work() -> None:
            try:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
            self._db = db

        await self._run(work)

    async def aclose(self) -> None:
        """Close the file."""
        db, self._db = self._db, None
        if db is not None:
            await self._run(db.close)
        self._executor.shutdown(wait=False)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RoomError(f"room journal {self.path} is not open")
        return self._db

    async def read(self) -> JournalEntry | None:
        """The visit in the journal, if any (its Bundle opened)."""
        db = self._conn()

        def work() -> tuple[str, str, str, bytes | None, bytes | None] | None:
            try:
                row: tuple[str, str, str, bytes | None, bytes | None] | None = db.execute(
                    "SELECT visit_id, appointment_id, state, nonce, sealed FROM visit WHERE slot = 1"
                ).fetchone()
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
            return row

        row = await self._run(work)
        if row is None:
            return None
        visit_id, appointment_id, state, nonce, sealed = row
        bundle = None
        if nonce is not None and sealed is not None:
            try:
                bundle = zlib.decompress(self._aes.decrypt(nonce, sealed, visit_id.encode()))
            except (InvalidTag, zlib.error) as exc:
                raise RoomError(
                    f"room journal {self.path}: the wrap-up of visit {visit_id} does not open "
                    "with this key (another key, or the file was altered)"
                ) from exc
        return JournalEntry(visit_id, appointment_id, RoomState(state), bundle)

    async def write(
        self, visit_id: str, appointment_id: str, state: RoomState, bundle: bytes | None = None
    ) -> None:
        """Record the visit's state (and, at wrap-up, its sealed Bundle) in one transaction."""
        db = self._conn()
        nonce = sealed = None
        if bundle is not None:
            nonce = os.urandom(12)
            sealed = self._aes.encrypt(nonce, zlib.compress(bundle), visit_id.encode())

        def work() -> None:
            try:
                db.execute(
                    "INSERT INTO visit (slot, visit_id, appointment_id, state, updated, nonce, sealed)"
                    " VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (slot) DO UPDATE SET"
                    " visit_id = excluded.visit_id, appointment_id = excluded.appointment_id,"
                    " state = excluded.state, updated = excluded.updated,"
                    " nonce = COALESCE(excluded.nonce, visit.nonce),"
                    " sealed = COALESCE(excluded.sealed, visit.sealed)",
                    (visit_id, appointment_id, state.value, time.time(), nonce, sealed),
                )
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc

        await self._run(work)

    async def clear(self) -> None:
        """Forget the visit: the room is idle."""
        db = self._conn()

        def work() -> None:
            try:
                db.execute("DELETE FROM visit WHERE slot = 1")
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc

        await self._run(work)


async def recover_visit(journal: Journal, outbox: Outbox, audit: AuditLog, room_id: str) -> str | None:
    """A visit left in the journal by a crash: replay its wrap-up if sealed, else drop it (audited).

    Returns the appointment of a visit dropped before its wrap-up (the room books it
    again), else ``None``.
    """
    entry = await journal.read()
    if entry is None:
        return None
    detail = {"visit": entry.visit_id, "state": entry.state.value, "reason": "recovered after a crash"}
    if entry.state is RoomState.WRAP_UP and entry.bundle is not None:
        # The same bytes again: every id in them is deterministic, so a bundle that did
        # reach the outbox before the crash lands on the server once all the same.
        ids = await outbox.put(entry.bundle)
        detail["outbox"] = ",".join(map(str, ids))
        action = "wrapped_up"
    elif entry.state in (RoomState.WRAP_UP, RoomState.CLEANING):
        action = "wrapped_up" if entry.state is RoomState.CLEANING else "aborted"
    else:
        action = "aborted"
    from telemedroom.session.audit import AuditAction  # the session layer, when a room opens

    audit.append(
        AuditAction(action),
        actor=room_id,
        role="room",
        room=room_id,
        appointment=entry.appointment_id,
        detail=detail,
    )
    await journal.clear()
    logger.warning(
        "room %s: visit %s was %s at a crash; room is idle",
        room_id,
        entry.visit_id,
        entry.state.value,
    )
    return entry.appointment_id if action == "aborted" else None
