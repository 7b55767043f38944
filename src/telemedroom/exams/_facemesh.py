"""The landmark detector: MediaPipe's face mesh, offline, its model inside the wheel (extra ``landmarks``).

MediaPipe 0.10.14 (Apache-2.0) ships the face-mesh models in its wheel
(``mediapipe/modules/face_detection/face_detection_short_range.tflite`` finds the face,
``mediapipe/modules/face_landmark/face_landmark_with_attention.tflite`` places 478
points, the irises included), so nothing is downloaded at run time. Later 0.10 wheels
pin ``numpy<2``, and the 1.x line dropped the bundled legacy face mesh; hence the pin in
the ``landmarks`` extra.

:class:`FaceMeshDetector` turns one still into :class:`FaceLandmarks`, or raises a
:class:`~telemedroom.errors.FaceNotMeasurable` saying why not: no face, several faces,
a face too small, a head turned too far. It never guesses.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Literal

from telemedroom.errors import (
    FaceNotMeasurable,
    FaceTooSmall,
    FaceTurned,
    MissingExtraError,
    NoFaceFound,
    SeveralFacesFound,
)
from telemedroom.exams._landmarks import LANDMARKS, Point
from telemedroom.exams._measures import ADULT_IPD_MM, StillMeasurements, measure_protocol

__all__ = ["MESH_POINTS", "FaceLandmarks", "FaceMeshDetector", "ModelInfo", "measure_images"]

# MediaPipe face mesh topology (canonical_face_model_uv_visualization.png in mediapipe's
# face_geometry module; mediapipe/python/solutions/face_mesh_connections.py). "right" and
# "left" are the patient's in an unmirrored still: the patient's right is on the image's left.
# A named point is the mean of its mesh points, so a row of brow points gives the brow's centre.
MESH_POINTS: Final[dict[str, tuple[int, ...]]] = {
    "iris-right": (468,),
    "iris-left": (473,),
    "brow-right": (70, 63, 105, 66, 107),  # upper margin of the brow
    "brow-left": (300, 293, 334, 296, 336),
    "eye-right-upper": (158, 159, 160),  # upper lid margin over the pupil
    "eye-right-lower": (144, 145, 153),
    "eye-left-upper": (385, 386, 387),
    "eye-left-lower": (373, 374, 380),
    "eye-right-inner": (133,),
    "eye-left-inner": (362,),
    "eye-right-outer": (33,),
    "eye-left-outer": (263,),
    "mouth-right": (61,),  # oral commissures
    "mouth-left": (291,),
    "lip-upper": (0,),  # vermilion midline
    "lip-lower": (17,),
    "lower-lip-right": (181,),  # lower lip halfway between midline and corner
    "lower-lip-left": (405,),
    "ala-right": (98,),  # nasal ala, lateral base
    "ala-left": (327,),
    "nose-tip": (1,),
    "forehead": (10,),
    "chin": (152,),
    "cheek-right": (234,),  # face contour at the cheekbones
    "cheek-left": (454,),
}
"""Named points of the face mesh used by the measurements (``name -> mesh indices``)."""


@dataclass(frozen=True)
class ModelInfo:
    """Which model found the landmarks (the FHIR Device's version of the measurements).

    Attributes:
        name: The model's name.
        version: The package version that ships it.
        sha256: The SHA-256 of the model file, so a re-packaged model is told apart.
    """

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class FaceLandmarks:
    """The 478 face-mesh points of one still, in pixels, with the head pose they imply.

    Attributes:
        mesh: ``(x, y, z)`` per mesh point: x to the right, y down, z away from the camera
            (MediaPipe's relative depth, in the same pixel scale as x).
        width: The still's width in pixels.
        height: The still's height in pixels.

    Examples:
        >>> mesh = [(0.0, 0.0, 0.0)] * 478
        >>> mesh[468], mesh[473] = (100.0, 100.0, 0.0), (160.0, 100.0, 0.0)
        >>> face = FaceLandmarks(mesh=tuple(mesh), width=320, height=240)
        >>> face.point("iris-left"), face.ipd_px
        ((160.0, 100.0), 60.0)
    """

    mesh: tuple[tuple[float, float, float], ...]
    width: int
    height: int

    def point(self, name: str) -> Point:
        """The named point of :data:`MESH_POINTS` (the mean of its mesh points)."""
        indices = MESH_POINTS[name]
        return (
            sum(self.mesh[i][0] for i in indices) / len(indices),
            sum(self.mesh[i][1] for i in indices) / len(indices),
        )

    def named(self) -> dict[str, Point]:
        """Every point of :data:`MESH_POINTS` by name (what the measurements take)."""
        return {name: self.point(name) for name in MESH_POINTS}

    @property
    def ipd_px(self) -> float:
        """The inter-pupillary distance in pixels (iris centre to iris centre)."""
        return math.dist(self.point("iris-right"), self.point("iris-left"))

    @property
    def yaw(self) -> float:
        """Rotation about the vertical axis in degrees, from the cheek contours' depth (0: facing)."""
        right, left = self.mesh[MESH_POINTS["cheek-right"][0]], self.mesh[MESH_POINTS["cheek-left"][0]]
        across = math.hypot(left[0] - right[0], left[1] - right[1])
        return math.degrees(math.atan2(left[2] - right[2], across))

    @property
    def pitch(self) -> float:
        """Rotation about the horizontal axis in degrees, forehead to chin (positive: chin down)."""
        top, chin = self.mesh[MESH_POINTS["forehead"][0]], self.mesh[MESH_POINTS["chin"][0]]
        along = math.hypot(chin[0] - top[0], chin[1] - top[1])
        return math.degrees(math.atan2(chin[2] - top[2], along))


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError("landmarks", "telemedroom.exams.FaceMeshDetector") from exc


@functools.cache
def _model_info() -> ModelInfo:
    mediapipe = _import("mediapipe")
    model = (
        Path(mediapipe.__file__).parent / "modules" / "face_landmark" / "face_landmark_with_attention.tflite"
    )
    return ModelInfo(
        name="MediaPipe face mesh (face_landmark_with_attention)",
        version=metadata.version("mediapipe"),
        sha256=hashlib.sha256(model.read_bytes()).hexdigest(),
    )


class FaceMeshDetector:
    """Finds the one face of a still and its 478 landmarks, offline (MediaPipe face mesh).

    Needs the ``landmarks`` extra (``pip install 'telemedroom[landmarks]'``). One
    detector serves many stills and threads (calls take turns); loading the model
    takes a few ten milliseconds, on the first still.

    It is also a :class:`~telemedroom.exams.LandmarkDetector` (called with the image
    bytes, it gives :data:`~telemedroom.exams.LANDMARKS`, ``None`` without a face).

    Args:
        min_ipd_px: The smallest inter-pupillary distance measured, in pixels: below
            it the mesh's error of a pixel or two is too large a share of the face.
        max_turn_deg: The largest head turn (yaw) or tip (pitch) measured, in degrees.

    Raises:
        MissingExtraError: mediapipe is not installed.

    Examples:
        >>> detector = FaceMeshDetector()                        # doctest: +SKIP
        >>> face = detector.detect(png_bytes)                    # doctest: +SKIP
        >>> round(face.ipd_px)                                   # doctest: +SKIP
        131
    """

    def __init__(self, *, min_ipd_px: float = 60.0, max_turn_deg: float = 20.0) -> None:
        self._mp = _import("mediapipe.python.solutions.face_mesh")
        self._cv2 = _import("cv2")
        self._np = _import("numpy")
        self.min_ipd_px = min_ipd_px
        self.max_turn_deg = max_turn_deg
        self._mesh: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> ModelInfo:
        """The model's name, version and file hash."""
        return _model_info()

    def decode(self, image: bytes, *, step: str | None = None) -> Any:
        """An encoded still (PNG, JPEG) as an RGB array.

        Raises:
            FaceNotMeasurable: The bytes are not an image.
        """
        np, cv2 = self._np, self._cv2
        bgr = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR) if image else None
        if bgr is None:
            raise FaceNotMeasurable(f"the image cannot be decoded ({len(image)} bytes)", step=step)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def detect(self, image: bytes | Any, *, step: str | None = None) -> FaceLandmarks:
        """The landmarks of the one face in ``image`` (encoded bytes or an RGB ``uint8`` array).

        Raises:
            NoFaceFound: No face in the still.
            SeveralFacesFound: More than one.
            FaceTooSmall: The pupils are fewer than ``min_ipd_px`` pixels apart.
            FaceTurned: The head is turned or tipped more than ``max_turn_deg``.
            FaceNotMeasurable: The bytes are not an image.
        """
        rgb = self.decode(bytes(image), step=step) if isinstance(image, bytes | bytearray) else image
        if getattr(rgb, "ndim", 0) != 3 or rgb.shape[2] != 3 or str(rgb.dtype) != "uint8":
            raise FaceNotMeasurable("the image must be RGB with 8 bits per channel", step=step)
        height, width = int(rgb.shape[0]), int(rgb.shape[1])
        with self._lock, warnings.catch_warnings():
            # protobuf 4 warns on every call of mediapipe 0.10.14's graph runner
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
            if self._mesh is None:
                self._mesh = self._mp.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=3)
            found = self._mesh.process(self._np.ascontiguousarray(rgb)).multi_face_landmarks or []
        if not found:
            raise NoFaceFound(step=step)
        if len(found) > 1:
            raise SeveralFacesFound(len(found), step=step)
        face = FaceLandmarks(
            mesh=tuple((p.x * width, p.y * height, p.z * width) for p in found[0].landmark),
            width=width,
            height=height,
        )
        if face.ipd_px < self.min_ipd_px:
            raise FaceTooSmall(round(face.ipd_px, 1), self.min_ipd_px, step=step)
        if max(abs(face.yaw), abs(face.pitch)) > self.max_turn_deg:
            raise FaceTurned(round(face.yaw, 1), round(face.pitch, 1), self.max_turn_deg, step=step)
        return face

    def __call__(self, image: bytes, media_type: str, /) -> Mapping[str, Point] | None:
        """:data:`~telemedroom.exams.LANDMARKS` of the still, ``None`` without a face (the protocol)."""
        try:
            face = self.detect(image)
        except NoFaceFound:
            return None
        return {name: face.point(name) for name in LANDMARKS}

    def close(self) -> None:
        """Free the model's graph (a later still loads it again)."""
        with self._lock:
            if self._mesh is not None:
                self._mesh.close()
                self._mesh = None


def measure_images(
    stills: Sequence[tuple[str, bytes | Any]],
    *,
    detector: FaceMeshDetector,
    affected: Literal["left", "right"] | None = None,
    ipd_mm: float = ADULT_IPD_MM,
) -> tuple[dict[str, StillMeasurements], dict[str, FaceNotMeasurable]]:
    """Landmarks and measures of a visit's protocol stills (``(step, image)``, the latest per step wins).

    A still that cannot be measured is not guessed at: its error is returned instead,
    so the console can show why and the others are still measured. Without a measurable
    rest still, the movements and closures are left out.

    Returns:
        The measures per step, and per step the reason a still was not measured.

    Examples:
        >>> results, problems = measure_images([], detector=FaceMeshDetector())   # doctest: +SKIP
        >>> results, problems                                                     # doctest: +SKIP
        ({}, {})
    """
    latest = dict(stills)
    found: dict[str, Mapping[str, Point]] = {}
    problems: dict[str, FaceNotMeasurable] = {}
    for step, image in latest.items():
        try:
            found[step] = detector.detect(image, step=step).named()
        except FaceNotMeasurable as exc:
            problems[step] = exc
    return measure_protocol(found, affected=affected, ipd_mm=ipd_mm), problems
