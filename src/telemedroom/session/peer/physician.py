"""A scripted physician's WebRTC peer (extra ``video``): admits, answers, receives video and vitals, asks.

Examples:
    >>> from telemedroom.session.peer.physician import PhysicianPeer
    >>> PhysicianPeer("wss://session.example/ws/r/a", "<token>").role
    'physician'
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from ssl import SSLContext
from typing import Any, Literal, Self, TypeVar

from aiortc import RTCDataChannel, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

# Without the video extra the package (peer/__init__ -> _base) has already raised
# MissingExtraError before this module is reached.
from pydantic import BaseModel

from telemedroom.devices.media import Clip, MediaDevice, MediaSource, Snapshot
from telemedroom.errors import PeerError
from telemedroom.exams import PROTOCOL, StillPair, SunnybrookGrading, step
from telemedroom.measurements import Measurement
from telemedroom.session import _gathering, channels
from telemedroom.session import protocol as p
from telemedroom.session._exam import ExamStill
from telemedroom.session.peer._base import Camera, _Peer
from telemedroom.session.turn import IceServer

__all__ = ["PhysicianPeer"]

logger = logging.getLogger("telemedroom.session.peer")

_Message = TypeVar("_Message", bound=BaseModel)


class PhysicianPeer(_Peer):
    """A scripted physician: admits, answers the room's offer, receives video and vitals.

    Args:
        url: The signaling WebSocket, ``ws(s)://host/ws/{room}/{appointment}`` (or the same
            path on each replica of a hub, tried in turn).
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
        url: str | Sequence[str],
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
        await _gathering.set_local_description(pc, await pc.createAnswer())
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
        chunk = _parsed(channels.Chunk, raw)
        if chunk is not None:
            partial = self._partial.get(chunk.id)
            if partial is not None:
                partial[1].append(chunk.data)
                if len(partial[1]) == partial[0].total_chunks:
                    self._resolve(chunk.id, partial)
            return
        progress = _parsed(channels.ExamProgress, raw)
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


def _parsed(model: type[_Message], raw: str | bytes) -> _Message | None:
    """``raw`` as a ``model`` message, or ``None`` if it is another kind."""
    try:
        return model.model_validate_json(raw)
    except ValueError:
        return None
