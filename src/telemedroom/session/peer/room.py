"""The room's WebRTC peer (extra ``video``): cameras, microphone, stethoscope, live vitals, the facial exam.

Examples:
    >>> from telemedroom.session.peer.room import RoomPeer
    >>> RoomPeer("wss://session.example/ws/r/a", "<room token>").role
    'room'
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from ssl import SSLContext
from typing import Any, Final, Literal, Self

# Without the video extra the package (peer/__init__ -> _base) has already raised
# MissingExtraError before this module is reached.
from aiortc import RTCDataChannel, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from telemedroom._aio import first_set
from telemedroom.devices.media import Clip, MediaDevice, MediaSource, Role, Snapshot
from telemedroom.errors import PeerError
from telemedroom.exams import PROTOCOL, step
from telemedroom.measurements import Measurement
from telemedroom.session import _gathering, channels
from telemedroom.session import protocol as p
from telemedroom.session._exam import (
    ExamStepCallback,
    ExamStill,
    FacialExamContext,
    compare_json,
    exam_bundle,
    forms_json,
    measure_json,
)
from telemedroom.session._sfu_room import RoomSfu
from telemedroom.session.audit import AuditAction, AuditLog
from telemedroom.session.peer._base import Camera, _Peer
from telemedroom.session.turn import IceServer

__all__ = ["RoomPeer"]

logger = logging.getLogger("telemedroom.session.peer")

_PENDING_VITALS: Final = 1000


class RoomPeer(_Peer):
    """The room's WebRTC peer: cameras, microphone, stethoscope, live vitals.

    Args:
        url: The signaling WebSocket, ``wss://host/ws/{room}/{appointment}`` (or the same
            path on each replica of a hub, tried in turn).
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
        url: str | Sequence[str],
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
        await first_set(self.admitted, self.ended, timeout=timeout)
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
            await _gathering.set_local_description(pc, await pc.createOffer())
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

    # -- facial measurements: a measurement aid, off the event loop --------
    async def _exam_measure(self, control: RTCDataChannel, request: channels.Request) -> None:
        text = await asyncio.to_thread(
            measure_json, self._exam_context(), list(self.exam_stills), request.step or ""
        )
        self._send_json(control, request.id, text)

    async def _exam_compare(self, control: RTCDataChannel, request: channels.Request) -> None:
        text = await asyncio.to_thread(compare_json, self._exam_context(), list(self.exam_stills))
        self._send_json(control, request.id, text)

    _EXAM_OPS: Final[dict[str, Callable[[RoomPeer, RTCDataChannel, channels.Request], Any]]] = {
        "exam_forms": _exam_forms,
        "exam_step": _exam_step,
        "exam_record": _exam_record,
        "exam_compare": _exam_compare,
        "exam_measure": _exam_measure,
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
