"""What a media source is: its role in the room, where it comes from, and its format."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MediaKind = Literal["audio", "video"]


class Role(StrEnum):
    """The job of a media source in the telemedicine room."""

    ROOM_CAMERA = "room_camera"
    """The wide camera the physician sees the resident with."""
    EXAM_CAMERA = "exam_camera"
    """A handheld examination camera (skin, ear, throat); snapshots come from it."""
    MICROPHONE = "microphone"
    """The room's microphone."""
    STETHOSCOPE = "stethoscope"
    """A digital stethoscope, streamed as audio."""


class Origin(StrEnum):
    """Where the media of a source comes from."""

    DEVICE = "device"
    """A capture device: V4L2 camera, ALSA card, AVFoundation or DirectShow device."""
    FILE = "file"
    """A media file (or URL) played in real time."""
    SYNTHETIC = "synthetic"
    """Generated: a test pattern for cameras, a heartbeat or a tone for audio."""


ROLE_KIND: Final[dict[Role, MediaKind]] = {
    Role.ROOM_CAMERA: "video",
    Role.EXAM_CAMERA: "video",
    Role.MICROPHONE: "audio",
    Role.STETHOSCOPE: "audio",
}

# FFmpeg input format of capture devices per platform and kind (FFmpeg Devices Documentation,
# "Input Devices"). PulseAudio is reachable through ALSA's "pulse"/"default" PCM when PyAV's
# FFmpeg is built without the "pulse" input (PyPI wheels are).
DEVICE_BACKENDS: Final[dict[tuple[str, MediaKind], str]] = {
    ("linux", "video"): "v4l2",
    ("linux", "audio"): "alsa",
    ("darwin", "video"): "avfoundation",
    ("darwin", "audio"): "avfoundation",
    ("win32", "video"): "dshow",
    ("win32", "audio"): "dshow",
}

# Format of synthetic sources when the description leaves it open.
SYNTHETIC_DEFAULTS: Final[dict[Role, dict[str, int]]] = {
    Role.ROOM_CAMERA: {"width": 1280, "height": 720, "frame_rate": 30},
    Role.EXAM_CAMERA: {"width": 1920, "height": 1080, "frame_rate": 30},
    Role.MICROPHONE: {"sample_rate": 48000},
    Role.STETHOSCOPE: {"sample_rate": 48000},
}

EvenSize = Annotated[int, Field(ge=16, le=8192, multiple_of=2)]


class MediaSource(BaseModel):
    """Description of one camera, microphone or stethoscope; open it with :class:`MediaDevice`.

    Unset format fields mean "what the device or file delivers" (for synthetic sources:
    1920x1080 for the exam camera, 1280x720 for the room camera, 30 frames/s, 48 kHz).

    Attributes:
        role: The source's job in the room; it decides the kind (video or audio).
        origin: Capture device, file, or synthetic.
        location: Device path or name (``/dev/video0``, ``hw:1,0``, ``default``) or file
            path; ``None`` for synthetic sources.
        backend: The FFmpeg input format (``v4l2``, ``alsa``, ``avfoundation``, ``dshow``);
            ``None`` picks the platform's default for devices and auto-detects files.
        width: Frame width in pixels (even).
        height: Frame height in pixels (even).
        frame_rate: Frames per second.
        sample_rate: Audio samples per second.
        channels: Audio channels to request from a capture device.
        heart_rate_bpm: Heart rate of the synthetic stethoscope, beats per minute.
        loop: Play a file again from the start when it ends.

    Examples:
        >>> exam = MediaSource.synthetic(Role.EXAM_CAMERA)
        >>> exam.kind, exam.resolution, exam.frame_rate_or_default
        ('video', (1920, 1080), 30.0)
        >>> MediaSource.device(Role.ROOM_CAMERA, "/dev/video0", width=1280, height=720).origin
        <Origin.DEVICE: 'device'>
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    origin: Origin = Origin.SYNTHETIC
    location: str | None = None
    backend: str | None = None
    width: EvenSize | None = None
    height: EvenSize | None = None
    frame_rate: Annotated[float, Field(gt=0, le=240)] | None = None
    # rates whose 20 ms audio frame (aiortc's packet time) is a whole number of samples
    sample_rate: Literal[8000, 16000, 24000, 32000, 44100, 48000] | None = None
    channels: Annotated[int, Field(ge=1, le=8)] | None = None
    heart_rate_bpm: Annotated[float, Field(ge=20, le=300)] = 72.0
    loop: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.origin is Origin.SYNTHETIC) == (self.location is not None):
            raise ValueError("a device or file source needs a location; a synthetic one has none")
        if (self.width is None) != (self.height is None):
            raise ValueError("give both width and height, or neither")
        video_only = (self.width, self.frame_rate)
        audio_only = (self.sample_rate, self.channels)
        if self.kind == "audio" and any(value is not None for value in video_only):
            raise ValueError(f"{self.role} is an audio source: width, height and frame_rate do not apply")
        if self.kind == "video" and any(value is not None for value in audio_only):
            raise ValueError(f"{self.role} is a video source: sample_rate and channels do not apply")
        if self.loop and self.origin is not Origin.FILE:
            raise ValueError("only a file source can loop")
        return self

    @classmethod
    def synthetic(cls, role: Role, **fields: object) -> MediaSource:
        """A generated source: test pattern (cameras), heartbeat (stethoscope), tone (microphone)."""
        return cls.model_validate({"role": role, "origin": Origin.SYNTHETIC, **fields})

    @classmethod
    def device(cls, role: Role, location: str, **fields: object) -> MediaSource:
        """A capture device such as ``/dev/video0`` or the ALSA device ``hw:1,0``."""
        return cls.model_validate({"role": role, "origin": Origin.DEVICE, "location": location, **fields})

    @classmethod
    def file(cls, role: Role, path: str, **fields: object) -> MediaSource:
        """A media file whose first stream of the role's kind is played in real time."""
        return cls.model_validate({"role": role, "origin": Origin.FILE, "location": path, **fields})

    @property
    def kind(self) -> MediaKind:
        """``"video"`` for cameras, ``"audio"`` for microphone and stethoscope."""
        return ROLE_KIND[self.role]

    @property
    def name(self) -> str:
        """The location, or ``"synthetic"``; used in error messages."""
        return self.location or "synthetic"

    @property
    def resolution(self) -> tuple[int, int] | None:
        """``(width, height)``: as set, the synthetic default, or ``None`` (device decides)."""
        if self.width is not None and self.height is not None:
            return self.width, self.height
        default = SYNTHETIC_DEFAULTS[self.role]
        if self.origin is Origin.SYNTHETIC and "width" in default:
            return default["width"], default["height"]
        return None

    @property
    def frame_rate_or_default(self) -> float:
        """Frames per second: as set, else 30 (aiortc's own video pacing)."""
        return float(self.frame_rate or 30)

    @property
    def sample_rate_or_default(self) -> int:
        """Samples per second: as set, else 48 kHz (the Opus clock)."""
        return self.sample_rate or 48000


def player_arguments(
    source: MediaSource, platform: str | None = None
) -> tuple[str, str | None, dict[str, str]]:
    """The ``(file, format, options)`` aiortc's ``MediaPlayer`` opens ``source`` with.

    Options are FFmpeg's input-device options (``video_size``, ``framerate``,
    ``sample_rate``, ``channels``); a file is opened as it is.

    Examples:
        >>> player_arguments(MediaSource.device(Role.EXAM_CAMERA, "/dev/video2", width=1920,
        ...                                     height=1080, frame_rate=30), platform="linux")
        ('/dev/video2', 'v4l2', {'video_size': '1920x1080', 'framerate': '30'})
        >>> player_arguments(MediaSource.device(Role.STETHOSCOPE, "hw:1,0", sample_rate=8000, channels=1),
        ...                  platform="linux")
        ('hw:1,0', 'alsa', {'sample_rate': '8000', 'channels': '1'})
    """
    if source.location is None:
        raise ValueError("a synthetic source is not opened by MediaPlayer")
    if source.origin is Origin.FILE:
        return source.location, source.backend, {}
    backend = source.backend or DEVICE_BACKENDS.get((platform or sys.platform, source.kind))
    options: dict[str, str] = {}
    if source.width is not None and source.height is not None:
        options["video_size"] = f"{source.width}x{source.height}"
    if source.frame_rate is not None:
        options["framerate"] = f"{source.frame_rate:g}"
    if source.sample_rate is not None:
        options["sample_rate"] = str(source.sample_rate)
    if source.channels is not None:
        options["channels"] = str(source.channels)
    return source.location, backend, options
