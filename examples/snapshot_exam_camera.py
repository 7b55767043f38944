"""Take a full-resolution still from the exam camera, as the physician's "snapshot" button does.

No camera needed: the exam camera here is synthetic (colour bars, a moving square, time
stamp and frame counter). For a real one, describe it as
``MediaSource.device(Role.EXAM_CAMERA, "/dev/video2", width=1920, height=1080)``.
Needs ``pip install 'telemedroom[video]'``.
"""

import asyncio
import tempfile
from pathlib import Path

from telemedroom.devices.media import MediaDevice, MediaSource, Role


async def main() -> None:
    exam = MediaSource.synthetic(Role.EXAM_CAMERA, width=1920, height=1080)
    print(f"exam camera: {exam.origin} {exam.width}x{exam.height}")
    async with MediaDevice(exam) as camera:
        preview = camera.subscribe()  # what a local preview or the peer connection would read
        first = await preview.recv()
        print(f"preview frame: {first.width}x{first.height}")
        still = await camera.snapshot("png")
    print(f"snapshot: {still.media_type} {still.width}x{still.height}, taken {still.captured_at:%Y-%m-%d}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"exam-{still.captured_at:%Y%m%dT%H%M%S}{still.suffix}"
        path.write_bytes(still.data)
        print(f"wrote {path.name}: {path.stat().st_size} bytes")
    print(f"camera released: {camera.closed}")


asyncio.run(main())
