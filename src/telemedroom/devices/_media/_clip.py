"""Short video clips from a camera track, encoded by PyAV as WebM (VP8).

The format: WebM (Matroska) with one VP8 video stream, no audio, the camera's own
resolution and frame timing (millisecond time stamps, as WebM stores them). VP8 is
royalty-free, encoded by the libvpx that PyAV's wheels ship, and played by every
browser the console supports (Chromium, Firefox) in a plain ``<video>`` element; the
FHIR ``Media`` of a clip has ``content.contentType`` ``video/webm``. libvpx runs in its
``realtime`` mode at its fastest speed step, the setting meant for live capture.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from fractions import Fraction
from typing import Annotated, Any, Final, Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from telemedroom.errors import MediaDeviceError

CLIP_MEDIA_TYPE: Final = "video/webm"
# libvpx options: realtime deadline, fastest speed step, a bit rate fit for a 1080p face.
_VP8_OPTIONS: Final = {"deadline": "realtime", "cpu-used": "8", "b": "4M"}
_MILLISECOND: Final = Fraction(1, 1000)


def _require_aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("captured_at must be timezone-aware")
    return value


class Clip(BaseModel):
    """A few seconds of a camera, as a WebM (VP8) file.

    Attributes:
        data: The WebM file.
        media_type: ``video/webm``.
        width: Width in pixels, the camera frame's own.
        height: Height in pixels.
        frames: How many frames it holds.
        duration: Its length in seconds.
        captured_at: When its first frame arrived (UTC).

    Examples:
        >>> from datetime import datetime, UTC
        >>> Clip(data=b"...", media_type="video/webm", width=1920, height=1080, frames=60,
        ...      duration=2.0, captured_at=datetime(2026, 11, 25, 9, tzinfo=UTC)).suffix
        '.webm'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: bytes = Field(repr=False)
    media_type: Literal["video/webm"]
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    frames: Annotated[int, Field(gt=0)]
    duration: Annotated[float, Field(ge=0)]
    captured_at: Annotated[datetime, AfterValidator(_require_aware)]

    @property
    def suffix(self) -> str:
        """File name suffix: ``.webm``."""
        return ".webm"

    @classmethod
    def from_webm(cls, data: bytes, *, captured_at: datetime) -> Clip:
        """Read a WebM file back: its size, frame count and duration, decoded by PyAV.

        Raises:
            MediaDeviceError: ``data`` is not a WebM file with a video stream.

        Examples:
            >>> import asyncio
            >>> from telemedroom.devices.media import TestPatternTrack
            >>> clip = asyncio.run(record_clip(TestPatternTrack(320, 240, 10), seconds=0.3))
            >>> again = Clip.from_webm(clip.data, captured_at=clip.captured_at)
            >>> (again.width, again.height, again.frames) == (clip.width, clip.height, clip.frames)
            True
        """
        try:
            with av.open(io.BytesIO(data), "r", format="webm") as container:
                stream = container.streams.video[0]
                times = [
                    float(frame.pts * frame.time_base)
                    for frame in container.decode(stream)
                    if frame.pts is not None and frame.time_base is not None
                ]
                width, height = stream.codec_context.width, stream.codec_context.height
        except (av.FFmpegError, IndexError, ValueError) as exc:
            raise MediaDeviceError("clip", "video", f"not a WebM video: {exc}") from exc
        if not times:
            raise MediaDeviceError("clip", "video", "the WebM file holds no frame")
        return cls(
            data=data,
            media_type=CLIP_MEDIA_TYPE,
            width=width,
            height=height,
            frames=len(times),
            duration=round(times[-1] - times[0], 3),
            captured_at=captured_at,
        )


class _Encoder:
    """One WebM file being written: frames in (in a worker thread), bytes out at the end."""

    def __init__(self, width: int, height: int) -> None:
        self.buffer = io.BytesIO()
        self.container: Any = av.open(self.buffer, "w", format="webm")
        self.stream: Any = self.container.add_stream("libvpx", options=dict(_VP8_OPTIONS))
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.codec_context.time_base = _MILLISECOND
        self.last_pts = -1

    def add(self, frame: VideoFrame, pts: int) -> None:
        image = frame.reformat(format="yuv420p")
        image.pts = max(pts, self.last_pts + 1)  # a muxer needs rising time stamps
        image.time_base = _MILLISECOND
        self.last_pts = image.pts
        for packet in self.stream.encode(image):
            self.container.mux(packet)

    def finish(self) -> bytes:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        return self.buffer.getvalue()


async def record_clip(track: MediaStreamTrack, seconds: float = 2.0, *, timeout: float = 5.0) -> Clip:
    """Record ``seconds`` of a video track (by its frames' own time stamps) as a WebM clip.

    Reads the track: give it a track of its own, subscribed ``buffered`` so no frame is
    skipped (``MediaDevice.clip`` does). Each frame is encoded in a worker thread as it
    arrives, so the event loop keeps serving the call.

    Raises:
        MediaDeviceError: The track is audio, ended, sent frames of changing size, no frame
            came within ``timeout``, or the encoder failed.

    Examples:
        >>> import asyncio
        >>> from telemedroom.devices.media import TestPatternTrack
        >>> clip = asyncio.run(record_clip(TestPatternTrack(320, 240, 10), seconds=0.5))
        >>> clip.media_type, clip.width, clip.frames, clip.data[:4].hex()
        ('video/webm', 320, 6, '1a45dfa3')
    """
    name = f"track {track.id}"
    if track.kind != "video":
        raise MediaDeviceError(name, track.kind, "a clip needs a video track")
    if seconds <= 0:
        raise MediaDeviceError(name, "video", f"a clip must last longer than 0 s, not {seconds}")
    encoder: _Encoder | None = None
    first: VideoFrame | None = None
    captured_at = datetime.now(UTC)
    frames, elapsed, duration = 0, 0.0, 0.0
    try:
        while True:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: 3.11's can drop a cancellation
                    frame = await track.recv()
            except MediaStreamError as exc:
                raise MediaDeviceError(name, "video", "the track ended during the clip") from exc
            except TimeoutError as exc:
                raise MediaDeviceError(name, "video", f"no frame within {timeout} s") from exc
            if not isinstance(frame, VideoFrame) or frame.pts is None or frame.time_base is None:
                raise MediaDeviceError(name, "video", "the track sent a frame without time stamp")
            if first is None or encoder is None:
                first, captured_at = frame, datetime.now(UTC)
                encoder = _Encoder(frame.width, frame.height)
            elif (frame.width, frame.height) != (first.width, first.height):
                raise MediaDeviceError(name, "video", "the frame size changed during the clip")
            elapsed = float((frame.pts - (first.pts or 0)) * frame.time_base)
            if elapsed > seconds:
                break
            await asyncio.to_thread(encoder.add, frame, round(elapsed * 1000))
            frames, duration = frames + 1, elapsed
        data = await asyncio.to_thread(encoder.finish)
    except (av.FFmpegError, ValueError) as exc:
        raise MediaDeviceError(name, "video", f"cannot encode the clip as WebM: {exc}") from exc
    return Clip(
        data=data,
        media_type=CLIP_MEDIA_TYPE,
        width=first.width,
        height=first.height,
        frames=frames,
        duration=round(duration, 3),
        captured_at=captured_at,
    )
