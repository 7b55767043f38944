"""A patient page's loopback video: the self-view and the far side's video and voice.

The room's kiosk and the apartment's screen both use it (the far side is the physician,
or the ward); it sits below both (``tests/apartment/test_layers.py``). The page side is
:data:`VIDEO_JS` (``video.js``), which each page serves next to its own script.

The page offers two receive-only video transceivers and one receive-only audio
transceiver; the first video (in SDP order) gets the self-view, the second the
physician's video, the audio one the physician's voice (an offer without an audio
transceiver is still answered, without the voice). One kiosk screen is one connection: a new
offer closes the previous connection (the page reconnects when the physician is
admitted). The tracks a connection sends are its own (``tracks()``, e.g.
the room's ``kiosk_tracks``, is called once per offer) and are stopped when it closes.
:func:`answer_offer` is the ``POST .../webrtc`` endpoint both pages serve.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from telemedroom.errors import MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aiortc import MediaStreamTrack, RTCPeerConnection
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["VIDEO_JS", "KioskPeers", "KioskTracks", "OfferError", "answer_offer"]

logger = logging.getLogger(__name__)

VIDEO_JS: Final = Path(__file__).with_name("video.js")
"""The page side: ``window.loopbackVideo({ids, onChange, askAgain})`` (no other resources)."""


@dataclass(frozen=True)
class KioskTracks:
    """A patient page's media: the self-view, the far side's video and voice.

    On the kiosk: the room camera and the physician; on the apartment's screen: the
    tablet's camera and the ward. The far side's tracks are ``None`` before admission.
    All are aiortc ``MediaStreamTrack`` objects (typed ``Any`` so that this module needs
    no ``video`` extra).

    Examples:
        >>> KioskTracks(self_view=None, physician=None).physician is None
        True
    """

    self_view: Any = field(default=None)
    physician: Any = field(default=None)
    physician_audio: Any = field(default=None)


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
        >>> peers = KioskPeers(lambda: KioskTracks())
        >>> asyncio.run(peers.aclose()); peers.open
        0
    """

    def __init__(self, tracks: Callable[[], KioskTracks]) -> None:
        self._tracks = tracks
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
            from aiortc import RTCConfiguration, RTCPeerConnection
        except ImportError as exc:
            raise MissingExtraError("video", "the kiosk's video (POST /kiosk/webrtc)") from exc

        _check_offer(sdp)
        async with self._lock:
            await self._close_all()  # the newest kiosk connection wins
            # the page is on this machine: host candidates only, no STUN server asked
            # (aiortc's default configuration would ask Google's for every answer)
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
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
        tracks = self._tracks()
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

        from telemedroom.session._gathering import set_local_description

        await set_local_description(pc, await pc.createAnswer())
        local = pc.localDescription
        return {"sdp": local.sdp, "type": local.type, "tracks": sent}

    async def _close(self, pc: RTCPeerConnection) -> None:
        # popped first: closing fires "connectionstatechange", which comes back here
        tracks = self._connections.pop(pc, None)
        if tracks is None:
            return
        from telemedroom.session._gathering import close

        await close(pc)
        for track in tracks:
            track.stop()

    async def _close_all(self) -> None:
        for pc in list(self._connections):
            await self._close(pc)

    async def aclose(self) -> None:
        """Close every connection and stop its tracks."""
        async with self._lock:
            await self._close_all()


async def answer_offer(peers: KioskPeers, request: Request, headers: Mapping[str, str]) -> Response:
    """``POST .../webrtc`` ``{"sdp", "type": "offer"}``: the answer, or ``{"reason"}`` with 400/403/503.

    Refuses another origin's request (403), a body that is not an offer or an offer
    without the page's two video m-lines (400), and answers 503 without the ``video``
    extra.
    """
    from starlette.responses import JSONResponse

    from telemedroom._web import json_body, same_origin

    def refuse(status: int, reason: str) -> JSONResponse:
        return JSONResponse({"reason": reason}, status_code=status, headers=dict(headers))

    if not same_origin(request):
        return refuse(403, "cross_origin")
    data = await json_body(request)
    if data is None or data.get("type") != "offer" or not isinstance(data.get("sdp"), str):
        return refuse(400, "invalid_offer")
    try:
        answer = await peers.answer(data["sdp"])
    except OfferError as exc:
        return refuse(400, exc.reason)
    except MissingExtraError as exc:
        logger.warning("video unavailable: %s", exc)
        return refuse(503, "video_unavailable")
    return JSONResponse(answer, headers=dict(headers))
