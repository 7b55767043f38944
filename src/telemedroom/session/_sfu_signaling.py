"""The signaling server's side of multi-party visits: Janus rooms per visit, grants, removal.

The hub (:mod:`telemedroom.session.signaling`) calls :class:`SfuVisits` at five points:
a participant joined, was admitted, left or was removed, and the visit ended. The first
physician to join owns the visit; their joining creates the visit's VideoRooms. If Janus
cannot be reached then, the visit runs peer to peer with one physician, and everyone in
it is told (``sfu_unavailable``), as is the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from telemedroom.errors import SfuError
from telemedroom.session import protocol as p
from telemedroom.session.audit import AuditAction
from telemedroom.session.sfu import SfuConfig, SfuService, SfuVisitRooms

__all__ = ["SfuVisits"]

logger = logging.getLogger(__name__)


class _Connection(Protocol):
    def send(self, message: p.ServerMessage) -> None: ...


class _Claims(Protocol):
    @property
    def role(self) -> Any: ...

    @property
    def subject(self) -> str: ...


class _Participant(Protocol):
    id: str
    feed: int | None

    @property
    def state(self) -> str: ...

    @property
    def claims(self) -> _Claims: ...

    @property
    def connection(self) -> _Connection | None: ...


Mode = Literal["starting", "sfu", "p2p"]


@dataclass
class _Visit:
    owner: str
    mode: Mode = "starting"
    rooms: SfuVisitRooms | None = None
    reason: str = ""
    members: dict[str, _Participant] = field(default_factory=dict)
    patrol: asyncio.Task[None] | None = None


Audit = Callable[[AuditAction, str, str, str, str, dict[str, str]], None]


class SfuVisits:
    """Every multi-party visit of one signaling server (see the module docstring)."""

    def __init__(self, config: SfuConfig, audit: Audit, roster: Callable[[tuple[str, str]], None]) -> None:
        self.service = SfuService(config)
        self.visits: dict[tuple[str, str], _Visit] = {}
        self._audit = audit
        self._roster = roster
        self._tasks: set[asyncio.Task[Any]] = set()

    def owner(self, key: tuple[str, str]) -> str | None:
        """The participant id of the physician who owns the visit."""
        visit = self.visits.get(key)
        return visit.owner if visit is not None else None

    def mode(self, key: tuple[str, str]) -> Mode | None:
        """``starting``, ``sfu`` or ``p2p`` (``None``: no physician has opened the visit yet)."""
        visit = self.visits.get(key)
        return visit.mode if visit is not None else None

    def joined(self, key: tuple[str, str], participant: _Participant) -> None:
        """A participant joined (or resumed); the first physician opens the visit's rooms."""
        visit = self.visits.get(key)
        if visit is None:
            if participant.claims.role != "physician":
                return
            visit = self.visits[key] = _Visit(owner=participant.id)
            self._spawn(self._open(key, visit))
        if participant.state == "admitted":
            self.admitted(key, participant)
        elif visit.mode == "p2p" and participant.connection is not None:
            participant.connection.send(p.SfuUnavailable(reason=visit.reason))

    def admitted(self, key: tuple[str, str], participant: _Participant) -> None:
        """A participant is admitted: grant it Janus access (now, or once the rooms exist)."""
        visit = self.visits.get(key)
        if visit is None:
            return
        visit.members[participant.id] = participant
        if visit.mode == "sfu":
            self._spawn(self._grant(key, visit, participant))
        elif visit.mode == "p2p" and participant.connection is not None:
            participant.connection.send(p.SfuUnavailable(reason=visit.reason))

    async def _open(self, key: tuple[str, str], visit: _Visit) -> None:
        room, appointment = key
        try:
            visit.rooms = await self.service.open_visit(f"{room} {appointment}")
        except SfuError as exc:
            visit.mode, visit.reason = "p2p", f"the SFU could not be reached: {exc.detail}"
            logger.warning("visit %s/%s falls back to peer to peer: %s", room, appointment, exc)
            self._audit(
                AuditAction.SFU_FALLBACK, "signaling", "system", room, appointment, {"reason": visit.reason}
            )
            for member in visit.members.values():
                if member.connection is not None:
                    member.connection.send(p.SfuUnavailable(reason=visit.reason))
            return
        if self.visits.get(key) is not visit:  # ended while the rooms were made
            await visit.rooms.close()
            return
        visit.mode = "sfu"
        self._audit(
            AuditAction.SFU_STARTED,
            "signaling",
            "system",
            room,
            appointment,
            {"main": str(visit.rooms.rooms["main"]), "clinical": str(visit.rooms.rooms["clinical"])},
        )
        for member in list(visit.members.values()):
            await self._grant(key, visit, member)
        visit.patrol = asyncio.ensure_future(self._patrol(key, visit))

    async def _patrol(self, key: tuple[str, str], visit: _Visit) -> None:
        """Cut, now and then, any Janus session in the visit's rooms that no grant accounts for."""
        while self.visits.get(key) is visit and visit.rooms is not None:
            await asyncio.sleep(self.service.config.sweep_interval)  # a patrol's period
            if self.visits.get(key) is not visit or visit.rooms is None or not visit.rooms.rooms:
                return
            try:
                await visit.rooms.sweep()
            except SfuError as exc:
                logger.warning("could not check the Janus sessions of %s/%s: %s", key[0], key[1], exc)

    async def _grant(self, key: tuple[str, str], visit: _Visit, participant: _Participant) -> None:
        if visit.rooms is None or participant.id not in visit.members:
            return
        try:
            grant = await visit.rooms.grant(participant.id, participant.claims.role)
        except SfuError as exc:
            logger.warning("no Janus grant for %s: %s", participant.id, exc)
            if participant.connection is not None:
                participant.connection.send(p.Error(code="sfu", message=str(exc)))
            return
        participant.feed = grant.feed
        if participant.connection is not None and participant.state == "admitted":
            participant.connection.send(grant)
        self._roster(key)

    def gone(self, key: tuple[str, str], participant: _Participant) -> None:
        """A participant left, expired, was denied or removed: revoke its Janus access."""
        visit = self.visits.get(key)
        if visit is None:
            return
        visit.members.pop(participant.id, None)
        if visit.rooms is not None:
            self._spawn(visit.rooms.revoke(participant.id))
        if participant.id == visit.owner:
            # The owner left for good: the next physician in the visit takes it over.
            successor = next((m for m in visit.members.values() if m.claims.role == "physician"), None)
            if successor is not None:
                visit.owner = successor.id

    def ended(self, key: tuple[str, str]) -> None:
        """The visit ended (or everyone left): destroy its rooms."""
        visit = self.visits.pop(key, None)
        if visit is not None and visit.patrol is not None:
            visit.patrol.cancel()
        if visit is not None and visit.rooms is not None:
            rooms = visit.rooms
            self._spawn(self._close(key, rooms))

    async def _close(self, key: tuple[str, str], rooms: SfuVisitRooms) -> None:
        await rooms.close()
        self._audit(AuditAction.SFU_ENDED, "signaling", "system", key[0], key[1], {})

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("SFU task failed: %r", task.exception())

    async def drain(self) -> None:
        """Wait for the pending Janus calls (grants, revocations, room teardown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Close every visit's rooms and the link to Janus."""
        for key in list(self.visits):
            self.ended(key)
        await self.drain()
        await self.service.aclose()
