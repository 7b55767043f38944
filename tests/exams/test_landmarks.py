"""Landmark symmetry metrics (the objective aid, not a diagnosis): geometry on given landmarks.

No detector runs here (tests/exams/test_facemesh.py runs the real one); these tests check
the geometry a detector's landmarks go through, with faces drawn as coordinates.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import errors
from telemedroom.exams import LANDMARKS, NOT_A_DIAGNOSIS, symmetry_metrics

# A symmetric face, the patient's left on the image's right (an unmirrored camera).
FACE = {
    "eye-right-inner": (90.0, 100.0),
    "eye-left-inner": (110.0, 100.0),
    "eye-right-upper": (70.0, 95.0),
    "eye-right-lower": (70.0, 105.0),
    "eye-left-upper": (130.0, 95.0),
    "eye-left-lower": (130.0, 105.0),
    "brow-right": (70.0, 75.0),
    "brow-left": (130.0, 75.0),
    "mouth-right": (80.0, 160.0),
    "mouth-left": (120.0, 160.0),
}


def moved(
    face: dict[str, tuple[float, float]], **shifts: tuple[float, float]
) -> dict[str, tuple[float, float]]:
    out = dict(face)
    for name, (dx, dy) in shifts.items():
        key = name.replace("_", "-")
        out[key] = (face[key][0] + dx, face[key][1] + dy)
    return out


def transformed(
    face: dict[str, tuple[float, float]], angle: float, scale: float, dx: float, dy: float
) -> dict[str, tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return {k: (scale * (c * x - s * y) + dx, scale * (s * x + c * y) + dy) for k, (x, y) in face.items()}


def test_a_symmetric_face_is_one_everywhere_and_says_it_is_no_diagnosis() -> None:
    assert set(FACE) == set(LANDMARKS)
    metrics = symmetry_metrics(FACE, rest=FACE)
    assert metrics.note == NOT_A_DIAGNOSIS
    assert (metrics.eyebrow_height, metrics.eye_opening, metrics.mouth_corner_excursion) == (1.0, 1.0, 1.0)
    assert set(metrics.weaker.values()) == {None}


def test_a_drooping_brow_a_wider_eye_and_a_weak_mouth_corner() -> None:
    # left brow 10 px above the lid instead of 20; left eye 15 px open instead of 10
    face = moved(FACE, brow_left=(0, 10), eye_left_lower=(0, 5))
    smile = moved(face, mouth_right=(-12, -8), mouth_left=(3, -4))  # right corner moves 14.4 px, left 5 px
    metrics = symmetry_metrics(smile, rest=face)
    assert metrics.eyebrow_height == 0.5
    assert metrics.weaker["eyebrow_height"] == "left"
    assert metrics.eye_opening == pytest.approx(10 / 15)
    assert metrics.weaker["eye_opening"] == "right"
    assert metrics.mouth_corner_excursion == pytest.approx(5 / math.hypot(12, 8), abs=1e-6)
    assert metrics.weaker["mouth_corner_excursion"] == "left"


@given(
    angle=st.floats(-0.5, 0.5),
    scale=st.floats(0.2, 5),
    dx=st.floats(-500, 500),
    dy=st.floats(-500, 500),
    droop=st.floats(0, 15),
)
def test_tilt_scale_position_and_mirroring_change_nothing(
    angle: float, scale: float, dx: float, dy: float, droop: float
) -> None:
    face = moved(FACE, brow_left=(0, droop))
    smile = moved(face, mouth_right=(-10, -6), mouth_left=(-2, -3))
    expected = symmetry_metrics(smile, rest=face)
    seen = symmetry_metrics(
        transformed(smile, angle, scale, dx, dy), rest=transformed(face, -angle, 1 / scale, dy, dx)
    )
    assert seen.eyebrow_height == pytest.approx(expected.eyebrow_height, abs=1e-5)
    assert seen.mouth_corner_excursion == pytest.approx(expected.mouth_corner_excursion, abs=1e-5)
    mirrored = {k: (-x, y) for k, (x, y) in smile.items()}  # a mirroring camera
    flipped = symmetry_metrics(mirrored, rest={k: (-x, y) for k, (x, y) in face.items()})
    assert flipped.eyebrow_height == pytest.approx(expected.eyebrow_height, abs=1e-6)
    assert flipped.weaker == expected.weaker


def test_missing_or_broken_landmarks_name_the_point() -> None:
    without = {k: v for k, v in FACE.items() if k != "mouth-left"}
    with pytest.raises(errors.GradingError, match=r"landmarks\.mouth-left"):
        symmetry_metrics(without)
    with pytest.raises(errors.GradingError, match="finite"):
        symmetry_metrics({**FACE, "brow-left": (math.nan, 3.0)})
    with pytest.raises(errors.GradingError, match="coincides"):
        symmetry_metrics({**FACE, "eye-left-inner": FACE["eye-right-inner"]})
