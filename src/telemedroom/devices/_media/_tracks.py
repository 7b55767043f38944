"""Synthetic aiortc tracks: a camera test pattern, a stethoscope heartbeat, a microphone tone.

They are paced in real time exactly like aiortc's own ``VideoStreamTrack`` and
``AudioStreamTrack`` (the first frame at once, frame ``n`` at ``start + pts(n)``), but on
an injectable :class:`Clock`, so tests can run them on virtual time.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from datetime import UTC, datetime
from fractions import Fraction
from typing import Final, Protocol

from aiortc.mediastreams import VIDEO_CLOCK_RATE, MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from telemedroom.devices._media._pattern import ColourBars, check_size
from telemedroom.devices._media._waveforms import heartbeat_period, tone_period
from telemedroom.errors import MediaDeviceError

# aiortc sends audio in 20 ms packets (mediastreams.AUDIO_PTIME); frames of that length
# go to the Opus encoder without re-chunking.
AUDIO_FRAME_S: Final = Fraction(1, 50)


class Clock(Protocol):
    """Where synthetic tracks read the time and wait: swap it for virtual time in tests."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; pacing uses it."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch; burned-in time stamps use it."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`asyncio.sleep`.

    Examples:
        >>> clock = SystemClock()
        >>> clock.monotonic() <= clock.monotonic()
        True
    """

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """:func:`time.time`."""
        return time.time()

    async def sleep(self, delay: float) -> None:
        """:func:`asyncio.sleep`."""
        await asyncio.sleep(delay)


class _PacedTrack(MediaStreamTrack):
    """Hands out frame ``n`` no earlier than ``start + pts(n) * time_base``."""

    def __init__(self, clock_rate: int, clock: Clock | None) -> None:
        super().__init__()
        self.clock: Clock = clock or SystemClock()
        self.time_base = Fraction(1, clock_rate)
        self.frames = 0
        self._start: float | None = None
        self._start_wall = 0.0

    @abstractmethod
    def _pts(self, index: int) -> int:
        """Presentation time of frame ``index``, in ``time_base`` units."""

    async def _next(self) -> tuple[int, int]:
        """Wait for the next frame's time; return its index and pts."""
        if self.readyState != "live":
            raise MediaStreamError
        index = self.frames
        pts = self._pts(index)
        if self._start is None:
            self._start = self.clock.monotonic()
            self._start_wall = self.clock.time()
        else:
            wait = self._start + float(pts * self.time_base) - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
        self.frames = index + 1
        return index, pts


class TestPatternTrack(_PacedTrack):
    """A camera's synthetic video: colour bars, a moving square, time stamp and frame counter.

    The label reads ``EXAM CAMERA 09:15:30.033 #000031``: the UTC wall time of the frame
    (start time plus its pts) and its index, so a viewer can see motion, dropped frames
    and latency. Frames are yuv420p with the 90 kHz RTP video clock as time base.

    Args:
        width: Frame width in pixels (even, at least 64).
        height: Frame height in pixels (even, at least 48).
        frame_rate: Frames per second.
        label: Text before the time stamp (letters, digits, ``: . # - / _``).
        clock: Time source for pacing and the time stamp; the system clock by default.

    Examples:
        >>> import asyncio
        >>> track = TestPatternTrack(320, 240, label="ROOM CAMERA")
        >>> frame = asyncio.run(track.recv())
        >>> frame.width, frame.height, frame.pts, frame.time_base
        (320, 240, 0, Fraction(1, 90000))
    """

    __test__ = False  # not a pytest test class, despite the name
    kind = "video"

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        frame_rate: float = 30,
        *,
        label: str = "CAMERA",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(VIDEO_CLOCK_RATE, clock)
        if not 0 < frame_rate <= 240:
            raise MediaDeviceError("synthetic", "video", f"frame rate {frame_rate} is not in (0, 240]")
        self.frame_rate = Fraction(frame_rate).limit_denominator(1001)
        self.label = label
        try:
            check_size(width, height)
        except ValueError as exc:
            raise MediaDeviceError("synthetic", "video", str(exc)) from exc
        # PyAV pads each row to its own alignment: render with the strides it allocates.
        y_plane, u_plane, v_plane = VideoFrame(width, height, "yuv420p").planes
        self.pattern = ColourBars(
            width,
            height,
            strides=(y_plane.line_size, u_plane.line_size, v_plane.line_size),
            label_length=len(label) + len(" 00:00:00.000 #000000"),
        )

    def _pts(self, index: int) -> int:
        return round(index * VIDEO_CLOCK_RATE / self.frame_rate)

    def label_at(self, index: int, pts: int) -> str:
        """The text burned into frame ``index`` with presentation time ``pts``."""
        at = datetime.fromtimestamp(self._start_wall + float(pts * self.time_base), UTC)
        return f"{self.label} {at:%H:%M:%S}.{at.microsecond // 1000:03d} #{index:06d}"

    async def recv(self) -> VideoFrame:
        """The next frame, paced to the frame rate."""
        index, pts = await self._next()
        pattern = self.pattern
        frame = VideoFrame(pattern.width, pattern.height, "yuv420p")
        for plane, data in zip(frame.planes, pattern.planes, strict=True):
            plane.update(data)
        # draw straight into the frame's luma buffer: no intermediate copy of the plane
        pattern.draw(memoryview(frame.planes[0]), index, self.label_at(index, pts))
        frame.pts = pts
        frame.time_base = self.time_base
        return frame


class _LoopedAudioTrack(_PacedTrack):
    """Plays one period of s16 mono PCM in a loop, in 20 ms frames."""

    kind = "audio"

    def __init__(self, period: bytes, sample_rate: int, clock: Clock | None) -> None:
        super().__init__(sample_rate, clock)
        self.sample_rate = sample_rate
        self.samples_per_frame = int(sample_rate * AUDIO_FRAME_S)
        self._frame_bytes = 2 * self.samples_per_frame
        # Two periods plus one frame, so any frame is a single slice without wrapping.
        repeats = 2 + self._frame_bytes // len(period)
        self._looped = period * repeats
        self._period_bytes = len(period)
        self._offset = 0

    def _pts(self, index: int) -> int:
        return index * self.samples_per_frame

    async def recv(self) -> AudioFrame:
        """The next 20 ms of audio, paced in real time."""
        _, pts = await self._next()
        frame = AudioFrame(format="s16", layout="mono", samples=self.samples_per_frame)
        start = self._offset
        frame.planes[0].update(self._looped[start : start + self._frame_bytes])
        self._offset = (start + self._frame_bytes) % self._period_bytes
        frame.pts = pts
        frame.sample_rate = self.sample_rate
        frame.time_base = self.time_base
        return frame


def _check_sample_rate(sample_rate: int) -> None:
    if sample_rate <= 0 or sample_rate % 50:
        raise MediaDeviceError(
            "synthetic", "audio", f"sample rate {sample_rate} Hz does not divide into 20 ms frames"
        )


class HeartbeatTrack(_LoopedAudioTrack):
    """A stethoscope's synthetic audio: "lub-dub" heart sounds at a set heart rate.

    Mono signed 16-bit frames of 20 ms (aiortc's packet time), pts in samples, time base
    ``1/sample_rate``. The cardiac cycle is rounded to a whole number of samples.

    Args:
        heart_rate_bpm: Beats per minute, 20 to 300.
        sample_rate: Samples per second (a multiple of 50, e.g. 8000 or 48000).
        clock: Time source for pacing; the system clock by default.

    Examples:
        >>> import asyncio
        >>> frame = asyncio.run(HeartbeatTrack(heart_rate_bpm=60, sample_rate=8000).recv())
        >>> frame.samples, frame.sample_rate, frame.layout.name, frame.format.name
        (160, 8000, 'mono', 's16')
    """

    def __init__(
        self, heart_rate_bpm: float = 72, sample_rate: int = 48000, *, clock: Clock | None = None
    ) -> None:
        _check_sample_rate(sample_rate)
        if not 20 <= heart_rate_bpm <= 300:
            raise MediaDeviceError("synthetic", "audio", f"heart rate {heart_rate_bpm}/min is not in 20-300")
        self.heart_rate_bpm = heart_rate_bpm
        super().__init__(heartbeat_period(sample_rate, heart_rate_bpm), sample_rate, clock)


class ToneTrack(_LoopedAudioTrack):
    """A microphone's synthetic audio: a steady sine tone (440 Hz by default) at -12 dBFS.

    Args:
        frequency_hz: Tone frequency in hertz, below half the sample rate.
        sample_rate: Samples per second (a multiple of 50).
        clock: Time source for pacing; the system clock by default.

    Examples:
        >>> import asyncio
        >>> asyncio.run(ToneTrack(sample_rate=16000).recv()).samples
        320
    """

    def __init__(
        self, frequency_hz: int = 440, sample_rate: int = 48000, *, clock: Clock | None = None
    ) -> None:
        _check_sample_rate(sample_rate)
        if not 0 < frequency_hz < sample_rate // 2:
            raise MediaDeviceError("synthetic", "audio", f"tone of {frequency_hz} Hz is not below Nyquist")
        self.frequency_hz = frequency_hz
        super().__init__(tone_period(sample_rate, frequency_hz), sample_rate, clock)
