"""A remote participant of a multi-party visit, in Python (extra ``video``).

:class:`SfuParticipant` joins through the signaling server with its join token (any role:
``physician``, ``interpreter``, ``companion``), waits to be admitted, then takes the
Janus grant the server sends and, through :class:`~telemedroom.session._sfu_peer.SfuMedia`,
publishes its own camera and microphone and receives what its role's rooms carry. A
physician also receives the room's live vitals (relayed by the signaling server to
physicians only) and, if it owns the visit, admits and removes others. The browser
console does the same for people; this class serves scripts, tests and benchmarks.

Examples:
    >>> doctor = SfuParticipant("wss://session.example/ws/quarter-1/apt-42", "<token>")
    >>> doctor.tracks, doctor.admitted.is_set()
    ([], False)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from ssl import SSLContext
from types import TracebackType
from typing import Any, Literal, Self

from telemedroom._aio import first_set
from telemedroom.errors import MissingExtraError, PeerError

try:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from av import AudioFrame, VideoFrame

    from telemedroom.devices.media import MediaDevice, MediaSource
except ImportError as _exc:
    raise MissingExtraError("video", "telemedroom.session.participant") from _exc

from telemedroom.measurements import Measurement
from telemedroom.session import channels
from telemedroom.session import protocol as p
from telemedroom.session._client import SignalingClient
from telemedroom.session._sfu_peer import SfuMedia, SfuTrack

__all__ = ["SfuParticipant"]


class SfuParticipant:
    """One remote participant of a multi-party visit (see the module docstring).

    Args:
        url: The signaling WebSocket, ``wss://host/ws/{room}/{appointment}``.
        token: The participant's join token; its role decides what it may see.
        camera: Its own camera, published to the visit (``None``: none).
        microphone: Its own microphone, published to the visit (``None``: none).
        auto_admit: As the owning physician, admit everyone who waits.
        origin: ``Origin`` header to send (only if the server expects one).
        ssl: TLS context for ``wss://``.

    Attributes:
        admitted: Set once admitted.
        media_ready: Set once Janus accepted the grant and the rooms are joined.
        removed: Set when the owning physician removed this participant.
        ended: Set when the visit ended, or this participant was denied or removed.
        sfu_unavailable: The server's reason, when the visit fell back to peer to peer.
        tracks: Every track received through Janus, in arrival order.
        roster: The latest roster, by participant id.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        camera: MediaSource | None = None,
        microphone: MediaSource | None = None,
        auto_admit: bool = False,
        origin: str | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self._client = SignalingClient(url, token, self._on_signal, origin=origin, ssl=ssl)
        self._sources = {"camera": camera, "microphone": microphone}
        self._devices: dict[str, MediaDevice] = {}
        self.auto_admit = auto_admit
        self.admitted = asyncio.Event()
        self.media_ready = asyncio.Event()
        self.removed = asyncio.Event()
        self.ended = asyncio.Event()
        self.fallback = asyncio.Event()
        self.sfu_unavailable: str | None = None
        self.media: SfuMedia | None = None
        self.media_error: Exception | None = None
        self.tracks: list[SfuTrack] = []
        self._new_track = asyncio.Condition()
        self.roster: dict[str, p.ParticipantInfo] = {}
        self._vitals: asyncio.Queue[Measurement] = asyncio.Queue()
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def welcome(self) -> p.Welcome:
        """The server's welcome."""
        if self._client.welcome is None:
            raise PeerError("not joined yet")
        return self._client.welcome

    @property
    def participant_id(self) -> str:
        """This participant's id in the visit."""
        return self.welcome.participant

    async def __aenter__(self) -> Self:
        await self._client.connect()
        if self.welcome.state == "admitted":
            self.admitted.set()
        return self

    # -- signaling --------------------------------------------------------------------

    async def _on_signal(self, message: p.ServerMessage) -> None:
        if isinstance(message, p.Admitted):
            self.admitted.set()
        elif isinstance(message, p.Roster):
            self.roster = {q.id: q for q in message.participants}
            if self.auto_admit:
                for q in message.participants:
                    if q.state == "waiting":
                        await self.admit(q.id)
        elif isinstance(message, p.SfuGrant):
            if self.media is None or self.media.grant != message or self.media_error is not None:
                self._spawn(self._start_media(message))
            # else a resume's grant: the media through Janus runs on untouched
        elif isinstance(message, p.SfuUnavailable):
            self.sfu_unavailable = message.reason
            self.fallback.set()
        elif isinstance(message, p.RelayedVitals):
            with contextlib.suppress(PeerError):
                self._vitals.put_nowait(channels.decode_measurement(message.data))
        elif isinstance(message, p.Removed):
            self.removed.set()
            self.ended.set()
        elif isinstance(message, p.Ended | p.Denied):
            self.ended.set()

    async def _start_media(self, grant: p.SfuGrant) -> None:
        if self.media is not None:  # another grant (or a failed start): the old media goes
            previous, self.media, self.media_error = self.media, None, None
            self.media_ready.clear()
            await previous.aclose()
        publish: list[tuple[Literal["audio", "video"], MediaStreamTrack | None]] = []
        for name, kind in (("camera", "video"), ("microphone", "audio")):
            source = self._sources[name]
            if source is not None:
                if name not in self._devices:
                    self._devices[name] = await MediaDevice(source).open()
                publish.append((kind, self._devices[name].subscribe()))  # type: ignore[arg-type]
        media = SfuMedia(
            grant,
            publish={"main": publish} if publish else None,
            on_track=self._on_track,
            ice_servers=self.welcome.ice_servers,
        )
        self.media = media
        try:
            await media.start()
        except Exception as exc:  # the caller sees it in wait_media
            self.media_error = exc
        self.media_ready.set()

    def _on_track(self, received: SfuTrack) -> None:
        self.tracks.append(received)
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._new_track:
            self._new_track.notify_all()

    def _spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what a participant does --------------------------------------------------------

    async def wait_admitted(self, timeout: float = 60.0) -> None:
        """Wait for admission.

        Raises:
            PeerError: Not within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                await self.admitted.wait()
        except TimeoutError as exc:
            raise PeerError(f"not admitted within {timeout} s") from exc

    async def wait_media(self, timeout: float = 60.0) -> SfuMedia:
        """Wait until the visit's rooms are joined through Janus.

        Raises:
            PeerError: The visit fell back to peer to peer, Janus refused, or time ran out.
        """
        try:
            async with asyncio.timeout(timeout):
                while not self.media_ready.is_set():
                    if self.fallback.is_set():
                        raise PeerError(f"no SFU in this visit: {self.sfu_unavailable}")
                    await first_set(self.media_ready, self.fallback)
        except TimeoutError as exc:
            raise PeerError(f"no SFU media within {timeout} s") from exc
        if self.media_error is not None:
            raise PeerError(f"Janus refused: {self.media_error}") from self.media_error
        assert self.media is not None
        return self.media

    def feeds_of(self, role: str) -> set[int]:
        """The Janus feed ids of the participants in ``role`` (from the roster)."""
        return {q.feed for q in self.roster.values() if q.role == role and q.feed is not None}

    async def track(
        self,
        *,
        role: str = "patient",
        kind: Literal["audio", "video"] = "video",
        room: Literal["main", "clinical"] = "main",
        timeout: float = 30.0,
    ) -> MediaStreamTrack:
        """The first received ``kind`` track in ``room`` from a participant in ``role``.

        Raises:
            PeerError: None within ``timeout`` seconds.
        """

        def found() -> MediaStreamTrack | None:
            feeds = self.feeds_of(role)
            for received in self.tracks:
                if received.room == room and received.track.kind == kind and received.feed in feeds:
                    return received.track
            return None

        try:
            async with asyncio.timeout(timeout), self._new_track:
                while (track := found()) is None:
                    await self._new_track.wait()
        except TimeoutError as exc:
            raise PeerError(f"no {kind} from a {role} in the {room} room within {timeout} s") from exc
        return track

    async def first_frame(self, timeout: float = 30.0, **which: str) -> VideoFrame | AudioFrame:
        """The first decoded frame of :meth:`track` (``role``, ``kind``, ``room``).

        Raises:
            PeerError: No such track or no frame within ``timeout`` seconds.
        """
        track = await self.track(timeout=timeout, **which)  # type: ignore[arg-type]
        try:
            async with asyncio.timeout(timeout):
                frame = await track.recv()
        except (TimeoutError, MediaStreamError) as exc:
            raise PeerError(f"no frame within {timeout} s") from exc
        assert isinstance(frame, VideoFrame | AudioFrame)
        return frame

    async def measurements(self) -> AsyncIterator[Measurement]:
        """Every reading the room sends, as it arrives (physicians only receive any)."""
        while True:
            yield await self._vitals.get()

    def pending_vitals(self) -> int:
        """How many readings arrived and were not read yet."""
        return self._vitals.qsize()

    async def admit(self, participant: str) -> None:
        """Owner: let a waiting participant in."""
        await self._client.send(p.Admit(participant=participant))

    async def remove(self, participant: str, reason: str = "") -> None:
        """Owner: remove a participant; Janus cuts its media."""
        await self._client.send(p.Remove(participant=participant, reason=reason))

    async def end(self) -> None:
        """Owner: end the visit for everyone."""
        await self._client.send(p.End())
        self.ended.set()

    async def aclose(self) -> None:
        """Leave the visit, close Janus and the devices; safe to call twice."""
        await self._client.aclose(leave=not self.ended.is_set())
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        media, self.media = self.media, None
        if media is not None:
            await media.aclose()
        for device in self._devices.values():
            await device.aclose()
        self._devices.clear()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
