"""Short WebM (VP8) clips from a camera: recorded from real synthetic tracks, decoded back by PyAV."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

import av
import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from hypothesis import given, settings
from hypothesis import strategies as st

from telemedroom import errors
from telemedroom.devices.media import Clip, MediaDevice, MediaSource, Role, TestPatternTrack, record_clip


@settings(max_examples=5, deadline=None)
@given(
    size=st.sampled_from([(160, 120), (320, 240), (640, 360)]),
    rate=st.sampled_from([5, 10, 15]),
    tenths=st.integers(1, 4),
)
async def test_a_clip_holds_the_frames_of_its_length_at_the_cameras_size(
    size: tuple[int, int], rate: int, tenths: int
) -> None:
    seconds = tenths / 10
    clip = await record_clip(TestPatternTrack(*size, rate), seconds=seconds)
    assert (clip.width, clip.height) == size
    assert clip.frames == math.floor(seconds * rate + 1e-9) + 1  # frames at 0, 1/rate, ... up to seconds
    assert clip.duration == pytest.approx((clip.frames - 1) / rate, abs=0.002)
    with av.open(io.BytesIO(clip.data), format="webm") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "vp8"
        decoded = list(container.decode(stream))
    assert len(decoded) == clip.frames
    assert {(f.width, f.height) for f in decoded} == {size}


async def test_a_device_records_a_clip_and_refuses_one_from_a_microphone() -> None:
    async with MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240)) as camera:
        clip = await camera.clip(0.2)
    assert (clip.media_type, clip.width, clip.suffix) == ("video/webm", 320, ".webm")
    assert Clip.from_webm(clip.data, captured_at=clip.captured_at).frames == clip.frames
    async with MediaDevice(MediaSource.synthetic(Role.MICROPHONE)) as microphone:
        with pytest.raises(errors.MediaDeviceError, match="needs a camera"):
            await microphone.clip()


async def test_a_clip_of_a_dead_or_silent_track_is_a_media_device_error() -> None:
    with pytest.raises(errors.MediaDeviceError, match="needs a video track"):
        await record_clip(AudioStreamTrack())
    ended = VideoStreamTrack()
    ended.stop()
    with pytest.raises(errors.MediaDeviceError, match="ended"):
        await record_clip(ended)
    with pytest.raises(errors.MediaDeviceError, match="longer than 0"):
        await record_clip(VideoStreamTrack(), seconds=0)
    with pytest.raises(errors.MediaDeviceError, match="not a WebM"):
        Clip.from_webm(b"not a video", captured_at=datetime.now(UTC))
