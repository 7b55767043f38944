"""The kiosk's loopback WebRTC peer: sends the self-view and the physician's video and voice.

The page offers two receive-only video transceivers and one receive-only audio
transceiver; the first video (in SDP order) gets the self-view, the second the
physician's video, the audio one the physician's voice (an offer without an audio
transceiver is still answered, without the voice). One kiosk screen is one connection: a new
offer closes the previous connection (the page reconnects when the physician is
admitted). The tracks a connection sends are its own (:meth:`KioskBackend.kiosk_tracks`
is called once per offer) and are stopped when it closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

from telemedroom.errors import MissingExtraError
from telemedroom.session import _gathering

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection

    from telemedroom._kiosk._backend import KioskBackend

__all__ = ["KioskPeers", "OfferError"]

logger = logging.getLogger(__name__)

# The order of the page's transceivers of each kind (its m-lines, RFC 8829 §5.2.1).
_TRACK_ORDER: Final = ("self_view", "physician")
_AUDIO_ORDER: Final = ("physician_audio",)


class OfferError(Exception):
    """The page's offer cannot be answered (``reason`` is sent back as JSON)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _check_offer(sdp: str) -> None:
    """Refuse an offer aiortc cannot parse, or one without the page's two video m-lines.

    Raises:
        OfferError: ``invalid_sdp`` or ``needs_two_video_transceivers``.
    """
    from aiortc.sdp import SessionDescription

    try:
        parsed = SessionDescription.parse(sdp)
    # aiortc's SDP parser has no error type: broken lines fail with whatever Python
    # raises on the way (AssertionError, ValueError, IndexError, StopIteration, ...).
    except Exception as exc:
        raise OfferError("invalid_sdp") from exc
    if sum(media.kind == "video" for media in parsed.media) < len(_TRACK_ORDER):
        raise OfferError("needs_two_video_transceivers")


class KioskPeers:
    """The kiosk's WebRTC connections (at most one open at a time).

    Examples:
        >>> import asyncio
        >>> peers = KioskPeers(backend=None)  # type: ignore[arg-type]
        >>> asyncio.run(peers.aclose()); peers.open
        0
    """

    def __init__(self, backend: KioskBackend) -> None:
        self._backend = backend
        self._connections: dict[RTCPeerConnection, list[MediaStreamTrack]] = {}
        self._lock = asyncio.Lock()

    @property
    def open(self) -> int:
        """How many connections are open."""
        return len(self._connections)

    async def answer(self, sdp: str) -> dict[str, Any]:
        """Answer the page's offer: ``{"sdp", "type": "answer", "tracks": {name: sent?}}``.

        Raises:
            MissingExtraError: aiortc is not installed (``telemedroom[video]``).
            OfferError: The offer is not SDP with two video transceivers.
        """
        try:
            from aiortc import RTCPeerConnection
        except ImportError as exc:
            raise MissingExtraError("video", "the kiosk's video (POST /kiosk/webrtc)") from exc

        _check_offer(sdp)
        async with self._lock:
            await self._close_all()  # the newest kiosk connection wins
            pc = RTCPeerConnection()
            self._connections[pc] = []
            try:
                return await self._answer(pc, sdp)
            except BaseException:
                await self._close(pc)
                raise

    async def _answer(self, pc: RTCPeerConnection, sdp: str) -> dict[str, Any]:
        from aiortc import RTCSessionDescription

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except ValueError as exc:  # e.g. "ICE username fragment or password is missing"
            raise OfferError("invalid_sdp") from exc
        video = [t for t in pc.getTransceivers() if t.kind == "video"]
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        tracks = self._backend.kiosk_tracks()
        sent: dict[str, bool] = {}
        slots = [*zip(video, _TRACK_ORDER, strict=False), *zip(audio, _AUDIO_ORDER, strict=False)]
        for transceiver, name in slots:
            track = getattr(tracks, name)
            sent[name] = track is not None
            if track is not None:
                self._connections[pc].append(track)
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(pc)

        await _gathering.set_local_description(pc, await pc.createAnswer())
        local = pc.localDescription
        return {"sdp": local.sdp, "type": local.type, "tracks": sent}

    async def _close(self, pc: RTCPeerConnection) -> None:
        # popped first: closing fires "connectionstatechange", which comes back here
        tracks = self._connections.pop(pc, None)
        if tracks is None:
            return
        await _gathering.close(pc)
        for track in tracks:
            track.stop()

    async def _close_all(self) -> None:
        for pc in list(self._connections):
            await self._close(pc)

    async def aclose(self) -> None:
        """Close every connection and stop its tracks."""
        async with self._lock:
            await self._close_all()
