"""What both peers share: signaling, the peer connection, ICE, close (on aiortc, extra ``video``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any, Final, Literal

from telemedroom.errors import MissingExtraError, PeerError

try:
    from aiortc import (
        RTCBundlePolicy,
        RTCConfiguration,
        RTCIceServer,
        RTCIceTransportPolicy,
        RTCPeerConnection,
    )
    from aiortc.contrib.media import MediaBlackhole
    from aiortc.mediastreams import MediaStreamTrack
    from aiortc.sdp import candidate_from_sdp
except ImportError as _exc:
    raise MissingExtraError("video", "telemedroom.session.peer") from _exc

from telemedroom.session import _gathering
from telemedroom.session import protocol as p
from telemedroom.session._client import SignalingClient
from telemedroom.session.turn import IceServer

__all__ = ["Camera", "fingerprint_of"]

logger = logging.getLogger("telemedroom.session.peer")

_FINGERPRINT: Final = re.compile(r"^a=fingerprint:(\S+) (\S+)\s*$", re.MULTILINE)

Camera = Literal["room", "exam"]
"""What the room's main video shows."""


def fingerprint_of(sdp: str) -> str | None:
    """The DTLS certificate fingerprint an SDP announces (RFC 8122 §5), as ``"sha-256 AB:CD:..."``.

    Examples:
        >>> fingerprint_of("v=0\\r\\na=fingerprint:sha-256 AB:CD\\r\\n")
        'sha-256 AB:CD'
    """
    match = _FINGERPRINT.search(sdp)
    return f"{match.group(1).lower()} {match.group(2).upper()}" if match else None


def _configuration(servers: Sequence[IceServer], relay_only: bool) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
        # One ICE/DTLS transport for video, both audio lines and the data channels
        # (RFC 9143 BUNDLE): one handshake instead of three, one port through firewalls.
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


class _Peer:
    """What both sides share: signaling, the peer connection, ICE, close."""

    role: str

    def __init__(
        self,
        url: str | Sequence[str],
        token: str,
        *,
        ice_servers: Sequence[IceServer] | None,
        relay_only: bool,
        origin: str | None,
        ssl: SSLContext | None = None,
    ) -> None:
        self._client = SignalingClient(url, token, self._on_signal, origin=origin, ssl=ssl)
        self._ice_servers = ice_servers
        self.relay_only = relay_only
        self.pc: RTCPeerConnection | None = None
        self.remote_id: str | None = None
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self._end_reason: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Future[None]] = set()
        self._sinks: list[MediaBlackhole] = []

    @property
    def participant_id(self) -> str:
        """This participant's id in the visit (from the welcome)."""
        if self._client.welcome is None:
            raise PeerError("not joined yet")
        return self._client.welcome.participant

    @property
    def welcome(self) -> p.Welcome:
        """The server's welcome (ICE servers, recording, heartbeat)."""
        if self._client.welcome is None:
            raise PeerError("not joined yet")
        return self._client.welcome

    @property
    def fingerprint(self) -> str | None:
        """This side's DTLS certificate fingerprint, once the connection is negotiated."""
        if self.pc is None or self.pc.localDescription is None:
            return None
        return fingerprint_of(self.pc.localDescription.sdp)

    @property
    def remote_fingerprint(self) -> str | None:
        """The other side's DTLS fingerprint, as its SDP announced it."""
        if self.pc is None or self.pc.remoteDescription is None:
            return None
        return fingerprint_of(self.pc.remoteDescription.sdp)

    def _new_pc(self) -> RTCPeerConnection:
        servers = self._ice_servers if self._ice_servers is not None else self.welcome.ice_servers
        pc = RTCPeerConnection(_configuration(servers, self.relay_only))

        @pc.on("connectionstatechange")
        def _state() -> None:
            logger.info("%s: peer connection %s", self.role, pc.connectionState)
            if pc.connectionState == "connected":
                self.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                self.connected.clear()

        return pc

    def _discard(self, track: MediaStreamTrack) -> None:
        sink = MediaBlackhole()
        sink.addTrack(track)
        self._spawn(sink.start())
        self._sinks.append(sink)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: %r", self.role, task.exception())

    async def _on_signal(self, message: p.ServerMessage) -> None:
        if isinstance(message, p.RelayedIce) and self.pc is not None and message.sender == self.remote_id:
            if message.candidate is not None and message.candidate.candidate:
                candidate = candidate_from_sdp(message.candidate.candidate.removeprefix("candidate:"))
                candidate.sdpMid = message.candidate.sdpMid
                candidate.sdpMLineIndex = message.candidate.sdpMLineIndex
                await self.pc.addIceCandidate(candidate)
        elif isinstance(message, p.Denied):
            self._end_reason = f"denied: {message.reason or 'no reason given'}"
            self.ended.set()
        elif isinstance(message, p.Ended):
            self._end_reason = f"the visit was ended by {message.by}"
            self.ended.set()
        elif isinstance(message, p.Error):
            logger.warning("%s: server error %s: %s", self.role, message.code, message.message)
        await self._handle(message)

    async def _handle(self, message: p.ServerMessage) -> None:
        raise NotImplementedError

    async def wait_connected(self, timeout: float = 30.0) -> None:
        """Wait until the peer connection is up (ICE and DTLS done).

        Raises:
            PeerError: Not within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                await self.connected.wait()
        except TimeoutError as exc:
            state = self.pc.connectionState if self.pc is not None else "not started"
            raise PeerError(f"not connected within {timeout} s (state {state})") from exc

    def _drop_pc(self) -> None:
        """Close the peer connection in a task of its own: a cancelled reader must not cut it short.

        The close waits for an offer or answer still gathering candidates on it
        (``_gathering``), so no ICE socket is left open.
        """
        pc, self.pc = self.pc, None
        self.connected.clear()
        if pc is not None:
            self._closing.add(asyncio.ensure_future(_gathering.close(pc)))

    async def aclose(self) -> None:
        """Leave the visit, close the peer connection; safe to call twice."""
        try:
            await self._client.aclose(leave=not self.ended.is_set())
        finally:  # whatever the signaling did, the peer connection and its sockets are closed
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._drop_pc()
            closing, self._closing = self._closing, set()
            await asyncio.gather(*closing)
        for sink in self._sinks:
            await sink.stop()
        self._sinks.clear()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
