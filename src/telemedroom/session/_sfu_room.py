"""The room's side of a multi-party visit (used by :class:`~telemedroom.session.peer.RoomPeer`).

With an SFU the room sends no media peer to peer: once admitted it takes the server's
Janus grant and publishes, each track once, its room camera and microphone in
the visit's ``main`` room and its exam camera and stethoscope in the ``clinical`` room
(both silent until a physician asks for them). Every participant's voice reaches the
peer's ``on_physician_track`` as one mixed audio track (:class:`AudioMix`), and the
owning physician's camera as its video. Live vitals go through the
signaling server, which hands them to physicians only. The physician who owns the visit
still gets a peer-to-peer link from the room, with the ``control`` data channel only
(snapshots, camera switch, stethoscope, the facial protocol). If the server says the
SFU is unavailable, the room goes back to peer to peer with one physician.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.contrib.media import MediaBlackhole
from aiortc.mediastreams import MediaStreamTrack

from telemedroom.devices.media import MediaDevice
from telemedroom.errors import SfuError
from telemedroom.session import _gathering, channels
from telemedroom.session import protocol as p
from telemedroom.session._mixer import AudioMix
from telemedroom.session._sfu_peer import SfuMedia, SfuTrack
from telemedroom.session._speaking import SpeakerBoard
from telemedroom.session._visit_participants import VisitParticipants
from telemedroom.session.audit import AuditAction

__all__ = ["RoomSfu"]

logger = logging.getLogger(__name__)

# the clinical room's published lines, in order
_EXAM_VIDEO = 0
_STETHOSCOPE = 1


class _Room(Protocol):
    _stethoscope: Any

    @property
    def camera(self) -> str: ...

    @property
    def stethoscope_on(self) -> bool: ...

    @property
    def welcome(self) -> p.Welcome: ...

    async def _device(self, name: str) -> MediaDevice: ...

    def _physician_track(self, track: MediaStreamTrack) -> None: ...

    def _spawn(self, coroutine: Any) -> None: ...

    def _log(self, action: AuditAction, detail: dict[str, str]) -> None: ...

    async def _on_request(self, control: RTCDataChannel, text: object) -> None: ...

    @property
    def _client(self) -> Any: ...


class RoomSfu:
    """Whether the room runs through Janus, and its media there.

    Attributes:
        participants: Everyone the rosters showed in the visit (peer to peer too).
        unavailable: The server's reason when the visit fell back to peer to peer.
        on_unavailable: Called once with that reason (the room shows it and audits it).
        speakers: Who is in the visit and who speaks, for the kiosk (through the SFU only:
            set its ``on_change``).
        media: The room's Janus media, once granted.
    """

    def __init__(self, room: _Room, send: Callable[[p.Vitals], Any]) -> None:
        self._room = room
        self._send = send
        self.unavailable: str | None = None
        self.media: SfuMedia | None = None
        self.error: SfuError | None = None
        self._starting: asyncio.Future[None] | None = None
        self.participants = VisitParticipants()
        self.on_unavailable: Callable[[str], object] | None = None
        self.speakers = SpeakerBoard()
        self.mix: AudioMix | None = None
        self._roles: dict[int, str] = {}
        self._shown: int | None = None
        self._sinks: list[MediaBlackhole] = []

    @property
    def active(self) -> bool:
        """Whether media goes through the SFU (the server offers one and has not given up on it)."""
        welcome = self._room.welcome if _joined(self._room) else None
        return welcome is not None and welcome.sfu and self.unavailable is None

    def handle(self, message: p.ServerMessage) -> bool:
        """Take the SFU's messages; ``True`` when the peer-to-peer path must not see it."""
        if isinstance(message, p.Roster):  # who took part, for Encounter.participant
            self.participants.update(message.participants, datetime.now(UTC))
            self._roles.update({q.feed: q.role for q in message.participants if q.feed is not None})
            if self.active:  # a peer-to-peer visit has one physician: the kiosk names them already
                self.speakers.roster(message.participants)
        if isinstance(message, p.SfuGrant):
            if self.media is not None and self.media.grant == message and self.error is None:
                return True  # a resume's grant: the media through Janus runs on untouched
            self._starting = asyncio.ensure_future(self._start(message))
            return True
        if isinstance(message, p.SfuUnavailable):
            first = self.unavailable is None
            self.unavailable = message.reason
            logger.warning("the SFU is unavailable, peer to peer instead: %s", message.reason)
            if first and self.on_unavailable is not None:
                self.on_unavailable(message.reason)
            return False  # the roster that follows lets the peer-to-peer path offer
        return False

    async def _start(self, grant: p.SfuGrant) -> None:
        room = self._room
        if self.media is not None:  # another grant (or a failed start): the old media goes
            previous, self.media, self.error = self.media, None, None
            await previous.aclose()
        camera = await room._device("room")
        microphone = await room._device("microphone")
        exam = (await room._device("exam")).subscribe() if room.camera == "exam" else None
        stethoscope = (await room._device("stethoscope")).subscribe() if room.stethoscope_on else None
        media = SfuMedia(
            grant,
            publish={
                "main": [("video", camera.subscribe()), ("audio", microphone.subscribe())],
                "clinical": [("video", exam), ("audio", stethoscope)],
            },
            on_track=self._on_track,
            ice_servers=room.welcome.ice_servers,
        )
        self.media = media
        try:
            await media.start()
        except SfuError as exc:
            self.error = exc
            logger.error("the room could not join the visit's Janus rooms: %s", exc)
            return
        room._stethoscope = media.sender("clinical", _STETHOSCOPE)
        room._log(AuditAction.TRACK_STARTED, {"track": "room_camera", "via": "sfu"})
        room._log(AuditAction.TRACK_STARTED, {"track": "microphone", "via": "sfu"})

    def _on_track(self, received: SfuTrack) -> None:
        track = received.track
        if track.kind == "audio":  # every participant's voice, mixed into the kiosk's one line
            if self.mix is None:
                self.mix = AudioMix()
                self.mix.on_speaking = self.speakers.speaking
                self.mix.add(track, key=received.feed)
                self._room._physician_track(self.mix)
            else:
                self.mix.add(track, key=received.feed)
            return
        # The kiosk shows the physician who owns the visit (the first physician to appear).
        role = self._roles.get(received.feed)
        if self._shown is None and role in ("physician", None):
            self._shown = received.feed
            self._room._physician_track(track)
        else:
            sink = MediaBlackhole()  # read and dropped, so no frames pile up
            sink.addTrack(track)
            self._sinks.append(sink)
            self._room._spawn(sink.start())

    async def offer_control(self, pc: RTCPeerConnection, physician: str) -> None:
        """Offer ``physician`` a data-only link: the ``control`` channel, no media, no vitals."""
        room = self._room
        control = pc.createDataChannel(channels.CONTROL, ordered=True)
        control.on("message", lambda text: room._spawn(room._on_request(control, text)))
        await _gathering.set_local_description(pc, await pc.createOffer())
        assert pc.localDescription is not None
        await room._client.send(p.Offer(to=physician, sdp=pc.localDescription.sdp))

    async def send_vitals(self, text: str) -> None:
        """One reading, through the signaling server, to the visit's physicians."""
        await self._send(p.Vitals(data=text))

    async def show(self, camera: str) -> None:
        """Publish (``exam``) or stop publishing (``room``) the exam camera in the clinical room."""
        sender = self.media.sender("clinical", _EXAM_VIDEO) if self.media is not None else None
        if sender is not None:
            sender.replaceTrack((await self._room._device("exam")).subscribe() if camera == "exam" else None)

    async def aclose(self) -> None:
        """Leave the Janus rooms."""
        self.speakers.close()
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        mix, self.mix = self.mix, None
        if mix is not None:
            await mix.aclose()
        for sink in self._sinks:
            await sink.stop()
        self._sinks.clear()
        media, self.media = self.media, None
        if media is not None:
            with contextlib.suppress(SfuError):
                await media.aclose()


def _joined(room: _Room) -> bool:
    try:
        room.welcome  # noqa: B018 (raises until the server's welcome)
    except Exception:
        return False
    return True
