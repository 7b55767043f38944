"""The WebRTC peers of a consultation, on aiortc (extra ``video``).

:class:`RoomPeer` is the room's side: it joins through the signaling server, waits to
be admitted, then offers the physician the room camera and microphone, an audio line
for the stethoscope (silent until asked for), and two data channels: ``vitals``, which
carries every :class:`~telemedroom.Measurement` the moment it is decoded, and
``control``, on which the physician asks for a snapshot from the exam camera, switches
the main video between room and exam camera, starts or stops the stethoscope, and runs
the guided facial protocol step by step (see :mod:`telemedroom.session.channels`).
Media is encrypted with DTLS-SRTP, as aiortc enforces; :attr:`RoomPeer.fingerprint` is
the room's DTLS certificate fingerprint, which the physician's console shows for comparison.

:class:`PhysicianPeer` is a scripted physician in Python: it admits, answers the
offer, receives the video and the vitals, and sends requests. The browser console
(``/console/``) does the same for people.

Examples:
    >>> import asyncio
    >>> from datetime import datetime, timedelta, UTC
    >>> from telemedroom import HeartRate
    >>> from telemedroom.session import TokenIssuer, TokenVerifier
    >>> from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
    >>> async def visit():
    ...     issuer, now = TokenIssuer.generate("k1"), datetime.now(UTC)
    ...     def token(role):
    ...         return issuer.issue(room="r1", appointment="a1", role=role, subject=role,
    ...                             not_before=now, expires_at=now + timedelta(hours=1))
    ...     app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    ...     async with LocalServer(app) as server:
    ...         url = f"{server.ws_url}/ws/r1/a1"
    ...         async with PhysicianPeer(url, token("physician"), auto_admit=True) as doctor, \\
    ...                    RoomPeer(url, token("patient")) as room:
    ...             await room.send_measurement(HeartRate(bpm=72))
    ...             reading = await anext(doctor.measurements())
    ...             return reading.bpm, room.fingerprint == doctor.remote_fingerprint
    >>> asyncio.run(visit())
    (72, True)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from ssl import SSLContext
from types import TracebackType
from typing import Any, Final, Literal, Self

from telemedroom.errors import MissingExtraError, PeerError

try:
    from aiortc import (
        RTCBundlePolicy,
        RTCConfiguration,
        RTCDataChannel,
        RTCIceServer,
        RTCIceTransportPolicy,
        RTCPeerConnection,
        RTCRtpSender,
        RTCSessionDescription,
    )
    from aiortc.contrib.media import MediaBlackhole
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from aiortc.sdp import candidate_from_sdp
    from av import VideoFrame

    from telemedroom.devices.media import Clip, MediaDevice, MediaSource, Role, Snapshot
except ImportError as _exc:
    raise MissingExtraError("video", "telemedroom.session.peer") from _exc

from telemedroom.exams import PROTOCOL, StillPair, SunnybrookGrading, step
from telemedroom.measurements import Measurement
from telemedroom.session import channels
from telemedroom.session import protocol as p
from telemedroom.session._client import SignalingClient
from telemedroom.session._exam import (
    ExamStepCallback,
    ExamStill,
    FacialExamContext,
    compare_json,
    exam_bundle,
    forms_json,
)
from telemedroom.session._sfu_room import RoomSfu
from telemedroom.session.audit import AuditAction, AuditLog
from telemedroom.session.turn import IceServer

__all__ = [
    "Camera",
    "ExamStepCallback",
    "ExamStill",
    "FacialExamContext",
    "PhysicianPeer",
    "RoomPeer",
    "fingerprint_of",
]

logger = logging.getLogger(__name__)

_FINGERPRINT: Final = re.compile(r"^a=fingerprint:(\S+) (\S+)\s*$", re.MULTILINE)
_PENDING_VITALS: Final = 1000


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
        url: str,
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
        """Close the peer connection in a task of its own: a cancelled reader must not cut it short."""
        pc, self.pc = self.pc, None
        self.connected.clear()
        if pc is not None:
            self._closing.add(asyncio.ensure_future(pc.close()))

    async def aclose(self) -> None:
        """Leave the visit, close the peer connection; safe to call twice."""
        await self._client.aclose(leave=not self.ended.is_set())
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


Camera = Literal["room", "exam"]


class RoomPeer(_Peer):
    """The room's WebRTC peer: cameras, microphone, stethoscope, live vitals.

    Args:
        url: The signaling WebSocket, ``wss://host/ws/{room}/{appointment}``.
        token: The room's join token (role ``patient``).
        room_camera: The wide camera (a synthetic test pattern by default).
        microphone: The room microphone (a synthetic tone by default).
        exam_camera: The handheld exam camera, opened on the first request.
        stethoscope: The digital stethoscope, opened when the physician starts it.
        ice_servers: STUN/TURN servers; ``None`` takes the server's (from the welcome).
        relay_only: Use only TURN relay candidates (``iceTransportPolicy: relay``).
        audit: Where track start/stop and snapshots are logged.
        origin: ``Origin`` header to send (only if the server expects one).
        on_physician_track: Called with each track the physician sends (camera,
            microphone) for the room's screen and speaker; without it they are read
            and discarded, so no frames pile up.
        ssl: TLS context for ``wss://`` (e.g. trusting the clinic's own CA); the
            system's trust store by default.
        media: Devices the caller opened and keeps open (``"room"``, ``"microphone"``,
            ``"exam"``, ``"stethoscope"``), used instead of opening those sources, e.g. a
            room camera shared with the kiosk's self-view; the peer never closes them.
        on_exam_step: Awaited as ``on_exam_step(step, index, total, countdown, phase)``
            at every tick of a facial protocol step, so the kiosk shows the instruction
            and the countdown (``phase`` ``instruct``), then ``capture`` (countdown 0)
            and ``done`` once the still is taken.
        exam: Patient, Encounter and FHIR sink for the facial exam (``exam_record``,
            ``exam_compare``); without it the console can run the protocol, but not
            record or compare it.
        countdown_tick: Seconds one countdown second lasts (a simulation may shorten it).
        clip_seconds: Length of a step's clip, when the physician asks for clips.

    Attributes:
        admitted: Set when the physician has admitted the room.
        connected: Set while the peer connection is up.
        snapshots: Every snapshot taken at the physician's request (the *Snapshot*
            button), for the record.
        exam_stills: The facial protocol's stills (and clips), step by step, for the
            record; not in :attr:`snapshots`, so nothing is written twice: either the
            ``exam`` context's ``record`` writes them with the grading, or (with
            ``include_stills=False``) the room's own wrap-up does, each with its step.
        camera: What the main video shows: ``room`` or ``exam``.
        stethoscope_on: Whether the stethoscope is streaming.

    Examples:
        >>> room = RoomPeer("wss://session.example/ws/quarter-1/apt-42", "<room token>")
        >>> room.camera, room.stethoscope_on, room.fingerprint is None
        ('room', False, True)
    """

    role = "room"

    def __init__(
        self,
        url: str,
        token: str,
        *,
        room_camera: MediaSource | None = None,
        microphone: MediaSource | None = None,
        exam_camera: MediaSource | None = None,
        stethoscope: MediaSource | None = None,
        ice_servers: Sequence[IceServer] | None = None,
        relay_only: bool = False,
        audit: AuditLog | None = None,
        origin: str | None = None,
        on_physician_track: Callable[[MediaStreamTrack], object] | None = None,
        ssl: SSLContext | None = None,
        media: Mapping[str, MediaDevice] | None = None,
        on_exam_step: ExamStepCallback | None = None,
        exam: FacialExamContext | None = None,
        countdown_tick: float = 1.0,
        clip_seconds: float = 2.0,
    ) -> None:
        super().__init__(url, token, ice_servers=ice_servers, relay_only=relay_only, origin=origin, ssl=ssl)
        self._on_physician_track = on_physician_track
        self._shared: dict[str, MediaDevice] = dict(media or {})
        self._on_exam_step = on_exam_step
        self.exam = exam
        self.countdown_tick = countdown_tick
        self.clip_seconds = clip_seconds
        self.exam_stills: list[ExamStill] = []
        self._exam_running = asyncio.Lock()  # one step at a time on the kiosk
        self._sources = {
            "room": room_camera or MediaSource.synthetic(Role.ROOM_CAMERA, width=640, height=360),
            "microphone": microphone or MediaSource.synthetic(Role.MICROPHONE),
            "exam": exam_camera or MediaSource.synthetic(Role.EXAM_CAMERA),
            "stethoscope": stethoscope or MediaSource.synthetic(Role.STETHOSCOPE),
        }
        self._devices: dict[str, MediaDevice] = {}
        self.audit = audit
        self.admitted = asyncio.Event()
        self.snapshots: list[Snapshot] = []
        self.camera: Camera = "room"
        self.stethoscope_on = False
        self._video: RTCRtpSender | None = None
        self._microphone: RTCRtpSender | None = None
        self._stethoscope: RTCRtpSender | None = None
        self._vitals: RTCDataChannel | None = None
        self._pending: list[str] = []
        self._negotiating = asyncio.Lock()
        self.sfu = RoomSfu(self, self._client.send)  # multi-party visits (session/_sfu_room.py)

    async def prepare(self) -> None:
        """Open the room camera and microphone now, before joining (e.g. when the room boots).

        Joining does it otherwise; opened early, the join goes faster.
        """
        await self._device("room")
        await self._device("microphone")

    async def __aenter__(self) -> Self:
        await self.prepare()
        try:
            await self._client.connect()
        except BaseException:
            await self._close_devices()
            raise
        return self

    async def _device(self, name: str) -> MediaDevice:
        shared = self._shared.get(name)
        if shared is not None:
            return shared
        device = self._devices.get(name)
        if device is None:
            device = await MediaDevice(self._sources[name]).open()
            self._devices[name] = device
        return device

    async def wait_admitted(self, timeout: float = 60.0) -> None:
        """Wait for the physician's admission.

        Raises:
            PeerError: Not admitted within ``timeout`` seconds, denied, or the visit ended.
        """
        admitted = asyncio.ensure_future(self.admitted.wait())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({admitted, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            admitted.cancel()
            ended.cancel()
        if not self.admitted.is_set():
            why = self._end_reason or f"not admitted within {timeout} s"
            raise PeerError(why)

    # -- vitals ----------------------------------------------------------------------

    async def send_measurement(self, measurement: Measurement) -> None:
        """Send one reading on ``vitals`` now, or as soon as the channel opens."""
        text = channels.encode_measurement(measurement)
        channel = self._vitals
        if self.sfu.active and self.admitted.is_set():  # SFU: to every physician, by the server
            await self.sfu.send_vitals(text)
        elif channel is not None and channel.readyState == "open":
            channel.send(text)
        elif len(self._pending) < _PENDING_VITALS:
            self._pending.append(text)
        else:
            logger.warning("vitals channel not open; dropped a %s", type(measurement).__name__)

    async def forward(self, readings: AsyncIterable[Measurement]) -> int:
        """Send every reading of ``readings`` (e.g. ``Connection.measurements()``) as it arrives.

        Returns:
            How many readings were sent, once the iterator ends.
        """
        count = 0
        async for reading in readings:
            await self.send_measurement(reading)
            count += 1
        return count

    # -- negotiation -----------------------------------------------------------------

    async def _handle(self, message: p.ServerMessage) -> None:
        if self.sfu.handle(message):
            return
        if isinstance(message, p.Admitted):
            self.admitted.set()
            if self.sfu.active:
                pending, self._pending = self._pending, []
                for text in pending:
                    await self.sfu.send_vitals(text)
        elif isinstance(message, p.Roster):
            # A physician whose signaling dropped (state "disconnected") keeps the media link:
            # it may resume. Only one who left for good ends it.
            physician = next((q.id for q in message.participants if q.role == "physician"), None)
            if physician is None and self.remote_id is not None:
                self._drop_pc()
                self.remote_id = None
            elif physician is not None and physician != self.remote_id and self.admitted.is_set():
                self._spawn(self._offer(physician))
        elif (
            isinstance(message, p.RelayedAnswer) and message.sender == self.remote_id and self.pc is not None
        ):
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=message.sdp, type="answer"))
        elif isinstance(message, p.Ended | p.Denied):
            self._drop_pc()

    async def _offer(self, physician: str) -> None:
        async with self._negotiating:
            self._drop_pc()
            self.remote_id = physician
            pc = self.pc = self._new_pc()
            if self.sfu.active:  # media goes through Janus: this link carries the control channel only
                await self.sfu.offer_control(pc, physician)
                return
            pc.on("track", self._physician_track)
            room, microphone = await self._device("room"), await self._device("microphone")
            self._video = pc.addTransceiver("video", direction="sendrecv").sender
            self._video.replaceTrack(
                room.subscribe() if self.camera == "room" else (await self._device("exam")).subscribe()
            )
            self._microphone = pc.addTransceiver("audio", direction="sendrecv").sender
            self._microphone.replaceTrack(microphone.subscribe())
            self._stethoscope = pc.addTransceiver("audio", direction="sendonly").sender
            if self.stethoscope_on:
                self._stethoscope.replaceTrack((await self._device("stethoscope")).subscribe())
            self._vitals = pc.createDataChannel(channels.VITALS, ordered=True)
            self._vitals.on("open", self._flush)
            control = pc.createDataChannel(channels.CONTROL, ordered=True)
            control.on("message", lambda text: self._spawn(self._on_request(control, text)))
            await pc.setLocalDescription(await pc.createOffer())
            assert pc.localDescription is not None
            await self._client.send(p.Offer(to=physician, sdp=pc.localDescription.sdp))
            self._log(
                AuditAction.TRACK_STARTED,
                {"track": "room_camera" if self.camera == "room" else "exam_camera"},
            )
            self._log(AuditAction.TRACK_STARTED, {"track": "microphone"})

    def _physician_track(self, track: MediaStreamTrack) -> None:
        if self._on_physician_track is not None:
            self._on_physician_track(track)
        else:
            self._discard(track)

    def _flush(self) -> None:
        channel = self._vitals
        while channel is not None and self._pending and channel.readyState == "open":
            channel.send(self._pending.pop(0))

    # -- physician requests ----------------------------------------------------------

    async def _on_request(self, control: RTCDataChannel, text: object) -> None:
        try:
            request = channels.Request.model_validate_json(text if isinstance(text, str | bytes) else b"")
        except ValueError as exc:
            logger.warning("ignored a control message that does not parse: %s", type(exc).__name__)
            return
        try:
            handler = self._EXAM_OPS.get(request.op)
            if handler is not None:
                await handler(self, control, request)
                return
            if request.op == "snapshot":
                await self._snapshot(control, request)
                return
            if request.op == "switch_camera":
                await self.switch_camera(request.camera or "room")
            else:
                await self.set_stethoscope(bool(request.on))
            control.send(channels.Response(id=request.id, ok=True).model_dump_json())
        except Exception as exc:  # any failure is the physician's to see, not a crash
            control.send(channels.Response(id=request.id, ok=False, error=str(exc)).model_dump_json())

    async def _snapshot(self, control: RTCDataChannel, request: channels.Request) -> None:
        snapshot = await self.take_snapshot(request.format)
        self._send_still(control, request.id, snapshot)

    def _send_still(
        self,
        control: RTCDataChannel,
        request_id: int,
        snapshot: Snapshot,
        clip: Clip | None = None,
        **extra: Any,
    ) -> None:
        """The snapshot answer, then the image's chunks, then the clip's (base64)."""
        size = channels.CHUNK_BYTES * 4 // 3
        pieces = channels.chunked(base64.b64encode(snapshot.data).decode(), size)
        clip_pieces = channels.chunked(base64.b64encode(clip.data).decode(), size) if clip else []
        control.send(
            channels.Response(
                id=request_id,
                ok=True,
                media_type=snapshot.media_type,
                width=snapshot.width,
                height=snapshot.height,
                captured_at=snapshot.captured_at,
                chunks=len(pieces),
                clip_media_type=clip.media_type if clip else None,
                clip_chunks=len(clip_pieces) if clip else None,
                **extra,
            ).model_dump_json()
        )
        for index, piece in enumerate([*pieces, *clip_pieces]):
            control.send(channels.Chunk(id=request_id, index=index, data=piece).model_dump_json())

    def _send_json(self, control: RTCDataChannel, request_id: int, text: str) -> None:
        pieces = channels.chunked(text, channels.JSON_CHUNK_CHARS)
        control.send(
            channels.Response(
                id=request_id, ok=True, media_type="application/json", chunks=len(pieces)
            ).model_dump_json()
        )
        for index, piece in enumerate(pieces):
            control.send(channels.Chunk(id=request_id, index=index, data=piece).model_dump_json())

    async def take_snapshot(
        self, image_format: Literal["png", "jpeg"] = "png", *, step: str | None = None
    ) -> Snapshot:
        """A full-resolution still from the exam camera, kept in :attr:`snapshots` and audited.

        Args:
            image_format: ``png`` or ``jpeg``.
            step: The facial protocol step it documents (written to the audit log).
        """
        snapshot = await self._exam_still(image_format, step)
        self.snapshots.append(snapshot)
        return snapshot

    async def _exam_still(self, image_format: Literal["png", "jpeg"], step: str | None) -> Snapshot:
        snapshot = await (await self._device("exam")).snapshot(image_format)
        detail = {"media_type": snapshot.media_type, "size": f"{snapshot.width}x{snapshot.height}"}
        self._log(AuditAction.SNAPSHOT, {**detail, "step": step} if step else detail)
        return snapshot

    # -- the guided facial protocol --------------------------------------------------

    async def _exam_forms(self, control: RTCDataChannel, request: channels.Request) -> None:
        self._send_json(control, request.id, forms_json())

    async def run_exam_step(
        self,
        code: str,
        *,
        index: int = 0,
        total: int = len(PROTOCOL),
        clip: bool = False,
        image_format: Literal["png", "jpeg"] = "png",
        progress: Callable[[channels.ExamProgress], object] | None = None,
    ) -> ExamStill:
        """Run one protocol step: count down on the kiosk, take the still (and a clip).

        ``on_exam_step`` is awaited at every tick; ``progress`` (the console's channel)
        hears the same. The still is kept in :attr:`exam_stills` and audited. Steps
        asked for at once run one after the other.

        Raises:
            GradingError: ``code`` is not a protocol step.
            MediaDeviceError: The exam camera gave no frame.
        """
        chosen = step(code)
        async with self._exam_running:
            return await self._run_step(chosen.code, index, total, clip, image_format, progress)

    async def _run_step(
        self,
        code: str,
        index: int,
        total: int,
        clip: bool,
        image_format: Literal["png", "jpeg"],
        progress: Callable[[channels.ExamProgress], object] | None,
    ) -> ExamStill:
        chosen = step(code)

        async def tell(countdown: int, phase: channels.ExamPhase) -> None:
            if self._on_exam_step is not None:
                await self._on_exam_step(chosen.code, index, total, countdown, phase)
            if progress is not None:
                progress(
                    channels.ExamProgress(
                        id=0, step=chosen.code, index=index, total=total, countdown=countdown, phase=phase
                    )
                )

        for left in range(chosen.countdown_s, 0, -1):
            await tell(left, "instruct")
            await asyncio.sleep(self.countdown_tick)
        await tell(0, "capture")
        snapshot = await self._exam_still(image_format, chosen.code)
        recorded = None
        if clip:
            recorded = await (await self._device("exam")).clip(self.clip_seconds)
            self._log(
                AuditAction.CLIP,
                {
                    "media_type": recorded.media_type,
                    "size": f"{recorded.width}x{recorded.height}",
                    "step": code,
                },
            )
        still = ExamStill(step=chosen.code, snapshot=snapshot, clip=recorded)
        self.exam_stills.append(still)
        await tell(0, "done")
        return still

    async def _exam_step(self, control: RTCDataChannel, request: channels.Request) -> None:
        def progress(update: channels.ExamProgress) -> None:
            control.send(update.model_copy(update={"id": request.id}).model_dump_json())

        still = await self.run_exam_step(
            request.step or "",
            index=request.index or 0,
            total=request.total or len(PROTOCOL),
            clip=request.clip,
            image_format=request.format,
            progress=progress,
        )
        self._send_still(control, request.id, still.snapshot, still.clip, step=still.step)

    def _exam_context(self) -> FacialExamContext:
        if self.exam is None:
            raise PeerError("this room has no facial exam context (patient, Encounter, record)")
        return self.exam

    async def record_exam(
        self, *, sunnybrook: Mapping[str, Any] | None = None, house_brackmann: str | None = None
    ) -> tuple[dict[str, Any], dict[str, int] | None]:
        """Write the exam (stills, answers, scores) as one FHIR transaction through ``exam.record``.

        Returns:
            The transaction Bundle and the Sunnybrook scores (``None`` if not graded).

        Raises:
            PeerError: The room has no :class:`FacialExamContext`.
            GradingError: The answers are incomplete or out of range.
        """
        context = self._exam_context()
        bundle, score = exam_bundle(
            context,
            self.exam_stills,
            sunnybrook=dict(sunnybrook) if sunnybrook is not None else None,
            house_brackmann=house_brackmann,
        )
        await context.record(bundle)
        self._log(AuditAction.EXAM_RECORDED, {"resources": str(len(bundle["entry"]))})
        scores = score.model_dump(exclude={"grading"}) if score is not None else None
        return bundle, scores

    async def _exam_record(self, control: RTCDataChannel, request: channels.Request) -> None:
        bundle, scores = await self.record_exam(
            sunnybrook=request.sunnybrook, house_brackmann=request.house_brackmann
        )
        written = [entry["request"]["url"] for entry in bundle["entry"]]
        control.send(
            channels.Response(id=request.id, ok=True, resources=written, scores=scores).model_dump_json()
        )

    async def _exam_compare(self, control: RTCDataChannel, request: channels.Request) -> None:
        self._send_json(control, request.id, compare_json(self._exam_context(), self.exam_stills))

    _EXAM_OPS: Final[dict[str, Callable[[RoomPeer, RTCDataChannel, channels.Request], Any]]] = {
        "exam_forms": _exam_forms,
        "exam_step": _exam_step,
        "exam_record": _exam_record,
        "exam_compare": _exam_compare,
    }

    async def switch_camera(self, camera: Camera) -> None:
        """Show the ``room`` or the ``exam`` camera on the main video."""
        if camera == self.camera:
            return
        device = await self._device(camera)
        if self._video is not None:
            # The previous subscription is not stopped: aiortc's sender may be inside its
            # recv(), and a stopped track ends the sender's RTP loop for good.
            self._video.replaceTrack(device.subscribe())
        await self.sfu.show(camera)
        self._log(AuditAction.TRACK_STOPPED, {"track": f"{self.camera}_camera"})
        self.camera = camera
        self._log(AuditAction.TRACK_STARTED, {"track": f"{camera}_camera"})

    async def set_stethoscope(self, on: bool) -> None:
        """Start or stop streaming the stethoscope."""
        if on == self.stethoscope_on:
            return
        if self._stethoscope is not None:
            self._stethoscope.replaceTrack((await self._device("stethoscope")).subscribe() if on else None)
        self.stethoscope_on = on
        self._log(AuditAction.TRACK_STARTED if on else AuditAction.TRACK_STOPPED, {"track": "stethoscope"})

    def _log(self, action: AuditAction, detail: dict[str, str]) -> None:
        if self.audit is None or self._client.welcome is None:
            return
        welcome = self._client.welcome
        self.audit.append(
            action,
            actor=welcome.participant,
            role=welcome.role,
            room=welcome.room,
            appointment=welcome.appointment,
            detail=detail,
        )

    async def _close_devices(self) -> None:
        for device in self._devices.values():
            await device.aclose()
        self._devices.clear()

    async def aclose(self) -> None:
        """Leave, close the connection and release every camera and audio device."""
        if self.pc is not None or self.sfu.media is not None:
            self._log(AuditAction.TRACK_STOPPED, {"track": "all"})
        await self.sfu.aclose()
        await super().aclose()
        await self._close_devices()


class PhysicianPeer(_Peer):
    """A scripted physician: admits, answers the room's offer, receives video and vitals.

    Args:
        url: The signaling WebSocket, ``ws(s)://host/ws/{room}/{appointment}``.
        token: A physician join token.
        auto_admit: Admit everyone who waits (else call :meth:`admit`).
        ice_servers: STUN/TURN servers; ``None`` takes the server's.
        relay_only: Use only TURN relay candidates.
        origin: ``Origin`` header to send.
        ssl: TLS context for ``wss://``; the system's trust store by default.
        camera: The physician's own camera, sent to the room (shown on its kiosk);
            ``None`` sends no video, as before.
        microphone: The physician's own microphone, sent to the room (played by its
            kiosk); ``None`` sends no audio. ``MediaSource.synthetic(Role.MICROPHONE)``
            is a 440 Hz tone.

    Attributes:
        video: The room's main video track, once it arrives.
        video_ready: Set when it arrives.
        waiting: Participants in the waiting room, by id (from the latest roster).

    Examples:
        >>> doctor = PhysicianPeer("wss://session.example/ws/quarter-1/apt-42", "<token>", auto_admit=True)
        >>> doctor.auto_admit, doctor.waiting, doctor.video_ready.is_set()
        (True, {}, False)
    """

    role = "physician"

    def __init__(
        self,
        url: str,
        token: str,
        *,
        auto_admit: bool = False,
        ice_servers: Sequence[IceServer] | None = None,
        relay_only: bool = False,
        origin: str | None = None,
        ssl: SSLContext | None = None,
        camera: MediaSource | None = None,
        microphone: MediaSource | None = None,
    ) -> None:
        super().__init__(url, token, ice_servers=ice_servers, relay_only=relay_only, origin=origin, ssl=ssl)
        self.auto_admit = auto_admit
        self._camera_source = camera
        self._camera: MediaDevice | None = None
        self._microphone_source = microphone
        self._own_microphone: MediaDevice | None = None
        self.video: MediaStreamTrack | None = None
        self.video_ready = asyncio.Event()
        self.waiting: dict[str, p.ParticipantInfo] = {}
        self._someone_waits = asyncio.Event()
        self._vitals: asyncio.Queue[Measurement] = asyncio.Queue()
        self._control: RTCDataChannel | None = None
        self._control_open = asyncio.Event()
        self._answers: dict[int, asyncio.Future[tuple[channels.Response, list[str]]]] = {}
        self._partial: dict[int, tuple[channels.Response, list[str]]] = {}
        self._progress: dict[int, Callable[[channels.ExamProgress], object]] = {}
        self._next_id = 0

    async def __aenter__(self) -> Self:
        await self._client.connect()
        return self

    async def next_waiting(self, timeout: float = 60.0) -> p.ParticipantInfo:
        """Wait until someone is in the waiting room and return them."""
        async with asyncio.timeout(timeout):
            while not self.waiting:
                self._someone_waits.clear()
                await self._someone_waits.wait()
        return next(iter(self.waiting.values()))

    async def admit(self, participant: str) -> None:
        """Let a waiting participant in."""
        await self._client.send(p.Admit(participant=participant))

    async def deny(self, participant: str, reason: str = "") -> None:
        """Turn a waiting participant away."""
        await self._client.send(p.Deny(participant=participant, reason=reason))

    async def end(self) -> None:
        """End the visit for everyone."""
        await self._client.send(p.End())
        self.ended.set()

    async def measurements(self) -> AsyncIterator[Measurement]:
        """Every reading the room sends on ``vitals``, as it arrives (stop iterating when done)."""
        while True:
            yield await self._vitals.get()

    async def first_video_frame(self, timeout: float = 30.0) -> VideoFrame:
        """The first decoded frame of the room's main video.

        Raises:
            PeerError: No video within ``timeout`` seconds or the track ended.
        """
        try:
            async with asyncio.timeout(timeout):
                await self.video_ready.wait()
                assert self.video is not None
                frame = await self.video.recv()
        except (TimeoutError, MediaStreamError) as exc:
            raise PeerError(f"no video frame within {timeout} s") from exc
        if not isinstance(frame, VideoFrame):
            raise PeerError(f"the video track sent {type(frame).__name__}")
        return frame

    async def request(
        self, request_op: Literal["snapshot", "switch_camera", "stethoscope"], **fields: Any
    ) -> channels.Response:
        """Send a request on ``control`` and wait for the room's answer.

        Raises:
            PeerError: The room refused it or did not answer within 30 s.
        """
        response, _ = await self._request(request_op, **fields)
        return response

    async def _request(
        self,
        op: str,
        *,
        progress: Callable[[channels.ExamProgress], object] | None = None,
        timeout: float = 30.0,
        **fields: Any,
    ) -> tuple[channels.Response, list[str]]:
        async with asyncio.timeout(30):
            await self._control_open.wait()
        assert self._control is not None
        self._next_id += 1
        request = channels.Request.model_validate({"id": self._next_id, "op": op, **fields})
        future: asyncio.Future[tuple[channels.Response, list[str]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._answers[request.id] = future
        if progress is not None:
            self._progress[request.id] = progress
        self._control.send(request.model_dump_json())
        try:
            async with asyncio.timeout(timeout):
                response, chunks = await future
        except TimeoutError as exc:
            raise PeerError(f"the room did not answer {op} within {timeout} s") from exc
        finally:
            self._progress.pop(request.id, None)
        if not response.ok:
            raise PeerError(f"the room refused {op}: {response.error}")
        return response, chunks

    async def snapshot(self, image_format: Literal["png", "jpeg"] = "png") -> Snapshot:
        """Ask the room for a full-resolution still from its exam camera."""
        response, chunks = await self._request("snapshot", format=image_format)
        return Snapshot(
            data=base64.b64decode("".join(chunks)),
            media_type=response.media_type,  # type: ignore[arg-type]
            width=response.width or 0,
            height=response.height or 0,
            captured_at=response.captured_at or datetime.now(UTC),
        )

    async def switch_camera(self, camera: Camera) -> None:
        """Show the room's ``room`` or ``exam`` camera on the main video."""
        await self._request("switch_camera", camera=camera)

    async def _json(self, op: str, **fields: Any) -> Any:
        _response, chunks = await self._request(op, **fields)
        try:
            return json.loads("".join(chunks))
        except ValueError as exc:
            raise PeerError(f"the room's {op} answer is not JSON") from exc

    async def exam_forms(self) -> dict[str, Any]:
        """The room's protocol steps and grading Questionnaires (FHIR JSON), as the console shows them."""
        forms: dict[str, Any] = await self._json("exam_forms")
        return forms

    async def exam_step(
        self,
        code: str,
        *,
        index: int = 0,
        total: int = len(PROTOCOL),
        clip: bool = False,
        image_format: Literal["png", "jpeg"] = "png",
        on_progress: Callable[[channels.ExamProgress], object] | None = None,
    ) -> ExamStill:
        """Have the room run one protocol step; returns its full-resolution still (and clip).

        Raises:
            PeerError: The room refused it (unknown step, camera failure) or did not answer.
        """
        response, chunks = await self._request(
            "exam_step",
            progress=on_progress,
            timeout=30.0 + len(PROTOCOL) * 2,
            step=code,
            index=index,
            total=total,
            clip=clip,
            format=image_format,
        )
        images = response.chunks or 0
        captured_at = response.captured_at or datetime.now(UTC)
        snapshot = Snapshot(
            data=base64.b64decode("".join(chunks[:images])),
            media_type=response.media_type,  # type: ignore[arg-type]
            width=response.width or 0,
            height=response.height or 0,
            captured_at=captured_at,
        )
        recorded = None
        if response.clip_chunks:
            recorded = Clip.from_webm(base64.b64decode("".join(chunks[images:])), captured_at=captured_at)
        return ExamStill(step=response.step or code, snapshot=snapshot, clip=recorded)

    async def run_facial_protocol(
        self,
        *,
        clip: bool = False,
        steps: Sequence[str] | None = None,
        on_progress: Callable[[channels.ExamProgress], object] | None = None,
    ) -> list[ExamStill]:
        """Run the guided facial protocol (all eight steps, or ``steps``) and collect the stills.

        Examples:
            >>> PhysicianPeer("wss://session.example/ws/r/a", "<token>").run_facial_protocol
            <bound method PhysicianPeer.run_facial_protocol of <...PhysicianPeer object at ...>>
        """
        codes = list(steps) if steps is not None else [s.code for s in PROTOCOL]
        return [
            await self.exam_step(code, index=index, total=len(codes), clip=clip, on_progress=on_progress)
            for index, code in enumerate(codes)
        ]

    async def record_exam(
        self,
        *,
        sunnybrook: SunnybrookGrading | Mapping[str, Any] | None = None,
        house_brackmann: str | None = None,
    ) -> channels.Response:
        """Send the grading; the room writes the exam to the record and answers what it wrote.

        Returns:
            The answer: ``resources`` (``Media/<id>``, ``QuestionnaireResponse/<id>``, ...)
            and the Sunnybrook ``scores`` the room computed.

        Raises:
            PeerError: The room refused it (no exam context, incomplete answers).
        """
        answers = sunnybrook.model_dump() if isinstance(sunnybrook, SunnybrookGrading) else sunnybrook
        response, _ = await self._request(
            "exam_record",
            sunnybrook=dict(answers) if answers is not None else None,
            house_brackmann=house_brackmann,
        )
        return response

    async def compare_visits(self) -> list[StillPair]:
        """The previous visit's stills next to this one's, step by step (``compare_visits`` in the room)."""
        from fhir.resources.R4B.documentreference import DocumentReference
        from fhir.resources.R4B.media import Media

        def resource(data: dict[str, Any] | None) -> Media | DocumentReference | None:
            if data is None:
                return None
            if data.get("resourceType") == "Media":
                return Media.model_validate(data)
            if data.get("resourceType") == "DocumentReference":
                return DocumentReference.model_validate(data)
            raise PeerError(f"the room compared a {data.get('resourceType')!r}, not a still")

        data = await self._json("exam_compare")
        return [
            StillPair(step=step(pair["step"]), before=resource(pair["before"]), after=resource(pair["after"]))
            for pair in data["pairs"]
        ]

    async def stethoscope(self, on: bool) -> None:
        """Start or stop the room's stethoscope audio."""
        await self._request("stethoscope", on=on)

    async def _handle(self, message: p.ServerMessage) -> None:
        if isinstance(message, p.Roster):
            self.waiting = {q.id: q for q in message.participants if q.state == "waiting"}
            if self.waiting:
                self._someone_waits.set()
            if self.auto_admit:
                for participant in self.waiting:
                    await self.admit(participant)
        elif isinstance(message, p.RelayedOffer):
            await self._answer(message)
        elif isinstance(message, p.RelayedVitals):  # a multi-party visit: vitals come from the server
            self._on_vitals(message.data)

    async def _answer(self, offer: p.RelayedOffer) -> None:
        self._drop_pc()
        self.remote_id = offer.sender
        pc = self.pc = self._new_pc()

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and self.video is None:
                self.video = track
                self.video_ready.set()
            else:
                self._discard(track)  # room microphone and stethoscope: this script does not listen

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            if channel.label == channels.VITALS:
                channel.on("message", self._on_vitals)
            elif channel.label == channels.CONTROL:
                self._control = channel
                channel.on("message", self._on_response)
                self._control_open.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        if self._camera_source is not None:
            if self._camera is None:
                self._camera = await MediaDevice(self._camera_source).open()
            # fills the room's offered video line (sendrecv): aiortc reuses that transceiver
            pc.addTrack(self._camera.subscribe())
        if self._microphone_source is not None:
            if self._own_microphone is None:
                self._own_microphone = await MediaDevice(self._microphone_source).open()
            # fills the room's microphone line (sendrecv, its first audio m-line)
            pc.addTrack(self._own_microphone.subscribe())
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        await self._client.send(p.Answer(to=offer.sender, sdp=pc.localDescription.sdp))

    def _on_vitals(self, text: object) -> None:
        try:
            self._vitals.put_nowait(
                channels.decode_measurement(text if isinstance(text, str | bytes) else b"")
            )
        except PeerError as exc:
            logger.warning("%s", exc)

    def _on_response(self, text: object) -> None:
        raw = text if isinstance(text, str | bytes) else b""
        try:
            chunk = channels.Chunk.model_validate_json(raw)
        except ValueError:
            chunk = None
        if chunk is not None:
            partial = self._partial.get(chunk.id)
            if partial is not None:
                partial[1].append(chunk.data)
                if len(partial[1]) == partial[0].total_chunks:
                    self._resolve(chunk.id, partial)
            return
        try:
            progress = channels.ExamProgress.model_validate_json(raw)
        except ValueError:
            progress = None
        if progress is not None:
            listener = self._progress.get(progress.id)
            if listener is not None:
                listener(progress)
            return
        try:
            response = channels.Response.model_validate_json(raw)
        except ValueError:
            logger.warning("ignored a control answer that does not parse")
            return
        if response.ok and response.total_chunks:
            self._partial[response.id] = (response, [])
        else:
            self._resolve(response.id, (response, []))

    def _resolve(self, request_id: int, answer: tuple[channels.Response, list[str]]) -> None:
        self._partial.pop(request_id, None)
        future = self._answers.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(answer)

    async def aclose(self) -> None:
        """Leave, close the connection; safe to call twice."""
        if self.video is not None:
            self.video.stop()
        await super().aclose()
        camera, self._camera = self._camera, None
        if camera is not None:
            await camera.aclose()
        microphone, self._own_microphone = self._own_microphone, None
        if microphone is not None:
            await microphone.aclose()
