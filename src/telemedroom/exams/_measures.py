"""Facial-symmetry measurements per protocol still: a measurement aid, not a diagnosis.

Every still is put in the face's own frame: origin midway between the pupils, x from
the patient's right pupil to the left one, y at right angles towards the mouth, unit
the inter-pupillary distance (IPD). So the distance to the camera and a tilted head do
not change a value; the stills of one visit are compared frame to frame, so the patient
may move between them. Lengths are given in % of the IPD, and in millimetre-equivalents
where a clinician expects millimetres (eye closure), taking the IPD as ``ipd_mm``
(63 mm, the adult mean, unless the patient's own is known).

Per step, each side is measured; a movement is the change from the rest still, and its
symmetry is the moving side's excursion relative to the other side, in % of normal as
eFACE-style scales express it (:attr:`FacialMeasure.percent_of_normal`). Which side is
affected is the physician's call: given as ``affected``, the percentage is that side's
over the other; without it, the smaller over the larger and :attr:`FacialMeasure.weaker`
names the smaller.

The table :data:`MEASURES` says which value each measure takes from which still.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from telemedroom.errors import GradingError
from telemedroom.exams._landmarks import NOT_A_DIAGNOSIS, Point

__all__ = [
    "MEASURES",
    "MIN_MOVEMENT",
    "MEASUREMENT_POINTS",
    "FacialMeasure",
    "MeasureSpec",
    "StillMeasurements",
    "measure_still",
    "measure_protocol",
]

Side = Literal["left", "right"]
Unit = Literal["%", "deg"]

MEASUREMENT_POINTS: Final[tuple[str, ...]] = (
    "iris-right",
    "iris-left",
    "brow-right",
    "brow-left",
    "eye-right-upper",
    "eye-right-lower",
    "eye-left-upper",
    "eye-left-lower",
    "mouth-right",
    "mouth-left",
    "lip-upper",
    "lip-lower",
    "lower-lip-right",
    "lower-lip-left",
    "ala-right",
    "ala-left",
)
"""The points the measurements take (the patient's left and right), in pixels of the still."""

ADULT_IPD_MM: Final = 63.0
"""Mean adult inter-pupillary distance, the default scale of the millimetre-equivalents."""

MIN_MOVEMENT: Final = {"movement": 3.0, "closure": 10.0}
"""Below these (% of the IPD for a movement, % of the resting opening for a closure) on
both sides, nothing moved that the landmarks can tell from their own scatter (about 3 %
of the IPD on a real face), so no % of normal and no weaker side is given."""


class _Face:
    """One still's points in the face's frame (origin between the pupils, unit = IPD)."""

    def __init__(self, points: Mapping[str, Point], step: str) -> None:
        self.points = points
        self.step = step
        right, left = self._raw("iris-right"), self._raw("iris-left")
        self.origin = ((right[0] + left[0]) / 2, (right[1] + left[1]) / 2)
        dx, dy = left[0] - right[0], left[1] - right[1]
        self.ipd = math.hypot(dx, dy)
        if self.ipd == 0:
            raise GradingError("landmarks.iris-left", left, "coincides with iris-right")
        self.across = (dx / self.ipd, dy / self.ipd)
        self.downward = (-self.across[1], self.across[0])
        mouth = self._raw("lip-upper")
        if (mouth[0] - self.origin[0]) * self.downward[0] + (mouth[1] - self.origin[1]) * self.downward[
            1
        ] < 0:
            # a mirrored still: the patient's left pupil is on the image's left
            self.downward = (-self.downward[0], -self.downward[1])

    def _raw(self, name: str) -> Point:
        try:
            x, y = self.points[name]
        except (KeyError, TypeError, ValueError):
            raise GradingError(
                f"landmarks.{name}", self.points.get(name), f"missing in the still of {self.step}"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise GradingError(f"landmarks.{name}", (x, y), "coordinates must be finite")
        return float(x), float(y)

    def at(self, name: str) -> Point:
        """The point in the face frame: (across towards the patient's left, down), in IPD."""
        x, y = self._raw(name)
        x, y = x - self.origin[0], y - self.origin[1]
        return (
            (x * self.across[0] + y * self.across[1]) / self.ipd,
            (x * self.downward[0] + y * self.downward[1]) / self.ipd,
        )

    def down(self, name: str) -> float:
        return self.at(name)[1]


# -- what each measure takes ---------------------------------------------------------------

SideValue = Callable[[_Face, Side], float]
Movement = Callable[[_Face, _Face, Side], float]


def _brow_height(face: _Face, side: Side) -> float:
    return -face.down(f"brow-{side}")  # above the line through the pupils


def _fissure(face: _Face, side: Side) -> float:
    return max(0.0, face.down(f"eye-{side}-lower") - face.down(f"eye-{side}-upper"))


def _commissure_drop(face: _Face, side: Side) -> float:
    return face.down(f"mouth-{side}")


def _ala_drop(face: _Face, side: Side) -> float:
    return face.down(f"ala-{side}")


def _lower_lip_drop(face: _Face, side: Side) -> float:
    return face.down(f"lower-lip-{side}")


def _smile_angle(face: _Face, side: Side) -> float:
    # degrees the corner sits above the lips' midpoint, seen along the face's horizontal
    upper, lower = face.at("lip-upper"), face.at("lip-lower")
    mid = ((upper[0] + lower[0]) / 2, (upper[1] + lower[1]) / 2)
    corner = face.at(f"mouth-{side}")
    return math.degrees(math.atan2(mid[1] - corner[1], abs(corner[0] - mid[0])))


def _brow_lift(face: _Face, rest: _Face, side: Side) -> float:
    return _brow_height(face, side) - _brow_height(rest, side)


def _commissure_excursion(face: _Face, rest: _Face, side: Side) -> float:
    return math.dist(face.at(f"mouth-{side}"), rest.at(f"mouth-{side}"))


def _ala_lift(face: _Face, rest: _Face, side: Side) -> float:
    return _ala_drop(rest, side) - _ala_drop(face, side)


def _pucker(face: _Face, rest: _Face, side: Side) -> float:
    # the corner's move towards the midline
    return abs(rest.at(f"mouth-{side}")[0]) - abs(face.at(f"mouth-{side}")[0])


@dataclass(frozen=True)
class MeasureSpec:
    """One measure: which still, what it takes per side, and how it reads.

    Attributes:
        code: Its code (in :data:`~telemedroom.exams.FACIAL_CODES`, the Observation's code).
        step: The protocol step whose still it measures.
        title: What it is, in words.
        kind: ``position`` (where a point sits in the still), ``movement`` (the change
            from the rest still), ``closure`` (how much of the resting eye opening is
            closed), or ``angle``.
        side_value: The value per side in the still (IPD units, or degrees for an angle).
        movement: The change from the rest still per side (``movement`` kind).
    """

    code: str
    step: str
    title: str
    kind: Literal["position", "movement", "closure", "angle"]
    side_value: SideValue | None = None
    movement: Movement | None = None


MEASURES: Final[tuple[MeasureSpec, ...]] = (
    MeasureSpec("brow-height-rest", "rest", "Brow height at rest", "position", _brow_height),
    MeasureSpec("palpebral-fissure-rest", "rest", "Palpebral fissure height at rest", "position", _fissure),
    MeasureSpec("commissure-height-rest", "rest", "Oral commissure below the pupils at rest", "position",
                _commissure_drop),
    MeasureSpec("ala-height-rest", "rest", "Nasal ala below the pupils at rest", "position", _ala_drop),
    MeasureSpec("brow-excursion", "raise-eyebrows", "Brow lift from rest", "movement", movement=_brow_lift),
    MeasureSpec("eye-closure-gentle", "close-eyes-gently", "Gentle eye closure", "closure", _fissure),
    MeasureSpec("eye-closure-tight", "close-eyes-tightly", "Tight eye closure", "closure", _fissure),
    MeasureSpec("ala-excursion", "wrinkle-nose", "Nasal ala lift from rest", "movement", movement=_ala_lift),
    MeasureSpec("commissure-excursion", "smile-with-teeth", "Oral commissure excursion from rest", "movement",
                movement=_commissure_excursion),
    MeasureSpec("smile-angle", "smile-with-teeth", "Smile angle", "angle", _smile_angle),
    MeasureSpec("pucker-excursion", "pucker-lips", "Oral commissure towards the midline", "movement",
                movement=_pucker),
    MeasureSpec("lower-lip-pucker", "pucker-lips", "Lower lip below the pupils, lips puckered", "position",
                _lower_lip_drop),
)  # fmt: skip
"""Every measure, in protocol order. The puff-cheeks still has none: cheek volume is not
seen in the landmarks of one frontal still."""


class FacialMeasure(BaseModel):
    """One measure of one still, left vs right (the patient's sides).

    Attributes:
        code: The measure (:data:`MEASURES`).
        step: The protocol step of the still.
        title: What it is.
        unit: ``%`` (of the IPD; for ``closure``, of the resting eye opening closed) or
            ``deg`` (an angle).
        left: The patient's left side.
        right: The patient's right side.
        left_mm: ``left`` in millimetre-equivalents (lengths only).
        right_mm: ``right`` in millimetre-equivalents.
        percent_of_normal: The affected side's value over the other's in % (movements
            and closures; ``None`` for positions and angles, and where neither side moved
            more than :data:`MIN_MOVEMENT`).
        weaker: The side with the smaller movement or closure (``None`` when equal).
        note: :data:`~telemedroom.exams.NOT_A_DIAGNOSIS`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    step: str
    title: str
    unit: Unit
    left: float
    right: float
    left_mm: float | None = None
    right_mm: float | None = None
    percent_of_normal: Annotated[float, Field(ge=0)] | None = None
    weaker: Side | None = None
    note: str = NOT_A_DIAGNOSIS

    @property
    def difference(self) -> float:
        """``left - right``, in :attr:`unit`."""
        return self.left - self.right


class StillMeasurements(BaseModel):
    """The measures of one protocol still, with the points they were taken from.

    Attributes:
        step: The protocol step.
        points: :data:`MEASUREMENT_POINTS` in pixels of the still (for drawing them).
        ipd_px: The inter-pupillary distance in pixels.
        measures: The measures of this step (:data:`MEASURES`), those needing the rest
            still only when it was given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    points: dict[str, tuple[float, float]]
    ipd_px: float
    measures: list[FacialMeasure]


def _percent(affected: float, other: float) -> float | None:
    if other <= 0 and affected <= 0:
        return None
    if other <= 0:
        return 100.0
    return max(0.0, 100.0 * affected / other)


def _measure(
    spec: MeasureSpec, face: _Face, rest: _Face | None, *, affected: Side | None, ipd_mm: float
) -> FacialMeasure | None:
    values: dict[Side, float] = {}
    extra: dict[str, float | Side | None] = {}
    for side in ("left", "right"):
        if spec.kind == "movement":
            if rest is None or spec.movement is None:
                return None
            values[side] = spec.movement(face, rest, side)
        elif spec.kind == "closure":
            if rest is None or spec.side_value is None:
                return None
            open_at_rest = _fissure(rest, side)
            gap = spec.side_value(face, side)
            extra[f"{side}_mm"] = round(gap * ipd_mm, 2)
            values[side] = 100.0 * min(1.0, max(0.0, 1 - gap / open_at_rest)) if open_at_rest > 0 else 0.0
        else:
            assert spec.side_value is not None
            values[side] = spec.side_value(face, side)
    unit: Unit = "deg" if spec.kind == "angle" else "%"
    if spec.kind in ("position", "movement"):
        extra["left_mm"] = round(values["left"] * ipd_mm, 2)
        extra["right_mm"] = round(values["right"] * ipd_mm, 2)
        values = {side: 100.0 * value for side, value in values.items()}
    if spec.kind in ("movement", "closure"):
        left, right = max(0.0, values["left"]), max(0.0, values["right"])
        if max(left, right) >= MIN_MOVEMENT[spec.kind]:  # else nothing moved to compare
            if affected is not None:
                mine, other = (left, right) if affected == "left" else (right, left)
                percent = _percent(mine, other)
            else:
                percent = _percent(min(left, right), max(left, right))
            extra["percent_of_normal"] = None if percent is None else round(percent, 2)
            if not math.isclose(left, right, abs_tol=1e-9):
                extra["weaker"] = "left" if left < right else "right"
    return FacialMeasure(
        code=spec.code,
        step=spec.step,
        title=spec.title,
        unit=unit,
        left=round(values["left"], 3),
        right=round(values["right"], 3),
        **extra,  # type: ignore[arg-type]
    )


def measure_still(
    step: str,
    points: Mapping[str, Point],
    *,
    rest: Mapping[str, Point] | None = None,
    affected: Side | None = None,
    ipd_mm: float = ADULT_IPD_MM,
) -> StillMeasurements:
    """The measures of one protocol still from its landmarks (a measurement aid, not a diagnosis).

    Args:
        step: The protocol step the still shows (:data:`~telemedroom.exams.PROTOCOL`).
        points: :data:`MEASUREMENT_POINTS` in pixels (``FaceLandmarks.named()``).
        rest: The rest still's points, for the movements and closures.
        affected: The side the physician says is affected, if known.
        ipd_mm: The patient's inter-pupillary distance for the millimetre-equivalents.

    Raises:
        GradingError: A point is missing or not finite, or the pupils coincide.

    Examples:
        >>> rest = {"iris-right": (100, 100), "iris-left": (160, 100),
        ...         "brow-right": (100, 70), "brow-left": (160, 70),
        ...         "eye-right-upper": (100, 95), "eye-right-lower": (100, 105),
        ...         "eye-left-upper": (160, 95), "eye-left-lower": (160, 105),
        ...         "mouth-right": (110, 170), "mouth-left": (150, 170),
        ...         "lip-upper": (130, 162), "lip-lower": (130, 178),
        ...         "lower-lip-right": (120, 176), "lower-lip-left": (140, 176),
        ...         "ala-right": (118, 140), "ala-left": (142, 140)}
        >>> raised = {**rest, "brow-right": (100, 64), "brow-left": (160, 58)}   # right lifts 6 px, left 12
        >>> brow = measure_still("raise-eyebrows", raised, rest=rest).measures[0]
        >>> brow.code, brow.left, brow.right, brow.percent_of_normal, brow.weaker
        ('brow-excursion', 20.0, 10.0, 50.0, 'right')
    """
    face = _Face(points, step)
    before = _Face(rest, "rest") if rest is not None else None
    measures = [
        measured
        for spec in MEASURES
        if spec.step == step
        and (measured := _measure(spec, face, before, affected=affected, ipd_mm=ipd_mm)) is not None
    ]
    kept = {name: (round(x, 2), round(y, 2)) for name in MEASUREMENT_POINTS for x, y in [face._raw(name)]}
    return StillMeasurements(step=step, points=kept, ipd_px=round(face.ipd, 2), measures=measures)


def measure_protocol(
    stills: Mapping[str, Mapping[str, Point]],
    *,
    affected: Side | None = None,
    ipd_mm: float = ADULT_IPD_MM,
) -> dict[str, StillMeasurements]:
    """The measures of every protocol still given (``step -> points``), movements against ``rest``.

    Raises:
        GradingError: A point is missing or not finite.

    Examples:
        >>> measure_protocol({})
        {}
    """
    rest = stills.get("rest")
    return {
        step: measure_still(step, points, rest=rest, affected=affected, ipd_mm=ipd_mm)
        for step, points in stills.items()
    }
