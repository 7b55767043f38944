"""The hub's state in PostgreSQL: staff sessions, login attempts, room reports, the audit chain.

Nothing is kept in a replica's memory that another replica would need: two hub
processes on one database serve the same sessions, fleet and audit log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from telemedroom.errors import HubError, MissingExtraError
from telemedroom.session.audit import GENESIS, AuditAction, AuditEntry
from telemedroom.session.heartbeat import Heartbeat

try:
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
except ImportError as _exc:
    raise MissingExtraError("postgres", "telemedroom.hub") from _exc

__all__ = ["DATABASE_GONE", "HubStore", "RoomStatus", "StaffSession", "expire_pool"]

DATABASE_GONE: Final = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # ended by a shutdown or an administrator
    # a pooled connection PostgreSQL ended meanwhile, handed out until the pool expires it
    asyncpg.exceptions.InternalClientError,
)
"""The errors that say the connection to PostgreSQL is gone (a restart, a network cut)."""


async def expire_pool(pool: Any) -> None:
    """Drop an asyncpg ``pool``'s connections (PostgreSQL went away): the next use opens new ones."""
    with contextlib.suppress(*DATABASE_GONE, asyncpg.PostgresError):
        await pool.expire_connections()


# Advisory lock keys (any two constants of our own): the schema, and the audit chain's head.
_SCHEMA_LOCK: Final = 0x7E1E_0001
_AUDIT_LOCK: Final = 0x7E1E_0002

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS hub_sessions (
    id_hash      text PRIMARY KEY,
    subject      text NOT NULL,
    name         text NOT NULL,
    roles        text[] NOT NULL,
    via          text NOT NULL,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS hub_login_states (
    state_hash text PRIMARY KEY,
    nonce      text NOT NULL,
    verifier   text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS hub_rooms (
    room        text PRIMARY KEY,
    boot        text NOT NULL,
    sequence    bigint NOT NULL,
    sent_at     timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    report      jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS hub_heartbeats (
    room        text NOT NULL,
    boot        text NOT NULL,
    sequence    bigint NOT NULL,
    sent_at     timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    report      jsonb NOT NULL,
    PRIMARY KEY (room, boot, sequence)
);
CREATE TABLE IF NOT EXISTS hub_audit (
    index bigint PRIMARY KEY,
    entry jsonb NOT NULL
);
"""


def digest(secret: str) -> str:
    """SHA-256 (hex) of a session id or login state: the database never holds the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class StaffSession:
    """A logged-in staff member.

    Attributes:
        subject: The IdP's ``sub`` (or the local account's name).
        name: Shown on the pages.
        roles: ``physician`` and/or ``operator``.
        via: ``"oidc"`` or ``"local"``.
        csrf: The session's CSRF token (in every form and ``X-CSRF-Token`` header).
        expires_at: When it ends at the latest.
    """

    subject: str
    name: str
    roles: frozenset[str]
    via: str
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class RoomStatus:
    """A room's latest report and when it arrived."""

    report: Heartbeat
    received_at: datetime


class HubStore:
    """The hub's tables on one asyncpg pool (``async with HubStore(dsn) as store``).

    Examples:
        >>> HubStore("postgresql:///hub").dsn
        'postgresql:///hub'
    """

    def __init__(self, dsn: str, *, max_size: int = 10) -> None:
        self.dsn = dsn
        self._max_size = max_size
        self._pool: Any = None

    async def __aenter__(self) -> HubStore:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self._max_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise HubError(f"the hub database {self.dsn.split('@')[-1]} cannot be opened: {exc}") from exc
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await connection.execute(_SCHEMA)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> Any:
        """The open pool."""
        if self._pool is None:
            raise HubError("the hub store is not open")
        return self._pool

    async def ping(self) -> bool:
        """Whether the database answers (the readiness probe)."""
        try:
            async with self.pool.acquire(timeout=2) as connection:
                return bool(await connection.fetchval("SELECT true"))
        except DATABASE_GONE:
            await self.reconnect()
            return False
        except (TimeoutError, asyncpg.PostgresError, HubError):
            return False

    async def reconnect(self) -> None:
        """Let go of every pooled connection (PostgreSQL went away): the next use opens new ones."""
        if self._pool is not None:
            await expire_pool(self._pool)

    # -- login attempts (single use: a replayed callback finds nothing) -------------------------

    async def add_login_state(self, state: str, nonce: str, verifier: str, now: datetime) -> None:
        """Remember one login attempt (its state, nonce and PKCE verifier)."""
        await self.pool.execute(
            "INSERT INTO hub_login_states VALUES ($1, $2, $3, $4)", digest(state), nonce, verifier, now
        )

    async def take_login_state(self, state: str, not_before: datetime) -> tuple[str, str] | None:
        """``(nonce, verifier)`` of a login attempt, consumed; ``None`` if unknown, used or too old."""
        row = await self.pool.fetchrow(
            "DELETE FROM hub_login_states WHERE state_hash = $1 RETURNING nonce, verifier, created_at",
            digest(state),
        )
        await self.pool.execute("DELETE FROM hub_login_states WHERE created_at < $1", not_before)
        if row is None or row["created_at"] < not_before:
            return None
        return str(row["nonce"]), str(row["verifier"])

    # -- staff sessions ---------------------------------------------------------------------------

    async def create_session(
        self,
        session_id: str,
        *,
        subject: str,
        name: str,
        roles: frozenset[str],
        via: str,
        csrf: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        """Store a new session under the digest of ``session_id``."""
        await self.pool.execute(
            "INSERT INTO hub_sessions VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            digest(session_id),
            subject,
            name,
            sorted(roles),
            via,
            csrf,
            now,
            expires_at,
        )

    async def touch_session(self, session_id: str, *, now: datetime, idle: timedelta) -> StaffSession | str:
        """The live session (its idle timer restarted), or why not: ``"no_session"``/``"session_expired"``.

        An expired session is deleted when found.
        """
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT * FROM hub_sessions WHERE id_hash = $1 FOR UPDATE", digest(session_id)
            )
            if row is None:
                return "no_session"
            if row["expires_at"] <= now or row["last_seen_at"] + idle <= now:
                await connection.execute("DELETE FROM hub_sessions WHERE id_hash = $1", digest(session_id))
                return "session_expired"
            await connection.execute(
                "UPDATE hub_sessions SET last_seen_at = $2 WHERE id_hash = $1", digest(session_id), now
            )
        return StaffSession(
            subject=row["subject"],
            name=row["name"],
            roles=frozenset(row["roles"]),
            via=row["via"],
            csrf=row["csrf"],
            expires_at=row["expires_at"],
        )

    async def delete_session(self, session_id: str) -> None:
        """End a session (logout)."""
        await self.pool.execute("DELETE FROM hub_sessions WHERE id_hash = $1", digest(session_id))

    # -- room reports -----------------------------------------------------------------------------

    async def record_heartbeat(self, heartbeat: Heartbeat, now: datetime) -> str:
        """Keep a verified report: ``"current"``, ``"late"`` (catch-up history) or ``"replayed"``."""
        report = heartbeat.model_dump_json(exclude_none=True)
        async with self.pool.acquire() as connection, connection.transaction():
            inserted = await connection.fetchval(
                "INSERT INTO hub_heartbeats VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
                " ON CONFLICT DO NOTHING RETURNING true",
                heartbeat.room,
                heartbeat.boot,
                heartbeat.sequence,
                heartbeat.sent_at,
                now,
                report,
            )
            if not inserted:
                return "replayed"
            newer = await connection.fetchval(
                "INSERT INTO hub_rooms VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
                " ON CONFLICT (room) DO UPDATE SET boot = $2, sequence = $3, sent_at = $4,"
                " received_at = $5, report = $6::jsonb"
                " WHERE hub_rooms.sent_at < $4 OR (hub_rooms.boot = $2 AND hub_rooms.sequence < $3)"
                " RETURNING true",
                heartbeat.room,
                heartbeat.boot,
                heartbeat.sequence,
                heartbeat.sent_at,
                now,
                report,
            )
            if not newer:
                # the newest report is still current: record that the room was heard from
                await connection.execute(
                    "UPDATE hub_rooms SET received_at = GREATEST(received_at, $2) WHERE room = $1",
                    heartbeat.room,
                    now,
                )
        return "current" if newer else "late"

    async def rooms(self) -> dict[str, RoomStatus]:
        """Every room's latest report."""
        rows = await self.pool.fetch("SELECT room, received_at, report FROM hub_rooms")
        return {
            row["room"]: RoomStatus(Heartbeat.model_validate_json(row["report"]), row["received_at"])
            for row in rows
        }

    async def history(self, room: str, limit: int = 50) -> list[Heartbeat]:
        """A room's reports, newest first."""
        rows = await self.pool.fetch(
            "SELECT report FROM hub_heartbeats WHERE room = $1 ORDER BY sent_at DESC LIMIT $2", room, limit
        )
        return [Heartbeat.model_validate_json(row["report"]) for row in rows]

    # -- the audit chain (one chain across replicas: the head is taken under a lock) -----------

    async def audit(
        self,
        action: AuditAction,
        *,
        actor: str,
        role: str,
        room: str = "",
        appointment: str = "",
        detail: Mapping[str, str] | None = None,
        at: datetime,
    ) -> AuditEntry:
        """Append one entry to the hub's hash-chained audit log."""
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _AUDIT_LOCK)
            last = await connection.fetchrow("SELECT index, entry FROM hub_audit ORDER BY index DESC LIMIT 1")
            previous = json.loads(last["entry"])["hash"] if last else GENESIS
            draft = AuditEntry.model_validate(
                {
                    "index": last["index"] + 1 if last else 0,
                    "at": at,
                    "action": action,
                    "actor": actor,
                    "role": role,
                    "room": room,
                    "appointment": appointment,
                    "detail": dict(detail or {}),
                    "previous": previous,
                    "hash": GENESIS,
                }
            )
            entry = draft.model_copy(update={"hash": draft.computed_hash()})
            await connection.execute(
                "INSERT INTO hub_audit VALUES ($1, $2::jsonb)", entry.index, entry.model_dump_json()
            )
        return entry

    async def audit_entries(self) -> list[AuditEntry]:
        """The whole audit chain, in order (verify with ``AuditLog.from_entries(...).verify()``)."""
        rows = await self.pool.fetch("SELECT entry FROM hub_audit ORDER BY index")
        return [AuditEntry.model_validate_json(row["entry"]) for row in rows]


def as_json(value: Any) -> str:
    """Compact JSON for an API answer."""
    return json.dumps(value, separators=(",", ":"), default=str)
