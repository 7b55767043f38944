"""One participant's media through the Janus VideoRoom, on aiortc (extra ``video``).

:class:`SfuMedia` takes the :class:`~telemedroom.session.protocol.SfuGrant` the signaling
server sent on admission and joins each granted room as a publisher with the granted id
(so it has a ``private_id`` for ``require_pvtid``), publishes the tracks it is given
(one PeerConnection per room, ``sendonly``), and subscribes to every other publisher in
those rooms (one PeerConnection per feed, ``recvonly``), following Janus's events as
participants come and go. Which rooms it may join is Janus's to enforce: the grant's
token is in the ``allowed`` list of its role's rooms only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from telemedroom.errors import SfuError
from telemedroom.session import _gathering
from telemedroom.session import protocol as p
from telemedroom.session._janus import JanusHandle, JanusSession
from telemedroom.session.turn import IceServer

__all__ = ["SfuMedia", "SfuTrack"]

logger = logging.getLogger(__name__)

TrackKind = Literal["audio", "video"]


@dataclass(frozen=True)
class SfuTrack:
    """A track received through Janus: from which room, which publisher (id and display)."""

    room: Literal["main", "clinical"]
    feed: int
    display: str
    track: MediaStreamTrack


class _Subscription:
    def __init__(self, handle: JanusHandle, pc: RTCPeerConnection) -> None:
        self.handle = handle
        self.pc = pc


class SfuMedia:
    """Publish one's tracks into the granted rooms and receive everyone else's.

    Args:
        grant: What the signaling server granted on admission.
        publish: Per room kind, the tracks to publish as ``(kind, track)``; a ``None``
            track keeps a ``sendonly`` line open to fill later with :meth:`sender`.
        on_track: Called with every track received.
        on_speaking: Called with ``(feed, talking)`` when Janus reports audio activity.
        ice_servers: STUN/TURN servers for the PeerConnections.

    Attributes:
        feeds: The publishers seen per room, ``{feed: display}``.
        speaking: Feeds Janus reports as talking.
        connected: Set once every published PeerConnection is up.
    """

    def __init__(
        self,
        grant: p.SfuGrant,
        *,
        publish: Mapping[str, Sequence[tuple[TrackKind, MediaStreamTrack | None]]] | None = None,
        on_track: Callable[[SfuTrack], object] | None = None,
        on_speaking: Callable[[int, bool], object] | None = None,
        ice_servers: Sequence[IceServer] = (),
    ) -> None:
        self.grant = grant
        self._publish = dict(publish or {})
        self._on_track = on_track
        self._on_speaking = on_speaking
        self._configuration = RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in ice_servers
            ]
        )
        self.session: JanusSession | None = None
        self.feeds: dict[str, dict[int, str]] = {room.kind: {} for room in grant.rooms}
        self.speaking: set[int] = set()
        self.connected = asyncio.Event()
        self._private: dict[str, int] = {}
        self._publishers: dict[str, tuple[JanusHandle, RTCPeerConnection | None, list[RTCRtpSender]]] = {}
        self._subscriptions: dict[tuple[str, int], _Subscription] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Join every granted room, publish, subscribe to who is there.

        Raises:
            SfuError: Janus refused the token, the pin or the id, or did not answer.
        """
        self.session = await JanusSession(self.grant.url, self.grant.token).open()
        published: list[RTCPeerConnection] = []
        for room in self.grant.rooms:
            handle = await self.session.attach()
            data, _ = await handle.message(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": room.room,
                    "pin": room.pin,
                    "id": self.grant.feed,
                    "display": self.grant.display,
                    "token": self.grant.token,
                }
            )
            self._private[room.kind] = int(data["private_id"])
            pc: RTCPeerConnection | None = None
            senders: list[RTCRtpSender] = []
            tracks = self._publish.get(room.kind)
            if tracks:
                pc, senders = await self._publish_tracks(handle, tracks)
                published.append(pc)
            self._publishers[room.kind] = (handle, pc, senders)
            self._spawn(self._watch(room, handle))
            await self._publishers_appeared(room, data.get("publishers", []))
        if published:
            self._spawn(self._wait_connected(published))
        else:
            self.connected.set()

    async def _wait_connected(self, pcs: list[RTCPeerConnection]) -> None:
        while any(pc.connectionState != "connected" for pc in pcs):
            await asyncio.sleep(0.05)
        self.connected.set()

    async def _publish_tracks(
        self, handle: JanusHandle, tracks: Sequence[tuple[TrackKind, MediaStreamTrack | None]]
    ) -> tuple[RTCPeerConnection, list[RTCRtpSender]]:
        pc = RTCPeerConnection(self._configuration)
        senders = []
        for kind, track in tracks:
            sender = pc.addTransceiver(kind, direction="sendonly").sender
            if track is not None:
                sender.replaceTrack(track)
            senders.append(sender)
        try:
            await _gathering.set_local_description(pc, await pc.createOffer())
            assert pc.localDescription is not None
            _data, jsep = await handle.message(
                {"request": "publish"}, {"type": "offer", "sdp": pc.localDescription.sdp}
            )
            if jsep is None:
                raise SfuError(None, "Janus answered the publish without an SDP answer")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
        except BaseException:  # refused or cancelled: no PeerConnection is left open
            await _gathering.close(pc)
            raise
        return pc, senders

    def sender(self, room: str, index: int) -> RTCRtpSender | None:
        """The ``index``-th published line in ``room`` (to replace its track), if published."""
        entry = self._publishers.get(room)
        if entry is None or index >= len(entry[2]):
            return None
        return entry[2][index]

    async def _watch(self, room: p.SfuRoom, handle: JanusHandle) -> None:
        while True:
            event = await handle.events.get()
            data = (event.get("plugindata") or {}).get("data") or {}
            if data.get("publishers"):
                await self._publishers_appeared(room, data["publishers"])
            for key in ("unpublished", "leaving", "kicked"):
                feed = data.get(key)
                if isinstance(feed, int) and feed != self.grant.feed:
                    await self._unsubscribe(room.kind, feed)
            kind = data.get("videoroom")
            if kind in ("talking", "stopped-talking") and isinstance(data.get("id"), int):
                talking = kind == "talking"
                (self.speaking.add if talking else self.speaking.discard)(data["id"])
                if self._on_speaking is not None:
                    self._on_speaking(data["id"], talking)

    async def _publishers_appeared(self, room: p.SfuRoom, publishers: list[dict[str, Any]]) -> None:
        for publisher in publishers:
            feed = publisher.get("id")
            if not isinstance(feed, int) or feed == self.grant.feed:
                continue
            self.feeds[room.kind][feed] = str(publisher.get("display", ""))
            if (room.kind, feed) not in self._subscriptions:
                try:
                    await self._subscribe(room, feed)
                except SfuError as exc:
                    logger.warning("could not subscribe to feed %s in %s: %s", feed, room.kind, exc)

    async def _subscribe(self, room: p.SfuRoom, feed: int) -> None:
        assert self.session is not None
        async with self._lock:
            if (room.kind, feed) in self._subscriptions:
                return
            handle = await self.session.attach()
            _data, jsep = await handle.message(
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": room.room,
                    "pin": room.pin,
                    "private_id": self._private[room.kind],
                    "streams": [{"feed": feed}],
                    "token": self.grant.token,
                }
            )
            if jsep is None:
                await handle.detach()
                raise SfuError(None, f"Janus offered nothing for feed {feed}")
            pc = RTCPeerConnection(self._configuration)
            display = self.feeds[room.kind].get(feed, "")

            @pc.on("track")
            def _track(track: MediaStreamTrack) -> None:
                if self._on_track is not None:
                    self._on_track(SfuTrack(room.kind, feed, display, track))

            self._subscriptions[(room.kind, feed)] = _Subscription(handle, pc)  # closed by aclose
            await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
            await _gathering.set_local_description(pc, await pc.createAnswer())
            assert pc.localDescription is not None
            await handle.message({"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp})

    async def _unsubscribe(self, room: str, feed: int) -> None:
        self.feeds.get(room, {}).pop(feed, None)
        self.speaking.discard(feed)
        subscription = self._subscriptions.pop((room, feed), None)
        if subscription is not None:
            try:
                await subscription.handle.detach()
            finally:  # gone from the subscriptions: aclose would not close it
                await _gathering.close(subscription.pc)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def gone(self) -> bool:
        """Whether Janus ended this participant's session (removed, or the visit's rooms destroyed)."""
        return self.session is None or self.session.closed.is_set()

    async def aclose(self) -> None:
        """Leave the rooms and close every PeerConnection; safe to call twice."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for subscription in self._subscriptions.values():
            await _gathering.close(subscription.pc)
        self._subscriptions.clear()
        for _handle, pc, _senders in self._publishers.values():
            if pc is not None:
                await _gathering.close(pc)
        self._publishers.clear()
        session, self.session = self.session, None
        if session is not None:
            await session.aclose()
