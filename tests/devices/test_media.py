"""Media devices: sources, synthetic tracks, relay, snapshots, enumeration, a real WebRTC call.

Everything here runs the real aiortc and PyAV: frames are rendered, encoded as PNG/JPEG and
decoded back, sent over a real ``RTCPeerConnection`` pair on loopback. The one stand-in is
:class:`VirtualClock`, which lets the synthetic tracks run on virtual time so pacing is
checked without sleeping. No camera or sound card exists here, so opening a device is
tested through the real FFmpeg errors for absent ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import os
import string
import subprocess
import sys
from array import array
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from telemedroom import errors
from telemedroom.devices import media
from telemedroom.devices._media._device import has_input_format
from telemedroom.devices._media._enumerate import (
    Pcm,
    SoundCard,
    alsa_capture_devices,
    parse_asound_cards,
    parse_asound_pcm,
    video4linux_device,
)
from telemedroom.devices._media._pattern import (
    BARS,
    BLACK,
    FONT,
    GREY,
    WHITE,
    ColourBars,
    read_label,
)
from telemedroom.devices._media._source import DEVICE_BACKENDS, ROLE_KIND, player_arguments
from telemedroom.devices._media._waveforms import FULL_SCALE, heart_sounds, heartbeat_period, tone_period
from telemedroom.devices.media import MediaDevice, MediaSource, Origin, Role

T0 = datetime(2026, 11, 25, 9, 15, 30, tzinfo=UTC)
PROJECT = Path(__file__).parents[2]


class VirtualClock:
    """Fake clock (virtual time): ``sleep`` records the delay and advances time at once."""

    def __init__(self, wall: datetime = T0) -> None:
        self.now = 1000.0
        self.wall_offset = wall.timestamp() - self.now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self.wall_offset

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def rgb_of(y: int, u: int, v: int) -> tuple[int, int, int]:
    """BT.601 limited-range YCbCr to 8-bit RGB (ITU-R BT.601-7 §2.5.3)."""
    luma = 1.164 * (y - 16)
    red = luma + 1.596 * (v - 128)
    green = luma - 0.392 * (u - 128) - 0.813 * (v - 128)
    blue = luma + 2.017 * (u - 128)
    return tuple(max(0, min(255, round(c))) for c in (red, green, blue))  # type: ignore[return-value]


def decode_image(data: bytes, codec: str) -> VideoFrame:
    frames = av.CodecContext.create(codec, "r").decode(av.Packet(data))
    assert len(frames) == 1
    return frames[0].reformat(format="rgb24")


def pixel(frame: VideoFrame, x: int, y: int) -> tuple[int, int, int]:
    plane = frame.planes[0]
    row = bytes(plane)[y * plane.line_size : y * plane.line_size + 3 * frame.width]
    return row[3 * x], row[3 * x + 1], row[3 * x + 2]


def green_channel(frame: VideoFrame) -> bytes:
    """The G channel of an rgb24 frame as one byte per pixel, rows without padding."""
    plane = frame.planes[0]
    data = bytes(plane)
    return b"".join(
        data[row * plane.line_size : row * plane.line_size + 3 * frame.width][1::3]
        for row in range(frame.height)
    )


def luma(frame: VideoFrame) -> bytes:
    """The Y plane of a yuv420p frame, rows without padding."""
    plane = frame.planes[0]
    data = bytes(plane)
    return b"".join(
        data[row * plane.line_size : row * plane.line_size + frame.width] for row in range(frame.height)
    )


def samples(frame: AudioFrame) -> array[int]:
    pcm = array("h")
    pcm.frombytes(bytes(frame.planes[0])[: 2 * frame.samples * len(frame.layout.channels)])
    return pcm


# --- the optional extra ------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_the_devices_package_loads_no_media_library() -> None:
    result = run_python(
        "import sys, telemedroom.devices\n"
        "print(sorted(m for m in ('aiortc', 'av') if m in sys.modules))\n"
        "telemedroom.devices.media\n"
        "print(sorted(m for m in ('aiortc', 'av') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "['aiortc', 'av']"]


@pytest.mark.parametrize("missing", ["aiortc", "av"])
def test_without_the_video_extra_the_import_says_what_to_install(missing: str) -> None:
    # sys.modules[name] = None makes "import name" fail as if the package were absent.
    result = run_python(
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from telemedroom.errors import MissingExtraError\n"
        "try:\n"
        "    from telemedroom.devices import media\n"
        "except MissingExtraError as exc:\n"
        "    print(isinstance(exc, ImportError), exc.extra, type(exc.__cause__).__name__)\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    first, message = result.stdout.splitlines()
    assert first == "True video ModuleNotFoundError"
    assert "pip install 'telemedroom[video]'" in message


# --- describing a source -----------------------------------------------------------------


def test_roles_map_to_their_kind() -> None:
    assert set(ROLE_KIND) == set(Role)
    assert [MediaSource.synthetic(role).kind for role in Role] == ["video", "video", "audio", "audio"]


def test_synthetic_defaults_and_explicit_formats() -> None:
    exam = MediaSource.synthetic(Role.EXAM_CAMERA)
    room = MediaSource.synthetic(Role.ROOM_CAMERA, width=640, height=360, frame_rate=15)
    steth = MediaSource.synthetic(Role.STETHOSCOPE, heart_rate_bpm=110)
    assert (exam.resolution, exam.frame_rate_or_default, exam.name) == ((1920, 1080), 30.0, "synthetic")
    assert (room.resolution, room.frame_rate_or_default) == ((640, 360), 15.0)
    assert (steth.sample_rate_or_default, steth.heart_rate_bpm) == (48000, 110)
    camera = MediaSource.device(Role.EXAM_CAMERA, "/dev/video2")
    assert camera.resolution is None  # the device decides
    assert camera.origin is Origin.DEVICE
    assert camera.name == "/dev/video2"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "exam_camera", "origin": "device"}, "needs a location"),
        ({"role": "exam_camera", "location": "/dev/video0"}, "synthetic one has none"),
        ({"role": "exam_camera", "width": 640}, "both width and height"),
        ({"role": "exam_camera", "width": 641, "height": 480}, "multiple of 2"),
        ({"role": "exam_camera", "sample_rate": 48000}, "video source"),
        ({"role": "stethoscope", "frame_rate": 30}, "audio source"),
        ({"role": "stethoscope", "sample_rate": 44000}, "sample_rate"),
        ({"role": "stethoscope", "heart_rate_bpm": 400}, "heart_rate_bpm"),
        ({"role": "microphone", "origin": "device", "location": "hw:0", "loop": True}, "only a file"),
        ({"role": "otoscope"}, "role"),
    ],
)
def test_inconsistent_sources_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MediaSource.model_validate(fields)


@given(
    role=st.sampled_from(list(Role)),
    platform=st.sampled_from(["linux", "darwin", "win32"]),
    size=st.none() | st.tuples(st.integers(8, 4096), st.integers(8, 2160)),
    frame_rate=st.none() | st.sampled_from([5, 15, 24, 25, 29.97, 30, 60]),
    sample_rate=st.none() | st.sampled_from([8000, 16000, 44100, 48000]),
    channels=st.none() | st.integers(1, 2),
    backend=st.none() | st.sampled_from(["v4l2", "alsa", "avfoundation"]),
)
def test_device_sources_map_to_ffmpeg_input_options(
    role: Role,
    platform: str,
    size: tuple[int, int] | None,
    frame_rate: float | None,
    sample_rate: int | None,
    channels: int | None,
    backend: str | None,
) -> None:
    video = ROLE_KIND[role] == "video"
    fields: dict[str, object] = {"backend": backend}
    if video:
        fields |= {"frame_rate": frame_rate}
        if size:
            fields |= {"width": 2 * size[0], "height": 2 * size[1]}
    else:
        fields |= {"sample_rate": sample_rate, "channels": channels}
    source = MediaSource.device(role, "dev0", **fields)
    location, input_format, options = player_arguments(source, platform)
    assert location == "dev0"
    assert input_format == (backend or DEVICE_BACKENDS[platform, ROLE_KIND[role]])
    expected = {}
    if video and size:
        expected["video_size"] = f"{2 * size[0]}x{2 * size[1]}"
    if video and frame_rate is not None:
        expected["framerate"] = str(frame_rate)
    if not video and sample_rate is not None:
        expected["sample_rate"] = str(sample_rate)
    if not video and channels is not None:
        expected["channels"] = str(channels)
    assert options == expected
    # a file is opened as it is: its own format and size
    assert player_arguments(MediaSource.file(role, "visit.mkv"), platform) == ("visit.mkv", None, {})


# --- the test pattern --------------------------------------------------------------------

PATTERN = ColourBars(320, 240, label_length=32)


def test_font_glyphs_are_distinct_and_well_formed() -> None:
    bitmaps = list(FONT.values())
    assert len(set(bitmaps)) == len(bitmaps)
    assert all(
        len(rows) == 7 and all(len(row) == 5 and set(row) <= {"0", "1"} for row in rows) for rows in bitmaps
    )


def test_pattern_layout_bars_band_box_and_label() -> None:
    y, u, v = PATTERN.render(0, "AB")
    width = PATTERN.width
    # one bar per seventh of the width, in the EBU order, in all three planes
    for bar, (bar_y, bar_u, bar_v) in enumerate(BARS):
        x = (2 * bar + 1) * width // 14
        assert (y[10 * width + x], u[5 * (width // 2) + x // 2], v[5 * (width // 2) + x // 2]) == (
            bar_y,
            bar_u,
            bar_v,
        )
    band_row = PATTERN.band_top + 1
    assert y[band_row * width : band_row * width + PATTERN.box_size] == bytes([WHITE]) * PATTERN.box_size
    assert y[band_row * width + PATTERN.box_size] == GREY
    assert y[(PATTERN.height - 1) * width] == BLACK
    assert read_label(y, PATTERN, 2) == "AB"
    assert len(y) == width * 240
    assert len(u) == len(v) == width // 2 * 120


@given(index=st.integers(0, 10**6))
def test_the_box_moves_one_step_per_frame_and_stays_inside(index: int) -> None:
    x = PATTERN.box_x(index)
    assert x % 2 == 0
    assert 0 <= x <= PATTERN.width - PATTERN.box_size
    y, _, _ = PATTERN.render(index, "")
    row = PATTERN.band_top + PATTERN.box_size // 2
    line = y[row * PATTERN.width : (row + 1) * PATTERN.width]
    assert line.index(WHITE) == x
    assert line.count(WHITE) == PATTERN.box_size
    if x + PATTERN.step <= PATTERN.width - PATTERN.box_size - 2:
        assert PATTERN.box_x(index + 1) == x + PATTERN.step


@given(label=st.text(alphabet="".join(sorted(FONT)), max_size=32))
def test_the_burned_in_label_reads_back(label: str) -> None:
    y, _, _ = PATTERN.render(7, label)
    assert read_label(y, PATTERN, len(label)) == label


def test_characters_outside_the_font_draw_a_box_not_an_error() -> None:
    y, _, _ = PATTERN.render(0, "A€B")
    assert read_label(y, PATTERN, 3) == "A?B"


@given(width=st.integers(32, 960), height=st.integers(24, 540))
def test_every_even_size_renders_planes_of_the_frame_size(width: int, height: int) -> None:
    width, height = 2 * width, 2 * height
    track = media.TestPatternTrack(width, height, label="EXAM CAMERA", clock=VirtualClock())
    frame = asyncio.run(track.recv())
    assert (frame.width, frame.height, frame.format.name) == (width, height, "yuv420p")
    visible = min(11, track.pattern.visible_chars)
    assert read_label(luma(frame), track.pattern, visible, stride=width) == "EXAM CAMERA"[:visible]


@pytest.mark.parametrize(("width", "height"), [(63, 48), (64, 47), (32, 48), (0, 0), (-2, 48)])
def test_impossible_pattern_sizes_are_a_media_device_error(width: int, height: int) -> None:
    with pytest.raises(errors.MediaDeviceError, match="even size") as info:
        media.TestPatternTrack(width, height)
    assert (info.value.device, info.value.kind) == ("synthetic", "video")
    assert isinstance(info.value.__cause__, ValueError)


# --- pacing and time stamps of the synthetic tracks --------------------------------------


async def test_video_is_paced_like_aiortc_on_the_90khz_clock() -> None:
    clock = VirtualClock()
    track = media.TestPatternTrack(320, 240, 30, label="ROOM CAMERA", clock=clock)
    frames = [await track.recv() for _ in range(4)]
    assert [frame.pts for frame in frames] == [0, 3000, 6000, 9000]
    assert all(frame.time_base == fractions.Fraction(1, 90000) for frame in frames)
    # first frame at once, then each one waits for its own presentation time
    assert clock.sleeps == pytest.approx([1 / 30] * 3)
    assert read_label(luma(frames[3]), track.pattern, 32, stride=320) == "ROOM CAMERA 09:15:30.100 #000003"


async def test_a_late_consumer_is_not_made_to_wait_and_no_frame_is_skipped() -> None:
    clock = VirtualClock()
    track = media.TestPatternTrack(320, 240, 25, clock=clock)
    await track.recv()
    clock.now += 1.0  # the consumer was busy for a second
    late = [await track.recv() for _ in range(3)]
    assert clock.sleeps == []
    assert [frame.pts for frame in late] == [3600, 7200, 10800]
    assert read_label(luma(late[-1]), track.pattern, 27, stride=320) == "CAMERA 09:15:30.120 #000003"


async def test_fractional_frame_rates_do_not_drift() -> None:
    track = media.TestPatternTrack(320, 240, 29.97, clock=VirtualClock())
    pts = [(await track.recv()).pts for _ in range(1000)]
    # each pts is computed from the frame index, not accumulated from a rounded step
    assert pts == [round(n * 90000 * 100 / 2997) for n in range(1000)]
    assert pts[-1] == 3_000_000  # frame 999 at exactly 999 / 29.97 s = 33.3333 s
    assert {b - a for a, b in pairwise(pts)} == {3003, 3004}


async def test_a_stopped_track_ends() -> None:
    track = media.TestPatternTrack(320, 240, clock=VirtualClock())
    await track.recv()
    track.stop()
    assert track.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_heartbeat_frames_have_aiortc_audio_timing() -> None:
    clock = VirtualClock()
    track = media.HeartbeatTrack(heart_rate_bpm=75, sample_rate=16000, clock=clock)
    frames = [await track.recv() for _ in range(5)]
    assert [frame.pts for frame in frames] == [0, 320, 640, 960, 1280]
    assert {(f.samples, f.sample_rate, f.format.name, f.layout.name) for f in frames} == {
        (320, 16000, "s16", "mono")
    }
    assert all(frame.time_base == fractions.Fraction(1, 16000) for frame in frames)
    assert clock.sleeps == pytest.approx([0.02] * 4)


def rms(pcm: array[int], start: int, length: int) -> float:
    window = pcm[start : start + length]
    return math.sqrt(sum(value * value for value in window) / len(window))


@pytest.mark.parametrize(("bpm", "sample_rate"), [(60, 8000), (72, 48000), (150, 16000)])
async def test_heartbeat_track_sounds_lub_dub_once_per_beat(bpm: int, sample_rate: int) -> None:
    track = media.HeartbeatTrack(heart_rate_bpm=bpm, sample_rate=sample_rate, clock=VirtualClock())
    period = round(sample_rate * 60 / bpm)
    pcm = array("h")
    while len(pcm) < 3 * period:
        pcm.extend(samples(await track.recv()))
    # the signal repeats exactly once per beat, across frame boundaries
    assert pcm[period : 2 * period] == pcm[:period] == pcm[2 * period : 3 * period]
    s1, s2 = heart_sounds(bpm)
    window = round(0.02 * sample_rate)
    s1_mid = round((s1.onset_s + s1.duration_s / 2) * sample_rate) - window // 2
    s2_mid = round((s2.onset_s + s2.duration_s / 2) * sample_rate) - window // 2
    silence = round((s2.onset_s + s2.duration_s) * sample_rate) + window
    assert rms(pcm, s1_mid, window) > rms(pcm, s2_mid, window) > 3000  # lub is louder than dub
    assert rms(pcm, silence, period - silence) == 0  # diastole is quiet


@given(bpm=st.floats(20, 300), sample_rate=st.sampled_from([8000, 16000, 44100, 48000]))
def test_one_heartbeat_period_fits_both_sounds(bpm: float, sample_rate: int) -> None:
    s1, s2 = heart_sounds(bpm)
    period_s = 60 / bpm
    assert s1.onset_s + s1.duration_s < s2.onset_s
    assert s2.onset_s + s2.duration_s < period_s
    if sample_rate == 8000:  # rendering is the expensive part: check it on the cheap rate
        pcm = array("h")
        pcm.frombytes(heartbeat_period(sample_rate, bpm))
        assert len(pcm) == round(sample_rate * period_s)
        assert max(map(abs, pcm)) <= 0.8 * 32767 + 1


async def test_the_microphone_tone_is_440_hz() -> None:
    track = media.ToneTrack(sample_rate=8000, clock=VirtualClock())
    pcm = array("h")
    for _ in range(50):  # one second
        pcm.extend(samples(await track.recv()))
    rising_zero_crossings = sum(1 for a, b in pairwise(pcm) if a < 0 <= b)
    assert rising_zero_crossings in (439, 440)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: media.HeartbeatTrack(heart_rate_bpm=10), "heart rate 10/min"),
        (lambda: media.HeartbeatTrack(sample_rate=44110), "44110 Hz"),
        (lambda: media.ToneTrack(frequency_hz=5000, sample_rate=8000), "Nyquist"),
        (lambda: media.TestPatternTrack(frame_rate=0), "frame rate 0"),
    ],
)
def test_impossible_synthetic_settings_are_media_device_errors(make: object, message: str) -> None:
    with pytest.raises(errors.MediaDeviceError, match=message):
        make()  # type: ignore[operator]


# --- snapshots ---------------------------------------------------------------------------


async def test_png_snapshot_is_the_full_frame_pixel_for_pixel() -> None:
    track = media.TestPatternTrack(1920, 1080, label="EXAM CAMERA", clock=VirtualClock())
    before = datetime.now(UTC)
    shot = await media.take_snapshot(track, "png")
    assert (shot.media_type, shot.width, shot.height, shot.suffix) == ("image/png", 1920, 1080, ".png")
    assert before <= shot.captured_at <= datetime.now(UTC)
    image = decode_image(shot.data, "png")
    assert (image.width, image.height) == (1920, 1080)
    pattern = track.pattern
    for bar, yuv in enumerate(BARS):
        x = (2 * bar + 1) * 1920 // 14
        # swscale's fast integer YUV->RGB path is within a few levels of the exact formula
        assert pixel(image, x, 100) == pytest.approx(rgb_of(*yuv), abs=4)
    box_row = pattern.band_top + pattern.box_size // 2
    assert pixel(image, pattern.box_size // 2, box_row) == (255, 255, 255)  # frame 0: box at the left
    assert pixel(image, pattern.box_size + 10, box_row) == pytest.approx(rgb_of(GREY, 128, 128), abs=1)
    assert read_label(green_channel(image), pattern, 32, stride=1920) == "EXAM CAMERA 09:15:30.000 #000000"


async def test_jpeg_snapshot_is_close_to_the_frame() -> None:
    track = media.TestPatternTrack(1280, 720, label="EXAM CAMERA", clock=VirtualClock())
    shot = await media.take_snapshot(track, "jpeg")
    assert (shot.media_type, shot.width, shot.height, shot.suffix) == ("image/jpeg", 1280, 720, ".jpg")
    assert shot.data[:3] == b"\xff\xd8\xff"  # JPEG SOI marker
    image = decode_image(shot.data, "mjpeg")
    assert (image.width, image.height) == (1280, 720)
    for bar, yuv in enumerate(BARS):
        x = (2 * bar + 1) * 1280 // 14
        assert pixel(image, x, 100) == pytest.approx(rgb_of(*yuv), abs=8)
    assert (
        read_label(green_channel(image), track.pattern, 32, stride=1280) == "EXAM CAMERA 09:15:30.000 #000000"
    )


def test_unknown_image_format_is_refused() -> None:
    with pytest.raises(errors.MediaDeviceError, match="'gif' is not one of"):
        media.encode_snapshot(VideoFrame(64, 48, "yuv420p"), "gif")  # type: ignore[arg-type]


class SilentTrack(MediaStreamTrack):
    """A live video track that never delivers a frame (a camera that hangs)."""

    kind = "video"

    async def recv(self) -> VideoFrame:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_snapshot_errors_name_the_track_and_reason() -> None:
    with pytest.raises(errors.MediaDeviceError, match="needs a video track"):
        await media.take_snapshot(media.ToneTrack(clock=VirtualClock()))
    ended = media.TestPatternTrack(64, 48)
    ended.stop()
    with pytest.raises(errors.MediaDeviceError, match="ended before a frame") as info:
        await media.take_snapshot(ended)
    assert isinstance(info.value.__cause__, MediaStreamError)
    with pytest.raises(errors.MediaDeviceError, match=r"no frame within 0\.01 s") as info:
        await media.take_snapshot(SilentTrack(), timeout=0.01)
    assert info.value.device.startswith("track ")


# --- opening sources: relay, close, devices, files ---------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.EXAM_CAMERA, (VideoFrame, 1920, 1080, "EXAM CAMERA")),
        (Role.ROOM_CAMERA, (VideoFrame, 1280, 720, "ROOM CAMERA")),
        (Role.STETHOSCOPE, (AudioFrame, 960, 48000, "HeartbeatTrack")),
        (Role.MICROPHONE, (AudioFrame, 960, 48000, "ToneTrack")),
    ],
)
async def test_every_role_has_a_synthetic_source_of_its_kind(
    role: Role, expected: tuple[object, ...]
) -> None:
    async with MediaDevice(MediaSource.synthetic(role), clock=VirtualClock()) as device:
        frame = await device.subscribe().recv()
        inner = device._track.inner  # type: ignore[union-attr]
    assert device.kind == ROLE_KIND[role]
    if isinstance(frame, VideoFrame):
        label = read_label(luma(frame), inner.pattern, 11, stride=frame.width)
        assert (type(frame), frame.width, frame.height, label) == expected
    else:
        assert (type(frame), frame.samples, frame.sample_rate, type(inner).__name__) == expected


async def test_one_source_feeds_several_consumers() -> None:
    clock = VirtualClock()
    source = MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240)
    async with MediaDevice(source, clock=clock) as camera:
        preview, to_peer = camera.subscribe(), camera.subscribe(buffered=True)
        first = await asyncio.gather(preview.recv(), to_peer.recv())
        assert first[0] is first[1]  # the same decoded frame, not a second capture
        frames = [await to_peer.recv() for _ in range(3)]
        assert [frame.pts for frame in frames] == [3000, 6000, 9000]
        shot = await camera.snapshot()
        assert (shot.width, shot.height) == (320, 240)
        generated = camera._track.inner.frames  # type: ignore[union-attr]
    assert generated >= 5  # one generator served every consumer
    for track in (preview, to_peer):
        assert track.readyState == "ended"
        with pytest.raises(MediaStreamError):
            await track.recv()


class StalledClock(VirtualClock):
    """Fake clock whose sleep never ends: the source hangs like a camera that stopped sending."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def sleep(self, delay: float) -> None:
        self.sleeping.set()
        await asyncio.Event().wait()


async def test_closing_ends_a_consumer_waiting_on_a_hung_source() -> None:
    clock = StalledClock()
    source = MediaSource.synthetic(Role.ROOM_CAMERA, width=320, height=240)
    camera = await media.open_source(source, clock=clock)
    consumer = camera.subscribe()
    await consumer.recv()  # the first frame comes at once
    waiting = asyncio.ensure_future(consumer.recv())
    await clock.sleeping.wait()  # the relay is now stuck inside the source's recv
    await camera.aclose()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiting, 5)
    assert camera.closed
    assert consumer.readyState == "ended"
    await camera.aclose()  # twice is fine


async def test_a_closed_or_unopened_device_refuses_work() -> None:
    device = MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240))
    with pytest.raises(errors.MediaDeviceError, match="not open"):
        device.subscribe()
    await device.open()
    assert await device.open() is device
    await device.aclose()
    with pytest.raises(errors.MediaDeviceError, match="not open"):
        device.subscribe()
    with pytest.raises(errors.MediaDeviceError, match="was closed"):
        await device.open()


async def test_a_microphone_takes_no_snapshot_and_its_consumers_are_buffered() -> None:
    async with MediaDevice(
        MediaSource.synthetic(Role.MICROPHONE, sample_rate=8000), clock=VirtualClock()
    ) as mic:
        with pytest.raises(errors.MediaDeviceError, match="needs a camera"):
            await mic.snapshot()
        listener = mic.subscribe()
        frames = [await listener.recv() for _ in range(3)]
    assert [frame.pts for frame in frames] == [0, 160, 320]  # no frame lost


async def test_an_absent_camera_is_a_media_device_error_with_the_ffmpeg_cause(tmp_path: Path) -> None:
    path = str(tmp_path / "video0")
    with pytest.raises(errors.MediaDeviceError) as info:
        await media.open_source(
            MediaSource.device(Role.EXAM_CAMERA, path, backend="v4l2", width=1920, height=1080)
        )
    assert (info.value.device, info.value.kind) == (path, "video")
    assert "cannot open" in info.value.reason
    assert isinstance(info.value.__cause__, av.FFmpegError)


async def test_an_absent_sound_card_is_a_media_device_error() -> None:
    location = "plughw:CARD=telemedroomAbsent,DEV=0"
    with pytest.raises(errors.MediaDeviceError) as info:
        await media.open_source(
            MediaSource.device(Role.STETHOSCOPE, location, backend="alsa", sample_rate=8000)
        )
    assert (info.value.device, info.value.kind) == (location, "audio")
    if has_input_format("alsa"):  # PyPI wheels of PyAV have ALSA from 15 on
        assert isinstance(info.value.__cause__, av.FFmpegError)
    else:
        assert info.value.reason.endswith("has no 'alsa' input")


async def test_a_backend_this_ffmpeg_lacks_is_named() -> None:
    with pytest.raises(errors.MediaDeviceError, match="has no 'no-such-input' input"):
        await media.open_source(MediaSource.device(Role.MICROPHONE, "default", backend="no-such-input"))


async def write_clip(path: Path, *, frames: int, with_audio: bool) -> None:
    """A short Matroska clip of the test pattern (MPEG-4 Part 2) with optional PCM audio."""
    pattern = media.TestPatternTrack(320, 240, label="FILE", clock=VirtualClock())
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=30)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=8000) if with_audio else None
        tone = media.ToneTrack(sample_rate=8000, clock=VirtualClock())
        for _ in range(frames):
            frame = await pattern.recv()
            frame.pts, frame.time_base = frame.pts // 3000, fractions.Fraction(1, 30)
            container.mux(video.encode(frame))
            if audio is not None:
                container.mux(audio.encode(await tone.recv()))
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))


async def test_a_file_source_plays_its_video_then_ends(tmp_path: Path) -> None:
    clip = tmp_path / "otoscope.mkv"
    await write_clip(clip, frames=4, with_audio=True)
    async with await media.open_source(MediaSource.file(Role.EXAM_CAMERA, str(clip))) as camera:
        viewer = camera.subscribe(buffered=True)
        frames = []
        while viewer.readyState == "live":
            try:
                frames.append(await asyncio.wait_for(viewer.recv(), 5))
            except MediaStreamError:
                break  # the end of the file ends the track
    assert viewer.readyState == "ended"
    assert len(frames) == 4
    assert {(frame.width, frame.height) for frame in frames} == {(320, 240)}
    assert read_label(luma(frames[2]), ColourBars(320, 240, label_length=25), 4, stride=320) == "FILE"


def open_files() -> set[str]:
    """Paths this process has open, from Linux's /proc/self/fd."""
    paths = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the fd of the listing itself is gone by now
            paths.add(os.readlink(fd))
    return paths


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads open files from Linux /proc")
async def test_closing_releases_the_file_even_mid_playback(tmp_path: Path) -> None:
    clip = tmp_path / "long.mkv"
    await write_clip(clip, frames=60, with_audio=True)
    camera = await media.open_source(MediaSource.file(Role.EXAM_CAMERA, str(clip)))
    assert str(clip) in open_files()
    viewer = camera.subscribe()
    await viewer.recv()  # the decoding thread and the drain of the audio stream now run
    await camera.aclose()
    assert str(clip) not in open_files()
    assert viewer.readyState == "ended"
    video_only = tmp_path / "video-only.mkv"
    await write_clip(video_only, frames=1, with_audio=False)
    with pytest.raises(errors.MediaDeviceError, match="has no audio stream"):
        await media.open_source(MediaSource.file(Role.STETHOSCOPE, str(video_only)))
    assert str(video_only) not in open_files()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads open files from Linux /proc")
async def test_closing_while_opening_leaves_nothing_open(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    await write_clip(clip, frames=2, with_audio=False)
    device = MediaDevice(MediaSource.file(Role.EXAM_CAMERA, str(clip)))
    # tasks start in the order they are made: open() hands the file to a worker thread,
    # then aclose() runs while that thread is still opening it
    opening = asyncio.ensure_future(device.open())
    await asyncio.ensure_future(device.aclose())
    with pytest.raises(errors.MediaDeviceError, match="closed while opening"):
        await opening
    assert str(clip) not in open_files()


async def test_a_file_without_the_wanted_stream_is_refused(tmp_path: Path) -> None:
    clip = tmp_path / "video-only.mkv"
    await write_clip(clip, frames=1, with_audio=False)
    with pytest.raises(errors.MediaDeviceError, match="has no audio stream"):
        await media.open_source(MediaSource.file(Role.STETHOSCOPE, str(clip)))
    with pytest.raises(errors.MediaDeviceError, match="cannot open") as info:
        await media.open_source(MediaSource.file(Role.EXAM_CAMERA, str(tmp_path / "missing.mkv")))
    assert isinstance(info.value.__cause__, FileNotFoundError)


# --- a real WebRTC call ------------------------------------------------------------------


async def test_synthetic_tracks_flow_over_a_real_peer_connection() -> None:
    """Room peer sends the exam camera and stethoscope; the physician's peer decodes them."""
    room, physician = RTCPeerConnection(), RTCPeerConnection()
    camera = await media.open_source(MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240))
    steth = await media.open_source(MediaSource.synthetic(Role.STETHOSCOPE))
    received: dict[str, asyncio.Future[VideoFrame | AudioFrame]] = {
        "video": asyncio.get_running_loop().create_future(),
        "audio": asyncio.get_running_loop().create_future(),
    }
    tasks = []

    @physician.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        async def first_frame() -> None:
            frame = await track.recv()
            received[track.kind].set_result(frame)  # type: ignore[arg-type]

        tasks.append(asyncio.ensure_future(first_frame()))

    try:
        room.addTrack(camera.subscribe())
        room.addTrack(steth.subscribe())
        await room.setLocalDescription(await room.createOffer())
        await physician.setRemoteDescription(room.localDescription)
        await physician.setLocalDescription(await physician.createAnswer())
        await room.setRemoteDescription(physician.localDescription)
        video = await asyncio.wait_for(received["video"], 20)
        audio = await asyncio.wait_for(received["audio"], 20)
    finally:
        await room.close()
        await physician.close()
        await camera.aclose()
        await steth.aclose()
        for task in tasks:
            task.cancel()
    assert isinstance(video, VideoFrame)
    assert (video.width, video.height) == (320, 240)
    image = video.reformat(format="rgb24")
    # VP8 is lossy: the big colour bars survive, within a margin
    for bar, yuv in enumerate(BARS):
        x = (2 * bar + 1) * 320 // 14
        assert pixel(image, x, 60) == pytest.approx(rgb_of(*yuv), abs=40)
    assert isinstance(audio, AudioFrame)
    assert audio.sample_rate == 48000


# --- enumerating capture devices ---------------------------------------------------------

CARDS = """\
 0 [PCH            ]: HDA-Intel - HDA Intel PCH
                      HDA Intel PCH at 0xf7f10000 irq 32
 1 [Device         ]: USB-Audio - USB Audio Device
                      C-Media Electronics Inc. USB Audio Device at usb-0000:00:14.0-2, full speed
 2 [HDMI           ]: HDA-Intel - HDA ATI HDMI
                      HDA ATI HDMI at 0xf7e60000 irq 33
"""
PCM = """\
00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1
00-03: HDMI 0 : HDMI 0 : playback 1
01-00: USB Audio : USB Audio : playback 1 : capture 1
02-03: HDMI 0 : HDMI 0 : playback 1
"""


def test_proc_asound_fixtures_parse() -> None:
    assert parse_asound_cards(CARDS) == [
        SoundCard(0, "PCH", "HDA-Intel", "HDA Intel PCH"),
        SoundCard(1, "Device", "USB-Audio", "USB Audio Device"),
        SoundCard(2, "HDMI", "HDA-Intel", "HDA ATI HDMI"),
    ]
    assert parse_asound_cards("--- no soundcards ---\n") == []
    assert [(d.location, d.name) for d in alsa_capture_devices(CARDS, PCM)] == [
        ("plughw:CARD=PCH,DEV=0", "HDA Intel PCH: ALC3246 Analog"),
        ("plughw:CARD=Device,DEV=0", "USB Audio Device: USB Audio"),
    ]


def test_sysfs_fixture_tree_lists_cameras_not_metadata_nodes(tmp_path: Path) -> None:
    nodes = {
        "video0": ("Integrated Camera: Integrated C\n", "0\n"),
        "video1": ("Integrated Camera: Integrated C\n", "1\n"),
        "video10": ("USB Otoscope\n", "0\n"),
        "video2": ("Dermatoscope\n", None),
    }
    for node, (name, index) in nodes.items():
        (tmp_path / "sys/class/video4linux" / node).mkdir(parents=True)
        (tmp_path / "sys/class/video4linux" / node / "name").write_text(name)
        if index is not None:
            (tmp_path / "sys/class/video4linux" / node / "index").write_text(index)
    (tmp_path / "proc/asound").mkdir(parents=True)
    (tmp_path / "proc/asound/cards").write_text(CARDS)
    (tmp_path / "proc/asound/pcm").write_text(PCM)
    found = media.list_capture_devices(tmp_path)
    assert [(d.kind, d.location, d.name, d.backend) for d in found] == [
        ("video", "/dev/video0", "Integrated Camera: Integrated C", "v4l2"),
        ("video", "/dev/video2", "Dermatoscope", "v4l2"),
        ("video", "/dev/video10", "USB Otoscope", "v4l2"),
        ("audio", "plughw:CARD=PCH,DEV=0", "HDA Intel PCH: ALC3246 Analog", "alsa"),
        ("audio", "plughw:CARD=Device,DEV=0", "USB Audio Device: USB Audio", "alsa"),
    ]
    source = found[2].source(Role.EXAM_CAMERA, width=1920, height=1080)
    assert (source.origin, source.location, source.backend) == (Origin.DEVICE, "/dev/video10", "v4l2")
    assert video4linux_device("v4l-subdev0", "sensor", "0") is None


def test_this_machine_lists_exactly_what_the_os_exposes() -> None:
    found = media.list_capture_devices()
    v4l = Path("/sys/class/video4linux")
    cameras = sorted(node.name for node in v4l.glob("video*")) if v4l.is_dir() else []
    assert {d.location for d in found if d.kind == "video"} <= {f"/dev/{name}" for name in cameras}
    if not Path("/proc/asound/pcm").exists():
        assert [d for d in found if d.kind == "audio"] == []
    if not cameras and not Path("/proc/asound/pcm").exists():
        assert found == []


LETTERS = string.ascii_letters
ALNUM = LETTERS + string.digits


def word(first: str, rest: str, max_rest: int, last: str = "") -> st.SearchStrategy[str]:
    """Strings made of ``first`` + up to ``max_rest`` of ``rest`` (+ ``last``), as /proc prints them."""
    return st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(first),
        st.text(alphabet=rest, max_size=max_rest),
        st.sampled_from(last) if last else st.just(""),
    )


card_ids = word(LETTERS, ALNUM + "_", 14)
names = word(ALNUM, ALNUM + " ._()-", 30, ALNUM + ")")


@given(st.lists(st.tuples(card_ids, word(LETTERS, ALNUM + "-", 15), names), max_size=8))
def test_cards_text_round_trips(cards: list[tuple[str, str, str]]) -> None:
    expected = [SoundCard(n, card_id, driver, name) for n, (card_id, driver, name) in enumerate(cards)]
    text = "".join(
        f"{c.number:2d} [{c.id:<15s}]: {c.driver} - {c.name}\n                      {c.name} at somewhere\n"
        for c in expected
    )
    assert parse_asound_cards(text) == expected


@given(
    st.lists(
        st.tuples(st.integers(0, 31), st.integers(0, 31), names, names, st.integers(0, 8), st.integers(0, 8)),
        max_size=8,
    )
)
def test_pcm_text_round_trips(pcms: list[tuple[int, int, str, str, int, int]]) -> None:
    expected = [Pcm(*pcm) for pcm in pcms]
    lines = []
    for p in expected:
        line = f"{p.card:02d}-{p.device:02d}: {p.id} : {p.name}"
        line += f" : playback {p.playback}" if p.playback else ""
        line += f" : capture {p.capture}" if p.capture else ""
        lines.append(line + "\n")
    assert parse_asound_pcm("".join(lines)) == expected


@given(st.text(), st.text())
def test_any_proc_text_parses_without_raising(cards: str, pcm: str) -> None:
    devices = alsa_capture_devices(cards, pcm)
    assert all(d.location.startswith("plughw:CARD=") and d.backend == "alsa" for d in devices)


@given(
    sample_rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    frequency=st.integers(1, 3999),
)
def test_tone_period_is_one_second_of_the_sine_it_names(sample_rate: int, frequency: int) -> None:
    """The repeated stretch equals the sine computed sample by sample (within one step of rounding)."""
    pcm = array("h")
    pcm.frombytes(tone_period(sample_rate, frequency))
    assert len(pcm) == sample_rate
    for n in range(0, sample_rate, 97):  # a spread of samples across the whole second
        exact = 0.25 * FULL_SCALE * math.sin(2 * math.pi * frequency * n / sample_rate)
        assert abs(pcm[n] - exact) <= 1
