"""The signaling server: a Starlette ASGI app with a waiting room (extra ``server``).

``create_app(config)`` returns an app that serves

- ``/ws/{room}/{appointment}``: the WebSocket protocol of :mod:`telemedroom.session.protocol`
  (documented in ``docs/protocol.md``): join with a token, wait to be admitted, exchange
  offer/answer/ICE with the other admitted participants of the same appointment, leave
  or end; heartbeats and resume after a dropped connection;
- ``/console/``: the physician's browser console (static files, no build step);
- ``/healthz``: ``ok``.

Mount it inside a FastAPI/Starlette app or serve it with uvicorn (TLS with
``--ssl-certfile``/``--ssl-keyfile``); see ``docs/deployment.md``. The server never
logs tokens or message bodies: logs name the participant id, role, room and message type.

Examples:
    >>> import asyncio, httpx
    >>> from telemedroom.session import TokenIssuer, TokenVerifier
    >>> verifier = TokenVerifier(TokenIssuer.generate("k1").public_keys())
    >>> app = create_app(SignalingConfig(verifier=verifier))
    >>> async def main():
    ...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://room") as http:
    ...         return (await http.get("/healthz")).text
    >>> asyncio.run(main())
    'ok'
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

from telemedroom.errors import MissingExtraError, TokenError, TokenRefusal

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, RedirectResponse
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect
except ImportError as _exc:
    raise MissingExtraError("server", "telemedroom.session.signaling") from _exc

from telemedroom.session import protocol as p
from telemedroom.session._sfu_signaling import SfuVisits
from telemedroom.session.audit import AuditAction, AuditLog
from telemedroom.session.sfu import SfuConfig
from telemedroom.session.tokens import ActiveTokens, JoinClaims, TokenVerifier
from telemedroom.session.turn import IceServer, turn_credentials

__all__ = ["CLOSE_CODES", "LocalServer", "SignalingConfig", "SignalingRelay", "TurnConfig", "create_app"]

logger = logging.getLogger(__name__)

_CONSOLE_DIR: Final = Path(__file__).with_name("console")

# WebSocket close code -> meaning (4000-4999 are for applications, RFC 6455 §7.4.2).
CLOSE_CODES: Final[dict[int, str]] = {
    1000: "left, or the visit ended",
    1008: "Origin not allowed (sent before the handshake completes: HTTP 403)",
    4401: "join token refused",
    4403: "denied by the physician",
    4410: "removed from the visit by the physician who owns it",
    4408: "no message within three heartbeat intervals",
    4429: "the participant did not read its messages (send queue full)",
}

_SEND_QUEUE: Final = 256


@dataclass(frozen=True)
class TurnConfig:
    """A TURN server with coturn's shared-secret auth; credentials are made per participant.

    Attributes:
        urls: ``turn:``/``turns:`` URLs of the server.
        secret: coturn's ``static-auth-secret``.
        ttl: Lifetime of each credential, seconds.

    Examples:
        >>> TurnConfig(urls=["turn:turn.example.org:3478"], secret="s3cret")
        TurnConfig(urls=['turn:turn.example.org:3478'], ttl=3600)
    """

    urls: Sequence[str]
    secret: str = field(repr=False)
    ttl: int = 3600


@dataclass(frozen=True)
class SignalingConfig:
    """Everything the signaling app needs.

    Attributes:
        verifier: Checks join tokens.
        allowed_origins: Browser origins (``https://console.example.org``) allowed to
            open the WebSocket, besides this server's own (the console it serves). A
            request without ``Origin`` (a native client such as the room's peer) is
            allowed; browsers always send one.
        ice_servers: STUN/TURN servers handed to every participant.
        turn: A TURN server whose time-limited credentials are made per participant.
        heartbeat: Seconds between the client's pings; a connection silent for three
            intervals is closed (and may resume).
        resume_window: Seconds a dropped participant keeps its place for a resume.
        rate: Messages per second a connection may send on average...
        burst: ...and in one burst; the excess is dropped with a ``rate_limited`` error.
        audit: Where joins, admits, denials, leaves and ends are logged.
        recording: Whether the deployment records the visit (told to every participant
            in the welcome). telemedroom itself records nothing; off by default.
        serve_console: Serve the physician console at ``/console/``.
        clock: Monotonic seconds for the rate limit (injectable for tests).
        sfu: Run visits through a Janus SFU (multi-party; see :mod:`telemedroom.session.sfu`);
            ``None`` keeps every visit peer to peer with one physician.
        relay: Keep the visits in a shared backend so that two or more replicas serve
            them (``telemedroom.hub.PostgresRelay``); ``None`` keeps them in this process.

    Examples:
        >>> from telemedroom.session import TokenIssuer, TokenVerifier
        >>> config = SignalingConfig(verifier=TokenVerifier(TokenIssuer.generate("k1").public_keys()))
        >>> config.heartbeat, config.resume_window, config.recording
        (15.0, 30.0, False)
    """

    verifier: TokenVerifier
    allowed_origins: Sequence[str] = ()
    ice_servers: Sequence[IceServer] = ()
    turn: TurnConfig | None = None
    heartbeat: float = 15.0
    resume_window: float = 30.0
    rate: float = 20.0
    burst: int = 40
    audit: AuditLog | None = None
    recording: bool = False
    serve_console: bool = True
    clock: Callable[[], float] = time.monotonic
    sfu: SfuConfig | None = None
    relay: SignalingRelay | None = None


class SignalingRelay(Protocol):
    """A backend that carries a signaling server's visits across replicas.

    ``create_app`` asks it for the server's visit keeper instead of the in-memory one;
    ``telemedroom.hub.PostgresRelay`` is the implementation (PostgreSQL ``LISTEN/NOTIFY``).

    Examples:
        >>> from telemedroom.session.signaling import SignalingRelay
        >>> sorted(name for name in vars(SignalingRelay) if name == "visits")
        ['visits']
    """

    def visits(self, config: SignalingConfig) -> Any:
        """The object that serves ``/ws/{room}/{appointment}`` for ``config`` (private)."""
        ...


_State = Literal["waiting", "admitted", "disconnected"]


class _Participant:
    def __init__(self, claims: JoinClaims, visit: _Visit) -> None:
        self.id = f"{claims.role[:2]}-{secrets.token_hex(4)}"
        self.claims = claims
        self.visit = visit
        self.state: _State = "admitted" if claims.role == "physician" else "waiting"
        self.resume_key = secrets.token_urlsafe(24)
        self.connection: _Connection | None = None
        self.was_admitted = self.state == "admitted"
        self.expiry: asyncio.TimerHandle | None = None
        self.feed: int | None = None  # publisher id in the visit's Janus rooms (SFU mode)

    @property
    def info(self) -> p.ParticipantInfo:
        return p.ParticipantInfo(
            id=self.id, role=self.claims.role, name=self.claims.name, state=self.state, feed=self.feed
        )


@dataclass
class _Visit:
    room: str
    appointment: str
    participants: dict[str, _Participant] = field(default_factory=dict)
    ended: bool = False
    removed: set[str] = field(default_factory=set)  # subjects the owner removed: no way back in


class _Connection:
    """One WebSocket: an outbox drained by a writer task, so a slow reader stalls nobody."""

    def __init__(self, websocket: WebSocket, burst: int, now: float) -> None:
        self.websocket = websocket
        self.outbox: asyncio.Queue[str | int] = asyncio.Queue(_SEND_QUEUE)
        self.participant: _Participant | None = None
        self.tokens = float(burst)
        self.refilled = now
        self.limited = False

    def send(self, message: p.ServerMessage) -> None:
        self._put(message.model_dump_json(by_alias=True))

    def close(self, code: int) -> None:
        self._put(code)

    def _put(self, item: str | int) -> None:
        try:
            self.outbox.put_nowait(item)
        except asyncio.QueueFull:
            # The reader is stuck: drop everything queued and close it.
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(4429)

    async def writer(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, int):
                with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                    await self.websocket.close(code=item)
                return
            try:
                await self.websocket.send_text(item)
            except (RuntimeError, WebSocketDisconnect, OSError):
                return


_KNOWN_TYPES: Final = frozenset(
    {"join", "admit", "deny", "offer", "answer", "ice", "leave", "end", "ping", "remove", "vitals"}
)
_PHYSICIAN_ONLY: Final = frozenset({"admit", "deny", "end", "remove"})
_NEEDS_ADMISSION: Final = frozenset({"offer", "answer", "ice", "admit", "deny", "end", "remove", "vitals"})


class _Hub:
    """All visits of one signaling process."""

    def __init__(self, config: SignalingConfig) -> None:
        self.config = config
        self.visits: dict[tuple[str, str], _Visit] = {}
        self.active = ActiveTokens()
        self.handlers: dict[str, Callable[[_Connection, _Participant, Any], None]] = {
            "admit": self._admit,
            "deny": self._deny,
            "offer": self._relay,
            "answer": self._relay,
            "ice": self._relay,
            "leave": self._leave,
            "end": self._end,
            "remove": self._remove_participant,
            "vitals": self._vitals,
        }
        # -- SFU (multi-party, telemedroom.session.sfu) --
        self.sfu = (
            SfuVisits(config.sfu, self._audit_detail, self._roster_of) if config.sfu is not None else None
        )

    # -- the connection loop -------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        same_origin = origin is not None and urlsplit(origin).netloc == websocket.headers.get("host")
        if origin is not None and origin not in self.config.allowed_origins and not same_origin:
            logger.warning("refused a WebSocket from origin %s", origin)
            await websocket.close(code=1008)
            return
        room = websocket.path_params["room"]
        appointment = websocket.path_params["appointment"]
        await websocket.accept()
        connection = _Connection(websocket, self.config.burst, self.config.clock())
        writer = asyncio.create_task(connection.writer())
        try:
            await self._read(connection, room, appointment)
        finally:
            self._disconnected(connection)
            connection.close(1000)
            await writer

    async def _read(self, connection: _Connection, room: str, appointment: str) -> None:
        idle = 3 * self.config.heartbeat
        while True:
            try:
                async with asyncio.timeout(idle):
                    message = await connection.websocket.receive()
            except TimeoutError:
                logger.info("closing a connection silent for %.1f s", idle)
                connection.close(4408)
                return
            if message["type"] == "websocket.disconnect":
                return
            if not self._admit_rate(connection):
                continue
            raw = message.get("text")
            if raw is None:
                connection.send(p.Error(code="malformed", message="send JSON in text frames, not binary"))
                continue
            if len(raw.encode()) > p.MAX_MESSAGE_BYTES:
                connection.send(p.Error(code="too_large", message=p.ERROR_CODES["too_large"]))
                continue
            parsed = self._parse(connection, raw)
            if parsed is None:
                continue
            if not await self._handle(connection, parsed, room, appointment):
                return

    async def _handle(
        self, connection: _Connection, message: p.ClientMessage, room: str, appointment: str
    ) -> bool:
        """Handle one message; ``False`` ends the connection (a relay's visits await the database)."""
        return self._dispatch(connection, message, room, appointment)

    def _admit_rate(self, connection: _Connection) -> bool:
        # A token bucket per connection: ``rate`` tokens a second, at most ``burst``.
        now = self.config.clock()
        connection.tokens = min(
            float(self.config.burst), connection.tokens + (now - connection.refilled) * self.config.rate
        )
        connection.refilled = now
        if connection.tokens < 1:
            if not connection.limited:
                connection.limited = True
                connection.send(p.Error(code="rate_limited", message=p.ERROR_CODES["rate_limited"]))
            return False
        connection.tokens -= 1
        connection.limited = False
        return True

    def _parse(self, connection: _Connection, raw: str) -> p.ClientMessage | None:
        try:
            data = json.loads(raw)
        except ValueError:
            connection.send(p.Error(code="malformed", message="not JSON"))
            return None
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str):
            connection.send(p.Error(code="malformed", message="a message is a JSON object with a 'type'"))
            return None
        if kind not in _KNOWN_TYPES:
            connection.send(p.Error(code="unknown_type", message=f"unknown type {kind[:40]!r}"))
            return None
        try:
            return p.CLIENT_MESSAGES.validate_python(data)
        except ValidationError as exc:
            # Field names and error kinds only: the input may hold a token.
            problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['type']}" for e in exc.errors())
            connection.send(p.Error(code="malformed", message=problems, ref=kind))
            return None

    def _dispatch(
        self, connection: _Connection, message: p.ClientMessage, room: str, appointment: str
    ) -> bool:
        """Handle one message; ``False`` ends the connection."""
        participant = connection.participant
        if isinstance(message, p.Ping):
            connection.send(p.Pong(nonce=message.nonce))
            return True
        if isinstance(message, p.Join):
            if participant is not None:
                connection.send(p.Error(code="out_of_order", message="already joined", ref="join"))
                return True
            return self._join(connection, message, room, appointment)
        if participant is None:
            connection.send(p.Error(code="out_of_order", message="join first", ref=message.type))
            return True
        if message.type in _PHYSICIAN_ONLY and participant.claims.role != "physician":
            connection.send(
                p.Error(code="forbidden", message="only a physician may do this", ref=message.type)
            )
            return True
        if message.type in _NEEDS_ADMISSION and participant.state != "admitted":
            connection.send(p.Error(code="out_of_order", message="wait to be admitted", ref=message.type))
            return True
        if (
            self.sfu is not None
            and message.type in _PHYSICIAN_ONLY
            and self.sfu.owner(self._key(participant)) not in (None, participant.id)
        ):
            connection.send(
                p.Error(
                    code="forbidden",
                    message="only the physician who owns the visit may do this",
                    ref=message.type,
                )
            )
            return True
        self.handlers[message.type](connection, participant, message)
        return connection.participant is not None

    # -- joining -------------------------------------------------------------------

    def _join(self, connection: _Connection, message: p.Join, room: str, appointment: str) -> bool:
        if message.v != p.PROTOCOL_VERSION:
            connection.send(
                p.Error(
                    code="bad_version", message=f"this server speaks version {p.PROTOCOL_VERSION}", ref="join"
                )
            )
            return True
        try:
            claims = self.config.verifier.verify(
                message.token.get_secret_value(), room=room, appointment=appointment
            )
            visit = self.visits.setdefault((room, appointment), _Visit(room, appointment))
            participant = self._resume(visit, claims, message.resume)
        except TokenError as exc:
            self._refuse_token(connection, exc, room, appointment)
            return False
        resumed = participant.connection is None and participant.state == "disconnected"
        if participant.expiry is not None:
            participant.expiry.cancel()
            participant.expiry = None
        if resumed:
            participant.state = "admitted" if participant.was_admitted else "waiting"
        participant.connection = connection
        connection.participant = participant
        visit.participants[participant.id] = participant
        assert participant.state != "disconnected"
        connection.send(
            p.Welcome(
                participant=participant.id,
                role=claims.role,
                state=participant.state,
                resume=participant.resume_key,
                heartbeat=self.config.heartbeat,
                room=room,
                appointment=appointment,
                ice_servers=self._ice_servers(claims),
                recording=self.config.recording,
                sfu=self.sfu is not None,
            )
        )
        if participant.state == "admitted" and participant.claims.role != "physician":
            connection.send(p.Admitted())
        logger.info(
            "%s %s (%s) in room %s", "resumed" if resumed else "joined", participant.id, claims.role, room
        )
        action = AuditAction.RESUMED if resumed else AuditAction.JOINED
        self._audit(action, claims.subject, claims.role, room, appointment, participant.id)
        if not resumed and self.config.recording and claims.role == "physician":
            self._audit(
                AuditAction.SESSION_STARTED, claims.subject, claims.role, room, appointment, "recording on"
            )
        self._roster(visit)
        if self.sfu is not None:
            self.sfu.joined((room, appointment), participant)
        return True

    def _resume(self, visit: _Visit, claims: JoinClaims, resume: str | None) -> _Participant:
        if visit.ended:
            raise TokenError(TokenRefusal.EXPIRED, "the visit has ended", token_id=claims.token_id)
        if claims.subject in visit.removed:
            raise TokenError(
                TokenRefusal.EXPIRED, "removed from the visit by its physician", token_id=claims.token_id
            )
        known = next((q for q in visit.participants.values() if q.claims.token_id == claims.token_id), None)
        if (
            known is not None
            and known.state == "disconnected"
            and resume is not None
            and hmac.compare_digest(known.resume_key, resume)
        ):
            return known
        self.active.acquire(claims.token_id)  # raises ALREADY_CONNECTED
        participant = _Participant(claims, visit)
        if (
            self.sfu is not None
            and claims.role == "physician"
            and self.sfu.owner((visit.room, visit.appointment))
        ):
            # A multi-party visit has one owner; further physicians are admitted like anyone.
            participant.state = "waiting"
            participant.was_admitted = False
        return participant

    def _ice_servers(self, claims: JoinClaims) -> list[IceServer]:
        servers = list(self.config.ice_servers)
        turn = self.config.turn
        if turn is not None:
            servers.append(
                turn_credentials(turn.urls, secret=turn.secret, user=claims.token_id, ttl=turn.ttl)
            )
        return servers

    # -- physician actions and relaying ---------------------------------------------

    def _waiting(
        self, connection: _Connection, physician: _Participant, target_id: str, ref: str
    ) -> _Participant | None:
        target = physician.visit.participants.get(target_id)
        if target is None or target.state != "waiting":
            connection.send(p.Error(code="not_found", message=f"no one waiting with id {target_id}", ref=ref))
            return None
        return target

    def _admit(self, connection: _Connection, physician: _Participant, message: p.Admit) -> None:
        target = self._waiting(connection, physician, message.participant, "admit")
        if target is None or target.connection is None:
            return
        target.state = "admitted"
        target.was_admitted = True
        target.connection.send(p.Admitted())
        logger.info("%s admitted %s", physician.id, target.id)
        self._audit(
            AuditAction.ADMITTED,
            physician.claims.subject,
            "physician",
            target.visit.room,
            target.visit.appointment,
            target.id,
            participant_role=target.claims.role,
        )
        self._roster(target.visit)
        if self.sfu is not None:
            self.sfu.admitted(self._key(target), target)

    def _deny(self, connection: _Connection, physician: _Participant, message: p.Deny) -> None:
        target = self._waiting(connection, physician, message.participant, "deny")
        if target is None or target.connection is None:
            return
        target.connection.send(p.Denied(reason=message.reason))
        target.connection.close(4403)
        logger.info("%s denied %s", physician.id, target.id)
        self._audit(
            AuditAction.DENIED,
            physician.claims.subject,
            "physician",
            target.visit.room,
            target.visit.appointment,
            target.id,
        )
        self._remove(target)

    def _relay(
        self, connection: _Connection, sender: _Participant, message: p.Offer | p.Answer | p.Ice
    ) -> None:
        target = sender.visit.participants.get(message.to)
        if target is None or target.state != "admitted" or target.connection is None or target is sender:
            connection.send(
                p.Error(code="not_found", message=f"no admitted participant {message.to}", ref=message.type)
            )
            return
        relayed: p.ServerMessage
        if isinstance(message, p.Offer):
            relayed = p.RelayedOffer(sender=sender.id, sdp=message.sdp)
        elif isinstance(message, p.Answer):
            relayed = p.RelayedAnswer(sender=sender.id, sdp=message.sdp)
        else:
            relayed = p.RelayedIce(sender=sender.id, candidate=message.candidate)
        target.connection.send(relayed)

    def _leave(self, connection: _Connection, participant: _Participant, _message: p.Leave) -> None:
        logger.info("%s left", participant.id)
        self._audit(
            AuditAction.LEFT,
            participant.claims.subject,
            participant.claims.role,
            participant.visit.room,
            participant.visit.appointment,
            participant.id,
        )
        self._remove(participant)
        connection.close(1000)

    def _end(self, connection: _Connection, physician: _Participant, _message: p.End) -> None:
        visit = physician.visit
        visit.ended = True
        logger.info("%s ended the visit in room %s", physician.id, visit.room)
        self._audit(
            AuditAction.ENDED,
            physician.claims.subject,
            "physician",
            visit.room,
            visit.appointment,
            physician.id,
        )
        for participant in list(visit.participants.values()):
            if participant.connection is not None:
                participant.connection.send(p.Ended(by=physician.id))
                participant.connection.close(1000)
            self._remove(participant)

    # -- leaving ---------------------------------------------------------------------

    def _disconnected(self, connection: _Connection) -> None:
        participant = connection.participant
        if participant is None or participant.connection is not connection:
            return
        connection.participant = None
        participant.connection = None
        participant.state = "disconnected"
        loop = asyncio.get_running_loop()
        participant.expiry = loop.call_later(self.config.resume_window, self._expire, participant)
        self._roster(participant.visit)

    def _expire(self, participant: _Participant) -> None:
        if participant.state == "disconnected":
            logger.info("%s did not resume", participant.id)
            self._audit(
                AuditAction.LEFT,
                participant.claims.subject,
                participant.claims.role,
                participant.visit.room,
                participant.visit.appointment,
                participant.id,
            )
            self._remove(participant)

    def _remove(self, participant: _Participant) -> None:
        visit = participant.visit
        visit.participants.pop(participant.id, None)
        if self.sfu is not None:
            self.sfu.gone(self._key(participant), participant)
            if not visit.participants or visit.ended:
                self.sfu.ended((visit.room, visit.appointment))
        self.active.release(participant.claims.token_id)
        if participant.expiry is not None:
            participant.expiry.cancel()
        if participant.connection is not None:
            participant.connection.participant = None
            participant.connection = None
        if not visit.participants:
            self.visits.pop((visit.room, visit.appointment), None)
        else:
            self._roster(visit)

    def _roster(self, visit: _Visit) -> None:
        everyone = [q.info for q in visit.participants.values()]
        admitted = [q.info for q in visit.participants.values() if q.state == "admitted"]
        for participant in visit.participants.values():
            if participant.connection is None or participant.state != "admitted":
                continue
            shown = everyone if participant.claims.role == "physician" else admitted
            participant.connection.send(p.Roster(participants=shown))

    def _refuse_token(self, connection: _Connection, exc: TokenError, room: str, appointment: str) -> None:
        """A join with a bad token: logged, audited, answered with the reason, closed (4401)."""
        logger.info("refused a join to room %s: %s", room, exc.reason.value)
        self._audit(
            AuditAction.TOKEN_REFUSED,
            exc.token_id or "unknown",
            "unknown",
            room,
            appointment,
            exc.reason.value,
        )
        connection.send(p.Error(code="token", message=exc.detail, reason=exc.reason.value, ref="join"))
        connection.close(4401)

    def _audit(
        self,
        action: AuditAction,
        actor: str,
        role: str,
        room: str,
        appointment: str,
        subject: str,
        **extra: str,
    ) -> None:
        self._audit_detail(action, actor, role, room, appointment, {"participant": subject, **extra})

    def _audit_detail(
        self, action: AuditAction, actor: str, role: str, room: str, appointment: str, detail: dict[str, str]
    ) -> None:
        if self.config.audit is not None:
            self.config.audit.append(
                action, actor=actor, role=role, room=room, appointment=appointment, detail=detail
            )

    # -- SFU (multi-party, telemedroom.session.sfu) ------------------------------------

    @staticmethod
    def _key(participant: _Participant) -> tuple[str, str]:
        return participant.visit.room, participant.visit.appointment

    def _roster_of(self, key: tuple[str, str]) -> None:
        visit = self.visits.get(key)
        if visit is not None:
            self._roster(visit)

    def _remove_participant(
        self, connection: _Connection, physician: _Participant, message: p.Remove
    ) -> None:
        target = physician.visit.participants.get(message.participant)
        if target is None or target is physician:
            connection.send(
                p.Error(code="not_found", message=f"no one else with id {message.participant}", ref="remove")
            )
            return
        if target.connection is not None:
            target.connection.send(p.Removed(by=physician.id, reason=message.reason))
            target.connection.close(4410)
        logger.info("%s removed %s", physician.id, target.id)
        self._audit(
            AuditAction.REMOVED,
            physician.claims.subject,
            "physician",
            target.visit.room,
            target.visit.appointment,
            target.id,
            participant_role=target.claims.role,
        )
        target.visit.removed.add(target.claims.subject)
        self._remove(target)

    def _vitals(self, connection: _Connection, sender: _Participant, message: p.Vitals) -> None:
        # Live vitals go to physicians only: the server knows each role from its signed token.
        if sender.claims.role != "patient":
            connection.send(p.Error(code="forbidden", message="only the room sends vitals", ref="vitals"))
            return
        relayed = p.RelayedVitals(sender=sender.id, data=message.data)
        for participant in sender.visit.participants.values():
            if (
                participant.claims.role == "physician"
                and participant.state == "admitted"
                and participant.connection is not None
            ):
                participant.connection.send(relayed)


# The console loads only its own script and style, talks only to this server, and shows
# snapshots as data: URLs; nothing else may run in the physician's page.
_CONSOLE_HEADERS: Final[dict[str, str]] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; media-src 'self' blob:; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _with_headers(app: Any, headers: dict[str, str]) -> Any:
    """Wrap an ASGI app so every HTTP response carries ``headers``."""
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *raw]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def create_app(config: SignalingConfig) -> Starlette:
    """The signaling app: ``/ws/{room}/{appointment}``, ``/console/`` and ``/healthz``.

    Examples:
        >>> from telemedroom.session import TokenIssuer, TokenVerifier
        >>> verifier = TokenVerifier(TokenIssuer.generate("k1").public_keys())
        >>> app = create_app(SignalingConfig(verifier=verifier))
        >>> sorted(route.path for route in app.routes)
        ['/', '/console', '/healthz', '/ws/{room}/{appointment}']
    """
    hub = _Hub(config) if config.relay is None else config.relay.visits(config)

    async def healthz(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def root(_request: Request) -> RedirectResponse:
        return RedirectResponse("console/")

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/", root),
        WebSocketRoute("/ws/{room}/{appointment}", hub.serve),
    ]
    if config.serve_console:
        headers = dict(_CONSOLE_HEADERS)
        if config.sfu is not None:  # the console talks to Janus's HTTP API too
            sfu = urlsplit(config.sfu.public_url or config.sfu.url)
            headers["content-security-policy"] = headers["content-security-policy"].replace(
                "connect-src 'self'", f"connect-src 'self' {sfu.scheme}://{sfu.netloc}"
            )
        console = _with_headers(StaticFiles(directory=_CONSOLE_DIR, html=True), headers)
        routes.append(Mount("/console", console, name="console"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if hub.sfu is not None:  # destroy the visits' Janus rooms, revoke the tokens
            await hub.sfu.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    return app


class LocalServer:
    """Serve an ASGI app with uvicorn inside the running event loop, on a free port.

    For tests, examples and a room's own loopback set-up; production runs uvicorn
    itself (see ``docs/deployment.md``).

    Examples:
        >>> import asyncio, httpx
        >>> from telemedroom.session import TokenIssuer, TokenVerifier
        >>> async def main():
        ...     verifier = TokenVerifier(TokenIssuer.generate("k").public_keys())
        ...     app = create_app(SignalingConfig(verifier=verifier))
        ...     async with LocalServer(app) as server, httpx.AsyncClient() as http:
        ...         return (await http.get(f"{server.http_url}/healthz")).text
        >>> asyncio.run(main())
        'ok'
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and those
        # accepted from this one have proto 0: set it here (Linux copies it to accepted
        # sockets), so small signaling messages are not held for the peer's delayed ACK
        # (Nagle, RFC 896); without it each hop waited ~40 ms.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.tls = ssl_certfile is not None
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                lifespan="off",
                ws="websockets-sansio",
                access_log=False,
                ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def http_url(self) -> str:
        """``http://host:port`` (``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` (``wss`` with TLS)."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    async def __aenter__(self) -> LocalServer:
        self._server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        # uvicorn offers a flag, not an event, for "listening": poll it, bounded.
        async with asyncio.timeout(10):
            while not self._server.started:
                if self._task.done():
                    await self._task
                    raise RuntimeError("uvicorn stopped before it started serving")
                await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving; open WebSockets are closed."""
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
        self._socket.close()
