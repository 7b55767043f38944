"""Synthetic camera frames and snapshot encoding, next to baselines measured in the same run.

Frame generation: ``TestPatternTrack.recv()`` (colour bars, moving square, burned-in time
stamp and counter; pacing switched off with a clock that never waits) against the least
any generator of new yuv420p frames must do in PyAV: allocate a ``VideoFrame`` and copy
three prebuilt planes into it (``from_ndarray`` would need numpy, which neither aiortc
nor PyAV installs, so the plane copy is the floor here).

Snapshots: ``encode_snapshot`` of one test-pattern frame as PNG and as JPEG, and of a frame
of random noise: the flat test pattern compresses far better than a camera picture, noise
far worse, so real stills fall in between.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_media.py [--quick]``).
Prints Markdown tables; copy them into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sys
import time
import timeit

import av
from av import VideoFrame

from telemedroom.devices import media

SIZES = [(1280, 720), (1920, 1080)]
IMAGE_FORMATS = ["png", "jpeg"]
FRAME_INTERVAL_MS = 1000 / 30


class NoWaitClock:
    """Real time stamps, but pacing never waits: the benchmark measures work, not waiting.

    Its monotonic time jumps an hour per reading, so every frame is already late.
    """

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 3600.0
        return self.now

    def time(self) -> float:
        return time.time()

    async def sleep(self, delay: float) -> None:
        raise AssertionError("the benchmark clock never has to wait")


def pattern_track(width: int, height: int) -> media.TestPatternTrack:
    return media.TestPatternTrack(width, height, label="EXAM CAMERA", clock=NoWaitClock())


def baseline_frame_maker(width: int, height: int) -> tuple[VideoFrame, object]:
    """A function building a new frame from prebuilt planes, and one frame it built."""
    template = VideoFrame(width, height, "yuv420p")
    planes = [bytes([16 + index]) * plane.buffer_size for index, plane in enumerate(template.planes)]

    def make() -> VideoFrame:
        frame = VideoFrame(width, height, "yuv420p")
        for plane, data in zip(frame.planes, planes, strict=True):
            plane.update(data)
        return frame

    return make(), make


def noise_frame(width: int, height: int) -> VideoFrame:
    frame = VideoFrame(width, height, "yuv420p")
    rng = random.Random(0)
    for plane in frame.planes:
        plane.update(rng.randbytes(plane.buffer_size))
    return frame


def ms_per_call(function: object, number: int, repeat: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1000  # type: ignore[arg-type]


def check_cases() -> None:
    """Every case produces what it claims to measure (used by tests/test_benchmarks.py)."""
    loop = asyncio.new_event_loop()
    try:
        for width, height in SIZES:
            frame = loop.run_until_complete(pattern_track(width, height).recv())
            base, _ = baseline_frame_maker(width, height)
            assert (frame.width, frame.height, frame.format.name) == (width, height, "yuv420p")
            assert (base.width, base.height, base.format.name) == (width, height, "yuv420p")
            for image_format in IMAGE_FORMATS:
                shot = media.encode_snapshot(frame, image_format)  # type: ignore[arg-type]
                codec = "png" if image_format == "png" else "mjpeg"
                (decoded,) = av.CodecContext.create(codec, "r").decode(av.Packet(shot.data))
                assert (decoded.width, decoded.height) == (width, height)
    finally:
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations (for smoke tests)")
    args = parser.parse_args()
    number, repeat = (20, 3) if args.quick else (200, 5)
    check_cases()
    loop = asyncio.new_event_loop()

    print(f"Python {platform.python_version()}, PyAV {av.__version__} on {platform.machine()}, one core\n")
    print("| frame size | TestPatternTrack.recv ms/frame | baseline (new frame, copy planes) ms | ratio |")
    print("|---|---:|---:|---:|")
    frames = {}
    for width, height in SIZES:
        track = pattern_track(width, height)
        frames[f"{width}x{height} test pattern"] = loop.run_until_complete(track.recv())
        ours = ms_per_call(lambda: loop.run_until_complete(track.recv()), number, repeat)  # noqa: B023
        _, make = baseline_frame_maker(width, height)
        # the baseline runs inside the event loop too, so both pay the same scheduling cost
        baseline = ms_per_call(lambda: loop.run_until_complete(asyncio.sleep(0, make())), number, repeat)  # noqa: B023
        print(
            f"| {width}x{height} | {ours:.3f} ({ours / FRAME_INTERVAL_MS:.1%} of a 30 fps frame) "
            f"| {baseline:.3f} | {ours / baseline:.1f}x |"
        )

    width, height = SIZES[-1]
    frames[f"{width}x{height} random noise"] = noise_frame(width, height)
    print("\n| frame | PNG ms | PNG KiB | JPEG ms | JPEG KiB | PNG / JPEG time |")
    print("|---|---:|---:|---:|---:|---:|")
    encode_number = max(3, number // 20)
    for name, frame in frames.items():
        timings = {}
        sizes = {}
        for image_format in IMAGE_FORMATS:
            sizes[image_format] = len(media.encode_snapshot(frame, image_format).data) / 1024  # type: ignore[arg-type]
            timings[image_format] = ms_per_call(
                lambda: media.encode_snapshot(frame, image_format),  # type: ignore[arg-type]  # noqa: B023
                encode_number,
                repeat,
            )
        print(
            f"| {name} | {timings['png']:.1f} | {sizes['png']:.0f} | {timings['jpeg']:.1f} "
            f"| {sizes['jpeg']:.0f} | {timings['png'] / timings['jpeg']:.1f}x |"
        )
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
