"""Multi-party visits through the Janus WebRTC Server's VideoRoom (a selective forwarding unit).

Peer to peer, every extra participant costs the room one more encode and uplink per
track; through an SFU the room publishes each track once and Janus fans it out. The
signaling server (``SignalingConfig(sfu=SfuConfig(...))``) drives Janus here:

- per visit, two VideoRooms with a random ``secret`` and ``pin``, ``require_pvtid``,
  ``record=false`` locked (``lock_record``) and an ``allowed`` token list: ``main``
  (room camera and microphone, every participant's own camera and microphone) and
  ``clinical`` (stethoscope and exam camera). :data:`ROLE_ROOMS` says who may join which;
- a participant admitted from the waiting room gets a Janus token of its own (Janus's
  stored-token auth, added through the admin API) that is in the ``allowed`` list of its
  rooms only: Janus itself refuses it for any other visit, and an interpreter's token
  for the clinical room;
- removing a participant revokes the token, takes it off the rooms' lists and destroys
  every Janus session that holds one of its handles, so its media stops at once;
- at the end the rooms are destroyed and the tokens revoked.

Janus's reachability and its refusal to record are checked when the service starts
(:meth:`SfuService.start`), and again whenever a visit's rooms are created.

Examples:
    >>> ROLE_ROOMS["interpreter"], ROLE_ROOMS["physician"]
    (('main',), ('main', 'clinical'))
    >>> config = SfuConfig(url="http://127.0.0.1:8088/janus", admin_url="http://127.0.0.1:7088/admin",
    ...                    admin_secret="s", room_admin_key="k")
    >>> "admin_secret" in repr(config), config.max_publishers
    (False, 12)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from telemedroom.errors import SfuError
from telemedroom.session._janus import JanusAdmin, JanusHandle, JanusSession
from telemedroom.session.protocol import SfuGrant, SfuRoom
from telemedroom.session.tokens import ParticipantRole

__all__ = ["ROLE_ROOMS", "RoomKind", "SfuConfig", "SfuService", "SfuVisitRooms"]

logger = logging.getLogger(__name__)

RoomKind = Literal["main", "clinical"]

# role -> the visit's VideoRooms it may join. The room (``patient``) publishes its camera
# and microphone in ``main`` and its stethoscope and exam camera in ``clinical``.
ROLE_ROOMS: Final[dict[ParticipantRole, tuple[RoomKind, ...]]] = {
    "patient": ("main", "clinical"),
    "physician": ("main", "clinical"),
    "interpreter": ("main",),
    "companion": ("main",),
}

# Janus ids travel through JavaScript numbers: stay below 2**53.
_MAX_ID: Final = 2**53 - 1


def _random_id() -> int:
    return secrets.randbelow(_MAX_ID - 1) + 1


@dataclass(frozen=True)
class SfuConfig:
    """Where Janus is and the secrets to drive it (``[session] sfu`` in the room's config).

    Attributes:
        url: The Janus HTTP API the signaling server uses, ``http://127.0.0.1:8088/janus``.
        admin_url: Janus's admin API (stored tokens), ``http://127.0.0.1:7088/admin``.
        admin_secret: The admin API's ``admin_secret``.
        room_admin_key: The VideoRoom plugin's ``admin_key`` (only holders may create rooms).
        public_url: The Janus API as participants' browsers reach it (``https://sfu.example/janus``);
            ``url`` when ``None``.
        max_publishers: Publishers per room (participants plus the room itself).
        sweep_interval: Seconds between checks that every Janus session in a visit's rooms
            belongs to a granted participant under its granted id (others are destroyed).
    """

    url: str
    admin_url: str
    admin_secret: str = field(repr=False)
    room_admin_key: str = field(repr=False)
    public_url: str | None = None
    max_publishers: int = 12
    sweep_interval: float = 10.0


class SfuService:
    """The signaling server's link to Janus: a service token, one control handle, the rooms.

    Examples:
        >>> service = SfuService(SfuConfig(url="http://127.0.0.1:1/janus",
        ...     admin_url="http://127.0.0.1:1/admin", admin_secret="s", room_admin_key="k"))
        >>> service.started
        False
    """

    def __init__(self, config: SfuConfig) -> None:
        self.config = config
        self._admin: JanusAdmin | None = None
        self._session: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._token = secrets.token_urlsafe(24)
        self._lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        """Whether the service is connected to Janus."""
        return self._handle is not None and not self._handle.gone.is_set()

    async def start(self) -> None:
        """Connect to Janus (admin API, service token, a VideoRoom handle) and check it records nothing.

        Raises:
            SfuError: Janus cannot be reached, refuses the admin secret, or a room of its
                configuration records (``record = true``).
        """
        async with self._lock:
            if self.started:
                return
            await self._close()
            self._admin = JanusAdmin(self.config.admin_url, self.config.admin_secret)
            await self._admin.add_token(self._token)
            self._session = await JanusSession(self.config.url, self._token).open()
            self._handle = await self._session.attach()
            await self.check_no_recording()

    async def check_no_recording(self) -> None:
        """Refuse a Janus whose VideoRoom records any room (KBV Anlage 31b: no recording).

        Raises:
            SfuError: A room has ``record`` on or recording not locked.
        """
        handle = self._control()
        listing = await handle.request({"request": "list", "admin_key": self.config.room_admin_key})
        recording = [str(room.get("room")) for room in listing.get("list", []) if room.get("record")]
        if recording:
            raise SfuError(
                None,
                f"Janus records room(s) {', '.join(recording)}: set record = false in "
                "janus.plugin.videoroom.jcfg (telemedroom refuses to run visits through it)",
            )

    def _control(self) -> JanusHandle:
        if self._handle is None or self._handle.gone.is_set():
            raise SfuError(None, "not connected to Janus (call start() first)")
        return self._handle

    @property
    def admin(self) -> JanusAdmin:
        """The admin API client."""
        if self._admin is None:
            raise SfuError(None, "not connected to Janus (call start() first)")
        return self._admin

    async def open_visit(self, description: str) -> SfuVisitRooms:
        """Create the visit's VideoRooms (``main``, ``clinical``); connects to Janus first if needed.

        Raises:
            SfuError: Janus cannot be reached or refused to create a room.
        """
        await self.start()
        rooms = SfuVisitRooms(self, description)
        try:
            for kind in ("main", "clinical"):
                await rooms._create(kind)
            listing = await self._control().request(
                {"request": "list", "admin_key": self.config.room_admin_key}
            )
            ours = [r for r in listing.get("list", []) if r.get("room") in rooms.rooms.values()]
            if len(ours) != 2 or any(r.get("record") or not r.get("lock_record") for r in ours):
                raise SfuError(None, "Janus did not create the visit's rooms with recording off and locked")
        except BaseException:
            await rooms.close()
            raise
        return rooms

    async def _close(self) -> None:
        session, self._session, self._handle = self._session, None, None
        if session is not None:
            await session.aclose()
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.remove_token(self._token)
            await admin.aclose()

    async def aclose(self) -> None:
        """Revoke the service token and close the connection to Janus."""
        async with self._lock:
            await self._close()


@dataclass
class _Grant:
    token: str
    feed: int
    role: ParticipantRole
    display: str


class SfuVisitRooms:
    """One visit's VideoRooms and the grants of its participants (made by :meth:`SfuService.open_visit`)."""

    def __init__(self, service: SfuService, description: str) -> None:
        self.service = service
        self.description = description[:100]
        self.secret = secrets.token_urlsafe(24)
        self.pin = secrets.token_urlsafe(12)
        self.rooms: dict[RoomKind, int] = {}
        self.grants: dict[str, _Grant] = {}

    async def _create(self, kind: RoomKind) -> None:
        room = _random_id()
        await self.service._control().request(
            {
                "request": "create",
                "admin_key": self.service.config.room_admin_key,
                "room": room,
                "description": f"{self.description} ({kind})",
                "secret": self.secret,
                "pin": self.pin,
                "is_private": True,
                "require_pvtid": True,
                "publishers": self.service.config.max_publishers,
                "record": False,
                "lock_record": True,
                "allowed": [],
                "audiolevel_event": kind == "main",  # who is speaking, for the console
                "audio_active_packets": 50,
                "audio_level_average": 40,
                "notify_joining": True,
            }
        )
        self.rooms[kind] = room

    async def grant(self, participant: str, role: ParticipantRole) -> SfuGrant:
        """A Janus token for ``participant`` (the signaling id), allowed in its role's rooms only.

        Raises:
            SfuError: Janus refused to store the token or to allow it.
        """
        existing = self.grants.get(participant)
        if existing is None:
            existing = _Grant(secrets.token_urlsafe(24), _random_id(), role, participant)
            await self.service.admin.add_token(existing.token)
            for kind in ROLE_ROOMS[role]:
                await self._allowed(kind, "add", [existing.token])
            self.grants[participant] = existing
        return SfuGrant(
            url=self.service.config.public_url or self.service.config.url,
            token=existing.token,
            feed=existing.feed,
            display=participant,
            rooms=[SfuRoom(kind=kind, room=self.rooms[kind], pin=self.pin) for kind in ROLE_ROOMS[role]],
        )

    def feed_of(self, participant: str) -> int | None:
        """The publisher id ``participant`` was granted, if any."""
        grant = self.grants.get(participant)
        return grant.feed if grant is not None else None

    async def _allowed(self, kind: RoomKind, action: str, tokens: list[str]) -> None:
        if kind not in self.rooms:  # destroyed meanwhile
            return
        await self.service._control().request(
            {
                "request": "allowed",
                "room": self.rooms[kind],
                "secret": self.secret,
                "action": action,
                "allowed": tokens,
            }
        )

    async def revoke(self, participant: str) -> int:
        """Cut ``participant`` off: token revoked, off the rooms' lists, its Janus sessions destroyed.

        Returns:
            How many Janus sessions were destroyed.
        """
        grant = self.grants.pop(participant, None)
        if grant is None:
            return 0
        await self.service.admin.remove_token(grant.token)
        for kind in ROLE_ROOMS[grant.role]:
            with contextlib.suppress(SfuError):
                await self._allowed(kind, "remove", [grant.token])
        return await self.sweep()

    async def sweep(self) -> int:
        """Destroy every Janus session in this visit's rooms that no current grant accounts for.

        A handle is accounted for when it is a publisher with a granted feed id, or a
        subscriber whose ``private_id`` belongs to such a publisher (``require_pvtid``).

        Returns:
            How many sessions were destroyed.
        """
        admin = self.service.admin
        feeds = {grant.feed for grant in self.grants.values()}
        rooms = set(self.rooms.values())
        sessions = (await admin.call({"janus": "list_sessions"})).get("sessions", [])
        handles: list[tuple[int, dict[str, Any]]] = []
        for session in sessions:
            with contextlib.suppress(SfuError):
                listing = await admin.call({"janus": "list_handles", "session_id": session})
                for handle in listing.get("handles", []):
                    with contextlib.suppress(SfuError):
                        info = await admin.call(
                            {"janus": "handle_info", "session_id": session, "handle_id": handle}
                        )
                        handles.append((session, (info.get("info") or {}).get("plugin_specific") or {}))
        ours = [(s, h) for s, h in handles if h.get("room") in rooms]
        private = {
            h.get("private_id") for _s, h in ours if h.get("type") == "publisher" and h.get("id") in feeds
        }
        doomed = {
            s
            for s, h in ours
            if (h.get("type") == "publisher" and h.get("id") not in feeds)
            or (h.get("type") == "subscriber" and h.get("private_id") not in private)
        }
        for session in doomed:
            with contextlib.suppress(SfuError):
                await admin.call({"janus": "destroy_session", "session_id": session})
        if doomed:
            logger.info("destroyed %d Janus session(s) no grant accounts for", len(doomed))
        return len(doomed)

    async def close(self) -> None:
        """Destroy the rooms (Janus hangs everyone up) and revoke every token; safe to call twice."""
        grants, self.grants = list(self.grants.values()), {}
        for kind, room in list(self.rooms.items()):
            with contextlib.suppress(SfuError):
                await self.service._control().request(
                    {"request": "destroy", "room": room, "secret": self.secret}
                )
            self.rooms.pop(kind, None)
        for grant in grants:
            with contextlib.suppress(SfuError):
                await self.service.admin.remove_token(grant.token)

    def tokens(self) -> Iterable[str]:
        """The tokens granted so far (for tests and audits; never logged)."""
        return [grant.token for grant in self.grants.values()]
