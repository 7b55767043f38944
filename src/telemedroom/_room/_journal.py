"""The room's crash journal: which visit is in which state, in one small SQLite file.

It holds no health data in the clear: the visit id, the appointment id and the state
only, plus, during wrap-up, the visit's transaction Bundle sealed with AES-GCM (the
room's key; the visit id is the associated data). Every write is one fsync'ed SQLite
transaction (WAL, ``synchronous=FULL``), so after a crash the journal shows either the
state before a step or the state after it, never half of one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telemedroom._room._events import RoomState
from telemedroom._sealed_journal import SealedJournal
from telemedroom.errors import RoomError

if TYPE_CHECKING:
    from telemedroom.fhir.outbox import Outbox
    from telemedroom.session.audit import AuditLog

__all__ = ["Journal", "JournalEntry", "recover_visit"]

logger = logging.getLogger("telemedroom.room")

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


class Journal(SealedJournal):
    """One row: the current visit and its state; gone when the room is idle."""

    SCHEMA = _SCHEMA
    NAME = "room journal"
    THREAD = "journal"
    ERROR = RoomError

    async def read(self) -> JournalEntry | None:
        """The visit in the journal, if any (its Bundle opened)."""
        rows: list[tuple[str, str, str, bytes | None, bytes | None]] = await self._execute(
            "SELECT visit_id, appointment_id, state, nonce, sealed FROM visit WHERE slot = 1"
        )
        if not rows:
            return None
        visit_id, appointment_id, state, nonce, sealed = rows[0]
        bundle = None
        if nonce is not None and sealed is not None:
            bundle = self._unseal(
                visit_id, nonce, sealed, what=f"the wrap-up of visit {visit_id}", decode=bytes
            )
        return JournalEntry(visit_id, appointment_id, RoomState(state), bundle)

    async def write(
        self, visit_id: str, appointment_id: str, state: RoomState, bundle: bytes | None = None
    ) -> None:
        """Record the visit's state (and, at wrap-up, its sealed Bundle) in one transaction."""
        nonce, sealed = (None, None) if bundle is None else self._seal(visit_id, bundle)
        await self._execute(
            "INSERT INTO visit (slot, visit_id, appointment_id, state, updated, nonce, sealed)"
            " VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (slot) DO UPDATE SET"
            " visit_id = excluded.visit_id, appointment_id = excluded.appointment_id,"
            " state = excluded.state, updated = excluded.updated,"
            " nonce = COALESCE(excluded.nonce, visit.nonce),"
            " sealed = COALESCE(excluded.sealed, visit.sealed)",
            (visit_id, appointment_id, state.value, time.time(), nonce, sealed),
        )

    async def clear(self) -> None:
        """Forget the visit: the room is idle."""
        await self._execute("DELETE FROM visit WHERE slot = 1")


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
