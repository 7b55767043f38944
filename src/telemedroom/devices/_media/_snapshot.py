"""Full-resolution stills from a camera track, encoded as PNG or JPEG by PyAV's FFmpeg."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, cast

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame
from av.video.codeccontext import VideoCodecContext
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from telemedroom.errors import MediaDeviceError

ImageFormat = Literal["png", "jpeg"]

# image format -> (FFmpeg encoder, pixel format it is fed, media type, file suffix).
# PNG is lossless RGB; JPEG uses full-range ("J") YUV 4:2:0 at a fixed quantiser (qscale),
# which FFmpeg's MJPEG encoder sets to its best value, 2, when no quality is given.
IMAGE_CODECS: Final[dict[str, tuple[str, str, str, str]]] = {
    "png": ("png", "rgb24", "image/png", ".png"),
    "jpeg": ("mjpeg", "yuvj420p", "image/jpeg", ".jpg"),
}


def _require_aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("captured_at must be timezone-aware")
    return value


class Snapshot(BaseModel):
    """A still image grabbed from a camera, with what the record needs to know about it.

    Attributes:
        data: The encoded image.
        media_type: ``image/png`` or ``image/jpeg``.
        width: Width in pixels, the camera frame's own.
        height: Height in pixels.
        captured_at: When the frame arrived (UTC).

    Examples:
        >>> from datetime import datetime, UTC
        >>> shot = Snapshot(data=b"...", media_type="image/png", width=1920, height=1080,
        ...                 captured_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
        >>> shot.suffix, shot
        ('.png', Snapshot(media_type='image/png', width=1920, height=1080, captured_at=...))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: bytes = Field(repr=False)
    media_type: Literal["image/png", "image/jpeg"]
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    captured_at: Annotated[datetime, AfterValidator(_require_aware)]

    @property
    def suffix(self) -> str:
        """File name suffix for the image: ``.png`` or ``.jpg``."""
        return ".png" if self.media_type == "image/png" else ".jpg"


def encode_snapshot(
    frame: VideoFrame, image_format: ImageFormat = "png", *, captured_at: datetime | None = None
) -> Snapshot:
    """Encode one video frame, at its full resolution, as a PNG or JPEG image.

    CPU-bound (tens of milliseconds for 1080p); :func:`take_snapshot` runs it in a thread.

    Examples:
        >>> from av import VideoFrame
        >>> shot = encode_snapshot(VideoFrame(64, 48, "yuv420p"), "jpeg")
        >>> shot.media_type, shot.width, shot.height, shot.data[:2].hex()
        ('image/jpeg', 64, 48, 'ffd8')
    """
    try:
        codec, pixel_format, media_type, _ = IMAGE_CODECS[image_format]
    except KeyError:
        raise MediaDeviceError(
            "snapshot", "video", f"image format {image_format!r} is not one of {sorted(IMAGE_CODECS)}"
        ) from None
    try:
        context = cast(VideoCodecContext, av.CodecContext.create(codec, "w"))
        context.width = frame.width
        context.height = frame.height
        context.pix_fmt = pixel_format
        if codec == "mjpeg":
            context.qscale = True
        image = frame.reformat(format=pixel_format)
        image.pts = None
        packets = context.encode(image)
        packets += context.encode(None)
    except (av.FFmpegError, ValueError) as exc:
        raise MediaDeviceError(
            "snapshot",
            "video",
            f"cannot encode a {frame.width}x{frame.height} frame as {image_format}: {exc}",
        ) from exc
    return Snapshot(
        data=b"".join(bytes(packet) for packet in packets),
        media_type=media_type,  # type: ignore[arg-type]
        width=frame.width,
        height=frame.height,
        captured_at=captured_at or datetime.now(UTC),
    )


async def take_snapshot(
    track: MediaStreamTrack, image_format: ImageFormat = "png", *, timeout: float = 5.0
) -> Snapshot:
    """Wait for the next frame of a video track and encode it (in a worker thread).

    Reads the track: give it a track of its own (``MediaDevice.snapshot`` subscribes one),
    not one a peer connection is sending from.

    Raises:
        MediaDeviceError: The track is audio, ended, or sent no frame within ``timeout``.

    Examples:
        >>> import asyncio
        >>> from telemedroom.devices.media import TestPatternTrack
        >>> asyncio.run(take_snapshot(TestPatternTrack(640, 360))).width
        640
    """
    name = f"track {track.id}"
    if track.kind != "video":
        raise MediaDeviceError(name, track.kind, "a snapshot needs a video track")
    try:
        async with asyncio.timeout(timeout):  # not wait_for: 3.11's can drop a cancellation
            frame = await track.recv()
    except MediaStreamError as exc:
        raise MediaDeviceError(name, "video", "the track ended before a frame arrived") from exc
    except TimeoutError as exc:
        raise MediaDeviceError(name, "video", f"no frame within {timeout} s") from exc
    if not isinstance(frame, VideoFrame):
        raise MediaDeviceError(name, "video", f"the track sent {type(frame).__name__}, not a decoded frame")
    captured_at = datetime.now(UTC)
    return await asyncio.to_thread(encode_snapshot, frame, image_format, captured_at=captured_at)
