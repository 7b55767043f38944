"""The optional objective aid: facial landmark symmetry metrics. An aid for the physician, NOT a diagnosis.

The seam: a :class:`LandmarkDetector` gives the points of :data:`LANDMARKS`, and
:func:`symmetry_metrics` turns them into left/right ratios, tested on its own. A detector
ships in the ``landmarks`` extra (:class:`~telemedroom.exams.FaceMeshDetector`, MediaPipe's
face mesh with its model inside the wheel), and the fuller per-step measurements are in
:mod:`telemedroom.exams._measures`; a deployment may plug in another detector here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from telemedroom.errors import GradingError

Point = tuple[float, float]

LANDMARKS: Final[tuple[str, ...]] = (
    "brow-left",
    "brow-right",
    "eye-left-upper",
    "eye-left-lower",
    "eye-right-upper",
    "eye-right-lower",
    "eye-left-inner",
    "eye-right-inner",
    "mouth-left",
    "mouth-right",
)
"""The points a detector must give, ``left``/``right`` being the patient's: the brow's
highest point, the upper and lower eyelid margins at the pupil, the inner eye corners,
the mouth corners."""

NOT_A_DIAGNOSIS: Final = "Landmark symmetry metrics are an aid for the physician, not a diagnosis."


class LandmarkDetector(Protocol):
    """Finds :data:`LANDMARKS` in a still (the seam for a landmark library the deployment chooses).

    Examples:
        >>> def no_face(image: bytes, media_type: str) -> None:
        ...     return None
        >>> detector: LandmarkDetector = no_face
    """

    def __call__(self, image: bytes, media_type: str, /) -> Mapping[str, Point] | None:
        """Pixel coordinates (x to the right, y down) of every landmark, or ``None`` without a face."""


class SymmetryMetrics(BaseModel):
    """Left/right ratios from one still's landmarks: 1.0 is symmetric, 0.5 one side half the other.

    Each ratio is the smaller side over the larger, so it does not say which side is
    weaker; ``weaker`` does. Not a grade and not a diagnosis (:data:`NOT_A_DIAGNOSIS`).

    Attributes:
        note: :data:`NOT_A_DIAGNOSIS`, carried with the numbers wherever they go.
        eyebrow_height: Brow above the upper eyelid, left vs right.
        eye_opening: Upper to lower eyelid, left vs right (gentle eye closure: both near 0).
        mouth_corner_excursion: How far each mouth corner moved from the rest still
            (``None`` without rest landmarks).
        weaker: Per metric, the side with the smaller value (``None`` when equal).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Literal["Landmark symmetry metrics are an aid for the physician, not a diagnosis."] = (
        NOT_A_DIAGNOSIS
    )
    eyebrow_height: Annotated[float, Field(ge=0, le=1)]
    eye_opening: Annotated[float, Field(ge=0, le=1)]
    mouth_corner_excursion: Annotated[float, Field(ge=0, le=1)] | None = None
    weaker: dict[str, Literal["left", "right"] | None]


def _point(landmarks: Mapping[str, Point], name: str) -> Point:
    try:
        x, y = landmarks[name]
    except (KeyError, TypeError, ValueError):
        raise GradingError(
            f"landmarks.{name}", landmarks.get(name), "missing or not an (x, y) pair"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GradingError(f"landmarks.{name}", (x, y), "coordinates must be finite")
    return float(x), float(y)


def _ratio(left: float, right: float) -> tuple[float, Literal["left", "right"] | None]:
    larger = max(left, right)
    if larger == 0 or math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12):
        return 1.0, None
    return min(left, right) / larger, "left" if left < right else "right"


def symmetry_metrics(
    landmarks: Mapping[str, Point], *, rest: Mapping[str, Point] | None = None
) -> SymmetryMetrics:
    """Left/right symmetry ratios of one expression's landmarks (an aid, not a diagnosis).

    Distances are measured along the face's own vertical (perpendicular to the line
    through the inner eye corners), so a tilted head does not change them; mouth
    corner excursion is each corner's displacement from ``rest``, after aligning the
    two stills on the inner eye corners (translation, rotation and scale).

    Raises:
        GradingError: A landmark is missing or not finite, or the inner eye corners coincide.

    Examples:
        >>> face = {"brow-left": (40, 20), "brow-right": (80, 20), "eye-left-upper": (40, 40),
        ...         "eye-left-lower": (40, 50), "eye-right-upper": (80, 40), "eye-right-lower": (80, 50),
        ...         "eye-left-inner": (50, 45), "eye-right-inner": (70, 45),
        ...         "mouth-left": (45, 90), "mouth-right": (75, 90)}
        >>> drooping = {**face, "brow-left": (40, 30)}
        >>> metrics = symmetry_metrics(drooping)
        >>> metrics.eyebrow_height, metrics.eye_opening, metrics.weaker["eyebrow_height"]
        (0.5, 1.0, 'left')
    """
    frame = _Frame(landmarks)

    def height(upper: str, lower: str) -> float:
        return max(0.0, frame.down(_point(landmarks, lower)) - frame.down(_point(landmarks, upper)))

    brow, brow_side = _ratio(height("brow-left", "eye-left-upper"), height("brow-right", "eye-right-upper"))
    eye, eye_side = _ratio(
        height("eye-left-upper", "eye-left-lower"), height("eye-right-upper", "eye-right-lower")
    )
    weaker: dict[str, Literal["left", "right"] | None] = {
        "eyebrow_height": brow_side,
        "eye_opening": eye_side,
    }
    excursion = None
    if rest is not None:
        before = _Frame(rest)
        moved = []
        for side in ("mouth-left", "mouth-right"):
            now = frame.normalised(_point(landmarks, side))
            then = before.normalised(_point(rest, side))
            moved.append(math.dist(now, then))
        excursion, weaker["mouth_corner_excursion"] = _ratio(moved[0], moved[1])
    return SymmetryMetrics(
        eyebrow_height=round(brow, 6),
        eye_opening=round(eye, 6),
        mouth_corner_excursion=round(excursion, 6) if excursion is not None else None,
        weaker=weaker,
    )


class _Frame:
    """The face's own axes: origin between the inner eye corners, unit = their distance."""

    def __init__(self, landmarks: Mapping[str, Point]) -> None:
        left, right = _point(landmarks, "eye-left-inner"), _point(landmarks, "eye-right-inner")
        self.origin = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2)
        dx, dy = right[0] - left[0], right[1] - left[1]
        self.scale = math.hypot(dx, dy)
        if self.scale == 0:
            raise GradingError("landmarks.eye-left-inner", left, "coincides with eye-right-inner")
        # unit vectors: across the face (from the patient's left eye to the right one,
        # whichever way the camera mirrors) and down it, towards the mouth
        self.across = (dx / self.scale, dy / self.scale)
        self.downward = (-self.across[1], self.across[0])
        mouth_left, mouth_right = _point(landmarks, "mouth-left"), _point(landmarks, "mouth-right")
        mouth = (
            (mouth_left[0] + mouth_right[0]) / 2 - self.origin[0],
            (mouth_left[1] + mouth_right[1]) / 2 - self.origin[1],
        )
        if mouth[0] * self.downward[0] + mouth[1] * self.downward[1] < 0:
            self.downward = (-self.downward[0], -self.downward[1])

    def normalised(self, point: Point) -> Point:
        x, y = point[0] - self.origin[0], point[1] - self.origin[1]
        return (
            (x * self.across[0] + y * self.across[1]) / self.scale,
            (x * self.downward[0] + y * self.downward[1]) / self.scale,
        )

    def down(self, point: Point) -> float:
        return self.normalised(point)[1] * self.scale
