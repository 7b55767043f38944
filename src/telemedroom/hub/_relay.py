"""Signaling across hub replicas: the visits in PostgreSQL, the messages by ``LISTEN/NOTIFY``.

Each replica keeps its own WebSockets; everything another replica must know lives in
PostgreSQL: who is in which visit, waiting or admitted, on which replica, the visit's
end and the subjects its physician removed. A change (join, admit, deny, leave, end,
remove, a dropped connection) is one transaction under the visit's advisory lock; then
every replica with a participant in the visit is told to re-read it (``NOTIFY`` on its
own channel), together with the messages for its participants (``admitted``,
``denied``...). Offers, answers, ICE candidates and vitals go straight to the replica
of their addressee.

``NOTIFY`` payloads end at 8000 bytes, and an SDP offer with its candidates can be
larger: such a message is stored in ``signaling_messages`` and only its id is notified,
in the same statement, so the row is committed when the notification arrives (no
chunks to reassemble, no partial message if a replica dies between two of them).
Each replica handles its notifications one at a time, in the order sent.

A replica is alive while its listening connection is: its ``application_name`` is
``telemedroom-signaling:<replica>`` in ``pg_stat_activity``. When a replica dies (even
by SIGKILL, its sockets close and PostgreSQL ends its sessions), the others mark its
participants disconnected; they resume on any replica with their resume key within the
resume window, else they leave.

When PostgreSQL restarts (or ends the replica's sessions), the replica is deaf for a
moment: ``/readyz`` fails, and it connects again with backoff. Notifications sent
meanwhile are lost and the others may have swept its participants, so once it listens
again it closes its participants' WebSockets with 1012 ("service restart", not final):
their clients resume with their resume key and read the visit as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from itertools import count
from typing import Any, Final, Self

from telemedroom._aio import stop_tasks
from telemedroom._backoff import backoff_delay
from telemedroom.errors import HubError, MissingExtraError, TokenError, TokenRefusal
from telemedroom.hub._store import DATABASE_GONE, expire_pool
from telemedroom.session import protocol as p
from telemedroom.session.audit import AuditAction
from telemedroom.session.signaling import SignalingConfig, _Connection, _Hub, _Participant, _Visit
from telemedroom.session.tokens import JoinClaims

try:
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
except ImportError as _exc:
    raise MissingExtraError("postgres", "telemedroom.hub") from _exc

__all__ = ["PostgresRelay"]

logger = logging.getLogger("telemedroom.hub.relay")

_APPLICATION: Final = "telemedroom-signaling:"
_SCHEMA_LOCK: Final = 0x7E1E_0003
# NOTIFY's payload limit is 8000 bytes; leave room for the JSON around the message.
_INLINE_MAX: Final = 7000
# Reconnecting after PostgreSQL went away: waits from 0.2 s up to 5 s between tries.
_RECONNECT_BASE: Final = 0.2
_RECONNECT_CAP: Final = 5.0
# How long a notification waits for the reconnection before it is given up (and logged).
_SEND_PATIENCE: Final = 30.0
# "Service restart": not a final close code, the clients resume.
_RESUME_ELSEWHERE: Final = 1012

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS signaling_visits (
    room        text NOT NULL,
    appointment text NOT NULL,
    ended       boolean NOT NULL DEFAULT false,
    removed     text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (room, appointment)
);
CREATE TABLE IF NOT EXISTS signaling_participants (
    id              text PRIMARY KEY,
    room            text NOT NULL,
    appointment     text NOT NULL,
    token_id        text NOT NULL UNIQUE,
    claims          jsonb NOT NULL,
    state           text NOT NULL,
    was_admitted    boolean NOT NULL,
    resume_hash     text NOT NULL,
    replica         text,
    connection      text,
    joined_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    disconnected_at timestamptz,
    FOREIGN KEY (room, appointment) REFERENCES signaling_visits ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS signaling_participants_visit ON signaling_participants (room, appointment);
CREATE TABLE IF NOT EXISTS signaling_messages (
    id         bigserial PRIMARY KEY,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

_Key = tuple[str, str]
# (replica or None for this one, participant id, a message's JSON or a close code)
_Outgoing = tuple[str | None, str, str | int]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class PostgresRelay:
    """Serve the signaling of two or more hub replicas from one PostgreSQL database.

    Pass it as ``SignalingConfig(relay=...)`` and open it (``async with``) before the
    server takes connections; the hub does both when it issues join tokens.

    Args:
        dsn: The PostgreSQL DSN (the hub's ``database_url``).
        replica: This replica's name (unique among the running ones; random by default).
        sweep_every: Seconds between looks for participants of dead replicas and
            for places past their resume window.

    Attributes:
        reconnects: How often it connected again after PostgreSQL went away.

    Examples:
        >>> relay = PostgresRelay("postgresql:///hub", replica="a1")
        >>> relay.channel
        'telemedroom_signaling_a1'
    """

    def __init__(self, dsn: str, *, replica: str | None = None, sweep_every: float = 1.0) -> None:
        self.dsn = dsn
        self.replica = replica or secrets.token_hex(6)
        self.channel = f"telemedroom_signaling_{self.replica}"
        self.sweep_every = sweep_every
        self._keeper: _RelayedVisits | None = None
        self._pool: Any = None
        self._listener: Any = None
        self._sender: Any = None
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._relistening: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.reconnects = 0

    def visits(self, config: SignalingConfig) -> _Hub:
        """The signaling server's visit keeper, backed by this relay (``create_app`` calls it)."""
        if config.sfu is not None:
            raise HubError("the PostgreSQL relay serves peer-to-peer visits only, not an SFU")
        self._keeper = _RelayedVisits(config, self)
        return self._keeper

    @property
    def pool(self) -> Any:
        """The asyncpg pool (once open)."""
        if self._pool is None:
            raise HubError("the signaling relay is not open: use `async with relay`")
        return self._pool

    async def __aenter__(self) -> Self:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=5)
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await connection.execute(_SCHEMA)
            await self._connect()
        except (OSError, asyncpg.PostgresError) as exc:
            await self.aclose()
            raise HubError(f"the signaling relay cannot open {self.dsn.split('@')[-1]}: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._receive_loop()),
            asyncio.create_task(self._sweep_loop()),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _connect(self) -> None:
        """Open the listening and the sending connection (replacing any lost ones)."""
        name = {"application_name": f"{_APPLICATION}{self.replica}"}
        listener = await asyncpg.connect(self.dsn, server_settings=name)
        try:
            await listener.add_listener(self.channel, self._notified)
            sender = await asyncpg.connect(self.dsn)
        except BaseException:
            await listener.close()
            raise
        old = (self._listener, self._sender)
        self._listener, self._sender = listener, sender
        for connection in old:
            if connection is not None:
                connection.terminate()  # already lost: no goodbye to send
        # without its listener this replica is deaf to the others: /readyz says so, it reconnects
        listener.add_termination_listener(self._deaf)
        sender.add_termination_listener(self._deaf)
        self._listening.set()

    def _deaf(self, connection: Any) -> None:
        if not self._tasks or connection not in (self._listener, self._sender):  # closing, or replaced
            return
        self._listening.clear()
        if self._relistening is None or self._relistening.done():
            logger.error("the signaling relay lost its PostgreSQL connection; reconnecting")
            self._relistening = asyncio.get_running_loop().create_task(self._relisten())

    async def _relisten(self) -> None:
        await expire_pool(self.pool)  # the pool's connections were ended too: none is handed out again
        for attempt in count():
            try:
                await self._connect()
                break
            except (*DATABASE_GONE, asyncpg.PostgresError) as exc:
                delay = backoff_delay(attempt, base=_RECONNECT_BASE, cap=_RECONNECT_CAP, jitter=0.2)
                logger.warning(
                    "the signaling relay cannot reach PostgreSQL (%s); again in %.1f s", exc, delay
                )
                await asyncio.sleep(delay)  # the backoff's pause, not a wait for a condition
        await expire_pool(self.pool)
        self.reconnects += 1
        logger.warning("the signaling relay listens again; its participants resume")
        if self._keeper is not None:
            self._keeper.resume_all(_RESUME_ELSEWHERE)

    async def aclose(self) -> None:
        """Stop relaying; this replica's participants are marked disconnected (they may resume elsewhere)."""
        await stop_tasks([*self._tasks, *([self._relistening] if self._relistening else [])])
        self._tasks = []
        self._relistening = None
        if self._keeper is not None:
            await self._keeper.aclose()
        if self._pool is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._pool.execute(
                    "UPDATE signaling_participants SET state = 'disconnected', replica = NULL,"
                    " connection = NULL, disconnected_at = now() WHERE replica = $1",
                    self.replica,
                )
        for connection in (self._listener, self._sender):
            if connection is not None:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    await connection.close()
        self._listener = self._sender = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def alive(self) -> bool:
        """Whether this replica listens (the readiness probe); ``False`` while it reconnects."""
        return self._listening.is_set() and self._listener is not None and not self._listener.is_closed()

    # -- notifications -------------------------------------------------------------------------

    def notify(self, replica: str, payload: dict[str, Any]) -> None:
        """Queue a notification for ``replica`` (sent in order by one task)."""
        self._outbox.put_nowait((f"telemedroom_signaling_{replica}", json.dumps(payload)))

    async def _send_loop(self) -> None:
        while True:
            channel, payload = await self._outbox.get()
            logger.debug("%s notifies %s: %s", self.replica, channel, payload[:200])
            await self.once_reachable(functools.partial(self._send, channel, payload), f"notify {channel}")

    async def _send(self, channel: str, payload: str) -> None:
        if len(payload.encode()) <= _INLINE_MAX:
            await self._sender.execute("SELECT pg_notify($1, $2)", channel, payload)
        else:  # the row and the notification commit together
            await self._sender.execute(
                "WITH m AS (INSERT INTO signaling_messages (body) VALUES ($2) RETURNING id)"
                " SELECT pg_notify($1, '@' || id) FROM m",
                channel,
                payload,
            )

    async def once_reachable(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``work``; if PostgreSQL went away meanwhile, once more after reconnecting (in order).

        Any other database error, or no reconnection within 30 s, is logged as "cannot ``what``".
        """
        for last in (False, True):
            try:
                await work()
                return
            except DATABASE_GONE:
                if last or not await self._reconnected():
                    logger.exception("cannot %s", what)
                    return
            except asyncpg.PostgresError:
                logger.exception("cannot %s", what)
                return

    async def _reconnected(self) -> bool:
        """Wait (a while) for the connections to come back; whether they did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_SEND_PATIENCE):
                await self._listening.wait()
        return self._listening.is_set()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._inbox.put_nowait(payload)

    async def _receive_loop(self) -> None:
        while True:
            payload = await self._inbox.get()
            try:
                if payload.startswith("@"):
                    payload = await self.pool.fetchval(
                        "DELETE FROM signaling_messages WHERE id = $1 RETURNING body", int(payload[1:])
                    )
                    if payload is None:
                        continue
                if self._keeper is not None:
                    await self._keeper.notified(json.loads(payload))
            except Exception:  # one bad notification must not stop the relay
                logger.exception("cannot handle a notification")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every)  # the sweep's period, not a wait for a condition
            if self._keeper is None:
                continue
            try:
                await self._keeper.sweep()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                logger.exception("cannot sweep the signaling tables")

    # -- the database --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self, key: _Key) -> AsyncIterator[Any]:
        """A connection in a transaction holding the visit's advisory lock."""
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", json.dumps(key))
            yield connection

    async def read(self, key: _Key) -> tuple[bool, list[str], list[Any]]:
        """The visit: ended, removed subjects, participant rows (oldest first)."""
        async with self.pool.acquire() as connection:
            return await _read(connection, key)

    async def live_replicas(self, connection: Any) -> set[str]:
        """Names of the replicas whose listening connection is open."""
        rows = await connection.fetch(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE $1",
            f"{_APPLICATION}%",
        )
        return {row["application_name"][len(_APPLICATION) :] for row in rows}


async def _read(connection: Any, key: _Key) -> tuple[bool, list[str], list[Any]]:
    visit = await connection.fetchrow(
        "SELECT ended, removed FROM signaling_visits WHERE room = $1 AND appointment = $2", *key
    )
    rows = await connection.fetch(
        "SELECT id, claims, state, was_admitted, replica FROM signaling_participants"
        " WHERE room = $1 AND appointment = $2 ORDER BY joined_at",
        *key,
    )
    if visit is None:
        return False, [], []
    return bool(visit["ended"]), list(visit["removed"]), list(rows)


async def _replicas(connection: Any, key: _Key) -> set[str]:
    rows = await connection.fetch(
        "SELECT DISTINCT replica FROM signaling_participants"
        " WHERE room = $1 AND appointment = $2 AND replica IS NOT NULL",
        *key,
    )
    return {row["replica"] for row in rows}


class _Remote:
    """The connection of a participant on another replica: what is sent to it is notified there."""

    def __init__(self, relay: PostgresRelay, replica: str, participant: str) -> None:
        self.relay, self.replica, self.participant = relay, replica, participant

    def send(self, message: p.ServerMessage) -> None:
        self.relay.notify(self.replica, {"m": [[self.participant, message.model_dump_json(by_alias=True)]]})

    def close(self, code: int) -> None:
        self.relay.notify(self.replica, {"m": [[self.participant, code]]})


class _RelayedVisits(_Hub):
    """The signaling server's visits kept in PostgreSQL.

    The in-memory ``_Hub`` with its state changes made in the database and mirrored on
    every replica; its checks and pure relays (offer, answer, ICE, vitals) are reused.
    """

    def __init__(self, config: SignalingConfig, relay: PostgresRelay) -> None:
        super().__init__(config)
        self.relay = relay
        self.local: dict[str, _Participant] = {}  # connected here, by participant id
        self._tags: dict[_Connection, str] = {}
        self._pending: dict[_Connection, Coroutine[Any, Any, bool]] = {}
        self._background: set[asyncio.Task[None]] = set()
        # detached by a mirror (removed in PostgreSQL): the notification that says why follows
        self._gone: dict[str, _Connection] = {}
        self.handlers.update(
            {
                "admit": self._later(self._admit_here),
                "deny": self._later(self._deny_here),
                "leave": self._later(self._leave_here),
                "end": self._later(self._end_here),
                "remove": self._later(self._remove_here),
            }
        )

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the seam in the connection loop --------------------------------------------------------

    def _later(self, handler: Any) -> Any:
        def record(connection: _Connection, participant: _Participant, message: Any) -> None:
            self._pending[connection] = handler(connection, participant, message)

        return record

    async def _handle(
        self, connection: _Connection, message: p.ClientMessage, room: str, appointment: str
    ) -> bool:
        alive = self._dispatch(connection, message, room, appointment)  # the checks, then a handler
        pending = self._pending.pop(connection, None)
        if pending is None:
            return alive
        try:
            return await pending
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # the client resumes after 1011 (not a final code), on this replica or another
            logger.exception("the signaling database failed; closing the connection")
            connection.close(1011)
            return False

    def _join(self, connection: _Connection, message: p.Join, room: str, appointment: str) -> bool:
        if message.v != p.PROTOCOL_VERSION:
            return super()._join(connection, message, room, appointment)  # refuses, changes nothing
        self._pending[connection] = self._join_here(connection, message, room, appointment)
        return True

    # -- joining --------------------------------------------------------------------------------

    async def _join_here(self, connection: _Connection, message: p.Join, room: str, appointment: str) -> bool:
        key = (room, appointment)
        try:
            claims = self.config.verifier.verify(
                message.token.get_secret_value(), room=room, appointment=appointment
            )
            visit = self.visits.setdefault(key, _Visit(room, appointment))
            fresh = _Participant(claims, visit)
            participant_id, state, resumed, before, tag = await self._take_place(
                claims, fresh, message.resume
            )
        except TokenError as exc:
            self._refuse_token(connection, exc, room, appointment)
            return False
        fresh.id = participant_id
        fresh.state = state  # type: ignore[assignment]
        fresh.was_admitted = state == "admitted"
        if resumed and message.resume is not None:
            fresh.resume_key = message.resume
        visit = self.visits.setdefault(key, _Visit(room, appointment))
        fresh.visit = visit
        fresh.connection = connection
        self._tags[connection] = tag
        connection.participant = fresh
        self.local[fresh.id] = fresh
        visit.participants[fresh.id] = fresh
        connection.send(
            p.Welcome(
                participant=fresh.id,
                role=claims.role,
                state="admitted" if fresh.state == "admitted" else "waiting",
                resume=fresh.resume_key,
                heartbeat=self.config.heartbeat,
                room=room,
                appointment=appointment,
                ice_servers=self._ice_servers(claims),
                recording=self.config.recording,
                sfu=False,
            )
        )
        if fresh.state == "admitted" and claims.role != "physician":
            connection.send(p.Admitted())
        logger.info("%s %s (%s) in room %s", "resumed" if resumed else "joined", fresh.id, claims.role, room)
        action = AuditAction.RESUMED if resumed else AuditAction.JOINED
        self._audit(action, claims.subject, claims.role, room, appointment, fresh.id)
        if not resumed and self.config.recording and claims.role == "physician":
            self._audit(
                AuditAction.SESSION_STARTED, claims.subject, claims.role, room, appointment, "recording on"
            )
        await self._publish(key, before, [])
        return True

    async def _take_place(
        self, claims: JoinClaims, fresh: _Participant, resume: str | None
    ) -> tuple[str, str, bool, set[str], str]:
        """Insert the participant, or resume its place: (id, state, resumed, replicas before, tag)."""
        key = (claims.room, claims.appointment)
        tag = secrets.token_hex(8)
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            visit = await db.fetchrow(
                "SELECT ended, removed FROM signaling_visits WHERE room = $1 AND appointment = $2", *key
            )
            if visit is not None and visit["ended"]:
                raise TokenError(TokenRefusal.EXPIRED, "the visit has ended", token_id=claims.token_id)
            if visit is not None and claims.subject in visit["removed"]:
                raise TokenError(
                    TokenRefusal.EXPIRED, "removed from the visit by its physician", token_id=claims.token_id
                )
            known = await db.fetchrow(
                "SELECT id, room, appointment, state, was_admitted, resume_hash, replica"
                " FROM signaling_participants WHERE token_id = $1 FOR UPDATE",
                claims.token_id,
            )
            if known is not None:
                if (
                    resume is None
                    or (known["room"], known["appointment"]) != key
                    or not hmac.compare_digest(known["resume_hash"], _digest(resume))
                    or not await self._place_is_free(db, known)
                ):
                    raise TokenError(
                        TokenRefusal.ALREADY_CONNECTED,
                        "this token is in use by another connection",
                        token_id=claims.token_id,
                    )
                state = "admitted" if known["was_admitted"] else "waiting"
                await db.execute(
                    "UPDATE signaling_participants SET state = $2, replica = $3, connection = $4,"
                    " disconnected_at = NULL WHERE id = $1",
                    known["id"],
                    state,
                    self.relay.replica,
                    tag,
                )
                return known["id"], state, True, before, tag
            await db.execute(
                "INSERT INTO signaling_visits (room, appointment) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                *key,
            )
            await db.execute(
                "INSERT INTO signaling_participants (id, room, appointment, token_id, claims, state,"
                " was_admitted, resume_hash, replica, connection)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                fresh.id,
                *key,
                claims.token_id,
                claims.model_dump_json(),
                fresh.state,
                fresh.state == "admitted",
                _digest(fresh.resume_key),
                self.relay.replica,
                tag,
            )
            return fresh.id, fresh.state, False, before, tag

    async def _place_is_free(self, db: Any, known: Any) -> bool:
        """A place may be resumed when dropped, or held by a dead replica (or a dead socket here)."""
        if known["state"] == "disconnected" or known["replica"] is None:
            return True
        if known["replica"] == self.relay.replica:
            here = self.local.get(known["id"])
            return here is None or here.connection is None
        return known["replica"] not in await self.relay.live_replicas(db)

    # -- physician actions ----------------------------------------------------------------------

    async def _admit_here(self, connection: _Connection, physician: _Participant, message: p.Admit) -> bool:
        key = self._key(physician)
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            row = await db.fetchrow(
                "UPDATE signaling_participants SET state = 'admitted', was_admitted = true"
                " WHERE id = $1 AND room = $2 AND appointment = $3 AND state = 'waiting'"
                " RETURNING replica, claims",
                message.participant,
                *key,
            )
        if row is None:
            return self._not_waiting(connection, message.participant, "admit")
        role = JoinClaims.model_validate_json(row["claims"]).role
        logger.info("%s admitted %s", physician.id, message.participant)
        self._audit(
            AuditAction.ADMITTED,
            physician.claims.subject,
            "physician",
            *key,
            message.participant,
            participant_role=role,
        )
        await self._publish(key, before, [(row["replica"], message.participant, _json(p.Admitted()))])
        return True

    async def _deny_here(self, connection: _Connection, physician: _Participant, message: p.Deny) -> bool:
        key = self._key(physician)
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            row = await db.fetchrow(
                "DELETE FROM signaling_participants WHERE id = $1 AND room = $2 AND appointment = $3"
                " AND state = 'waiting' RETURNING replica",
                message.participant,
                *key,
            )
        if row is None:
            return self._not_waiting(connection, message.participant, "deny")
        logger.info("%s denied %s", physician.id, message.participant)
        self._audit(AuditAction.DENIED, physician.claims.subject, "physician", *key, message.participant)
        denied = _json(p.Denied(reason=message.reason))
        await self._publish(
            key,
            before,
            [(row["replica"], message.participant, denied), (row["replica"], message.participant, 4403)],
        )
        return True

    async def _remove_here(self, connection: _Connection, physician: _Participant, message: p.Remove) -> bool:
        key = self._key(physician)
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            row = await db.fetchrow(
                "DELETE FROM signaling_participants WHERE id = $1 AND room = $2 AND appointment = $3"
                " AND id <> $4 RETURNING replica, claims",
                message.participant,
                *key,
                physician.id,
            )
            if row is not None:
                claims = JoinClaims.model_validate_json(row["claims"])
                await db.execute(
                    "UPDATE signaling_visits SET removed = array_append(removed, $3)"
                    " WHERE room = $1 AND appointment = $2",
                    *key,
                    claims.subject,
                )
        if row is None:
            connection.send(
                p.Error(code="not_found", message=f"no one else with id {message.participant}", ref="remove")
            )
            return True
        logger.info("%s removed %s", physician.id, message.participant)
        self._audit(
            AuditAction.REMOVED,
            physician.claims.subject,
            "physician",
            *key,
            message.participant,
            participant_role=claims.role,
        )
        removed = _json(p.Removed(by=physician.id, reason=message.reason))
        out: list[_Outgoing] = [(row["replica"], message.participant, removed)]
        if row["replica"] is not None:
            out.append((row["replica"], message.participant, 4410))
        await self._publish(key, before, out)
        return True

    async def _end_here(self, connection: _Connection, physician: _Participant, _message: p.End) -> bool:
        key = self._key(physician)
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            await db.execute(
                "UPDATE signaling_visits SET ended = true WHERE room = $1 AND appointment = $2", *key
            )
            rows = await db.fetch(
                "DELETE FROM signaling_participants WHERE room = $1 AND appointment = $2"
                " RETURNING id, replica",
                *key,
            )
        logger.info("%s ended the visit in room %s", physician.id, key[0])
        self._audit(AuditAction.ENDED, physician.claims.subject, "physician", *key, physician.id)
        ended = _json(p.Ended(by=physician.id))
        out: list[_Outgoing] = []
        for row in rows:
            if row["replica"] is not None:
                out += [(row["replica"], row["id"], ended), (row["replica"], row["id"], 1000)]
        await self._publish(key, before, out)
        return False

    async def _leave_here(
        self, connection: _Connection, participant: _Participant, _message: p.Leave
    ) -> bool:
        key = self._key(participant)
        logger.info("%s left", participant.id)
        self._audit(
            AuditAction.LEFT, participant.claims.subject, participant.claims.role, *key, participant.id
        )
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            await db.execute("DELETE FROM signaling_participants WHERE id = $1", participant.id)
        await self._publish(key, before, [(self.relay.replica, participant.id, 1000)])
        return False

    def resume_all(self, code: int) -> None:
        """Close every WebSocket here with ``code`` (not final): its client resumes and re-reads the visit."""
        for participant in list(self.local.values()):
            if isinstance(participant.connection, _Connection):
                participant.connection.close(code)

    def _not_waiting(self, connection: _Connection, target: str, ref: str) -> bool:
        connection.send(p.Error(code="not_found", message=f"no one waiting with id {target}", ref=ref))
        return True

    # -- leaving --------------------------------------------------------------------------------

    def _disconnected(self, connection: _Connection) -> None:
        participant = connection.participant
        tag = self._tags.pop(connection, None)
        for pid in [pid for pid, gone in self._gone.items() if gone is connection]:
            del self._gone[pid]
        if participant is None or participant.connection is not connection:
            return
        connection.participant = None
        participant.connection = None
        participant.state = "disconnected"
        self.local.pop(participant.id, None)
        self._spawn(self._dropped(self._key(participant), participant.id, tag))

    async def _dropped(self, key: _Key, participant: str, tag: str | None) -> None:
        # after PostgreSQL went away, marked once the relay is back (else its client could
        # not resume here: the place would still look connected)
        mark = functools.partial(self._mark_dropped, key, participant, tag)
        await self.relay.once_reachable(mark, f"mark {participant} disconnected")

    async def _mark_dropped(self, key: _Key, participant: str, tag: str | None) -> None:
        async with self.relay.locked(key) as db:
            before = await _replicas(db, key)
            await db.execute(
                "UPDATE signaling_participants SET state = 'disconnected', replica = NULL, connection = NULL,"
                " disconnected_at = now() WHERE id = $1 AND connection = $2",
                participant,
                tag,
            )
        await self._publish(key, before, [])

    async def sweep(self) -> None:
        """Mark the participants of dead replicas disconnected; let places past the resume window go."""
        async with self.relay.pool.acquire() as db:
            # who is alive is read in the same statement: read before it, a replica that came
            # back (and a participant that resumed there) in between would be swept as dead
            orphaned = await db.fetch(
                "UPDATE signaling_participants SET state = 'disconnected', replica = NULL, connection = NULL,"
                " disconnected_at = now() WHERE replica IS NOT NULL AND replica NOT IN ("
                " SELECT substr(application_name, $2) FROM pg_stat_activity WHERE application_name LIKE $1)"
                " RETURNING room, appointment, id",
                f"{_APPLICATION}%",
                len(_APPLICATION) + 1,
            )
            expired = await db.fetch(
                "DELETE FROM signaling_participants WHERE state = 'disconnected'"
                " AND disconnected_at < now() - make_interval(secs => $1)"
                " RETURNING room, appointment, id, claims",
                self.config.resume_window,
            )
            await db.execute("DELETE FROM signaling_messages WHERE created_at < now() - interval '5 minutes'")
        for row in orphaned:
            logger.info("%s lost its replica; it may resume on this one", row["id"])
        for row in expired:
            claims = JoinClaims.model_validate_json(row["claims"])
            logger.info("%s did not resume", row["id"])
            self._audit(
                AuditAction.LEFT, claims.subject, claims.role, row["room"], row["appointment"], row["id"]
            )
        for key in {(row["room"], row["appointment"]) for row in [*orphaned, *expired]}:
            await self._publish(key, set(), [])

    # -- telling every replica --------------------------------------------------------------------

    async def _publish(self, key: _Key, before: set[str], out: list[_Outgoing]) -> None:
        """Settle the visit here and tell the other replicas in it to re-read it (with their messages)."""
        ended, removed, rows = await self.relay.read(key)
        me = self.relay.replica
        self._settle(key, ended, removed, rows, [(pid, item) for replica, pid, item in out if replica == me])
        others = (
            before | {row["replica"] for row in rows if row["replica"]} | {r for r, _, _ in out if r}
        ) - {me}
        for replica in sorted(others):
            mine = [[pid, item] for r, pid, item in out if r == replica]
            self.relay.notify(replica, {"v": list(key), "m": mine})

    async def notified(self, payload: dict[str, Any]) -> None:
        """One notification from another replica: re-read a visit, deliver messages."""
        messages = [(str(pid), item) for pid, item in payload.get("m", [])]
        logger.debug("%s notified: %s", self.relay.replica, payload)
        if "v" in payload:
            key = (str(payload["v"][0]), str(payload["v"][1]))
            ended, removed, rows = await self.relay.read(key)
            self._settle(key, ended, removed, rows, messages)
        else:
            self._deliver(messages)

    def _deliver(self, messages: list[tuple[str, str | int]]) -> None:
        for pid, item in messages:
            participant = self.local.get(pid)
            if participant is None or participant.connection is None:
                continue
            if isinstance(item, int):
                participant.connection.close(item)
            else:
                participant.connection._put(item)

    def _settle(
        self,
        key: _Key,
        ended: bool,
        removed: list[str],
        rows: list[Any],
        messages: list[tuple[str, str | int]],
    ) -> None:
        """Mirror the visit's rows, then deliver ``messages`` and send the rosters (no await between)."""
        # resolved before the mirror: a change read here may already have detached its addressee
        targets = [(self._socket_of(pid), pid, item) for pid, item in messages]
        visit = self.visits.get(key)
        if visit is None and rows:
            visit = self.visits[key] = _Visit(*key)
        if visit is not None:
            self._mirror(visit, ended, removed, rows)
        for connection, pid, item in targets:
            if connection is None:
                continue
            if isinstance(item, int):
                connection.close(item)
                self._gone.pop(pid, None)
            else:
                connection._put(item)
        if visit is not None and visit.participants:
            self._roster(visit)

    def _socket_of(self, pid: str) -> _Connection | None:
        participant = self.local.get(pid)
        if participant is not None and isinstance(participant.connection, _Connection):
            return participant.connection
        return self._gone.get(pid)

    def _mirror(self, visit: _Visit, ended: bool, removed: list[str], rows: list[Any]) -> None:
        me = self.relay.replica
        visit.ended = ended
        visit.removed = set(removed)
        seen: set[str] = set()
        for row in rows:
            pid = row["id"]
            seen.add(pid)
            participant = visit.participants.get(pid) or self.local.get(pid)
            if participant is None:
                participant = _Participant(JoinClaims.model_validate_json(row["claims"]), visit)
                participant.id = pid
            visit.participants[pid] = participant
            participant.state = row["state"]
            participant.was_admitted = row["was_admitted"]
            if row["replica"] == me and pid in self.local:
                continue  # connected here: keeps its WebSocket
            if pid in self.local:  # resumed on another replica meanwhile: let this socket go
                self._detach(self.local.pop(pid), 4408)
            participant.connection = (
                _Remote(self.relay, row["replica"], pid)  # type: ignore[assignment]
                if row["replica"] and row["replica"] != me
                else None
            )
        for pid in set(visit.participants) - seen:
            visit.participants.pop(pid)
            if pid in self.local:
                self._detach(self.local.pop(pid), None)
        if not visit.participants:
            self.visits.pop((visit.room, visit.appointment), None)

    def _detach(self, participant: _Participant, code: int | None) -> None:
        connection = participant.connection
        participant.connection = None
        if isinstance(connection, _Connection):
            connection.participant = None
            self._gone[participant.id] = connection  # still gets the messages that say why
            if code is not None:
                connection.close(code)

    def _roster(self, visit: _Visit) -> None:
        # each replica sends the roster to its own participants
        everyone = [q.info for q in visit.participants.values()]
        admitted = [q.info for q in visit.participants.values() if q.state == "admitted"]
        for participant in visit.participants.values():
            if participant.id not in self.local or participant.connection is None:
                continue
            if participant.state != "admitted":
                continue
            shown = everyone if participant.claims.role == "physician" else admitted
            participant.connection.send(p.Roster(participants=shown))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _json(message: p.ServerMessage) -> str:
    return message.model_dump_json(by_alias=True)
