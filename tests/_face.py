"""A real face for the tests of facial measurements: the astronaut photo, as a still or a camera.

``tests/exams/data/astronaut-face.png`` is a crop of ``skimage.data.astronaut()`` (NASA
portrait of Eileen Collins, public domain), enlarged 3x here so the pupils are ~129 px
apart, as an exam camera at arm's length gives. Needs the ``landmarks`` extra (OpenCV
comes with MediaPipe); without it the test skips, or fails under TELEMEDROOM_REQUIRE_ALL.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tests._system import missing_system_part

from telemedroom import errors
from telemedroom.exams import FaceMeshDetector

FACE = Path(__file__).parent / "exams" / "data" / "astronaut-face.png"
ZOOM = 3


def detector() -> FaceMeshDetector:
    """The detector, or skip/fail without the ``landmarks`` extra."""
    try:
        return FaceMeshDetector()
    except errors.MissingExtraError:
        missing_system_part("mediapipe is not installed (pip install 'telemedroom[landmarks]')")


def face_rgb() -> Any:
    """The face as an RGB array, 600x600."""
    detector()
    cv2 = importlib.import_module("cv2")
    small = cv2.cvtColor(cv2.imread(str(FACE)), cv2.COLOR_BGR2RGB)
    return cv2.resize(small, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_CUBIC)


def face_png(rgb: Any | None = None) -> bytes:
    """The face (or ``rgb``) as PNG bytes."""
    cv2 = importlib.import_module("cv2")
    image = face_rgb() if rgb is None else rgb
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return bytes(data.tobytes())


def face_video(path: Path, *, seconds: float = 30, fps: int = 4) -> Path:
    """A camera that shows the face: a Motion-JPEG AVI of the still, ``seconds`` long."""
    cv2 = importlib.import_module("cv2")
    bgr = cv2.cvtColor(face_rgb(), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (bgr.shape[1], bgr.shape[0]))
    for _ in range(int(seconds * fps)):
        writer.write(bgr)
    writer.release()
    return path
