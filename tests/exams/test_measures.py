"""The measurements' geometry on given landmarks, and their FHIR Observations.

Faces are drawn as coordinates here (no detector), so the geometry's promises are exact:
mirroring swaps the sides, scale, position and tilt change nothing, the known movement
is measured. tests/exams/test_facemesh.py does the same on a real photo through the mesh.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import errors
from telemedroom.exams import (
    FACIAL_CODES,
    MEASUREMENT_POINTS,
    MEASURES,
    NOT_A_DIAGNOSIS,
    PROTOCOL,
    ModelInfo,
    measure_protocol,
    measure_still,
    measurement_entries,
)

Points = dict[str, tuple[float, float]]

# A symmetric face, unmirrored (the patient's right on the image's left), pupils 60 px apart.
REST: Points = {
    "iris-right": (100.0, 100.0),
    "iris-left": (160.0, 100.0),
    "brow-right": (100.0, 70.0),
    "brow-left": (160.0, 70.0),
    "eye-right-upper": (100.0, 95.0),
    "eye-right-lower": (100.0, 105.0),
    "eye-left-upper": (160.0, 95.0),
    "eye-left-lower": (160.0, 105.0),
    "mouth-right": (110.0, 170.0),
    "mouth-left": (150.0, 170.0),
    "lip-upper": (130.0, 162.0),
    "lip-lower": (130.0, 178.0),
    "lower-lip-right": (120.0, 176.0),
    "lower-lip-left": (140.0, 176.0),
    "ala-right": (118.0, 140.0),
    "ala-left": (142.0, 140.0),
}
SWAP = {name: name.replace("left", "@").replace("right", "left").replace("@", "right") for name in REST}


def moved(points: Points, **shifts: tuple[float, float]) -> Points:
    out = dict(points)
    for name, (dx, dy) in shifts.items():
        key = name.replace("_", "-")
        out[key] = (points[key][0] + dx, points[key][1] + dy)
    return out


def transformed(points: Points, angle: float, scale: float, dx: float, dy: float) -> Points:
    c, s = math.cos(angle), math.sin(angle)
    return {k: (scale * (c * x - s * y) + dx, scale * (s * x + c * y) + dy) for k, (x, y) in points.items()}


def mirrored(points: Points) -> Points:
    """The same face in a mirrored still: x flipped, so each side's point is the other's name."""
    return {SWAP[name]: (-x, y) for name, (x, y) in points.items()}


# A protocol with a weak right side: every movement of the right is a third of the left's.
STILLS: dict[str, Points] = {
    "rest": REST,
    "raise-eyebrows": moved(REST, brow_left=(0, -12), brow_right=(0, -4)),
    "close-eyes-gently": moved(REST, eye_left_upper=(0, 5), eye_right_upper=(0, 2)),
    "close-eyes-tightly": moved(REST, eye_left_upper=(0, 5), eye_left_lower=(0, -5), eye_right_upper=(0, 3)),
    "wrinkle-nose": moved(REST, ala_left=(0, -6), ala_right=(0, -2)),
    "smile-with-teeth": moved(REST, mouth_left=(9, -12), mouth_right=(-3, -4)),
    "pucker-lips": moved(REST, mouth_left=(-9, 0), mouth_right=(3, 0), lower_lip_right=(0, 3)),
}


def by_code(results: dict[str, object]) -> dict[str, object]:
    return {m.code: m for r in results.values() for m in r.measures}  # type: ignore[attr-defined]


def test_every_step_but_puff_cheeks_has_measures_and_each_says_it_is_no_diagnosis() -> None:
    steps = {spec.step for spec in MEASURES}
    assert steps == {s.code for s in PROTOCOL} - {"puff-cheeks"}
    assert set(REST) == set(MEASUREMENT_POINTS)
    measures = by_code(measure_protocol(STILLS))
    assert set(measures) == {spec.code for spec in MEASURES}
    assert all(m.note == NOT_A_DIAGNOSIS for m in measures.values())  # type: ignore[attr-defined]


def test_known_movements_are_measured_in_percent_of_the_ipd_and_of_normal() -> None:
    m = by_code(measure_protocol(STILLS))
    brow = m["brow-excursion"]
    assert (brow.left, brow.right, brow.weaker) == (20.0, pytest.approx(6.667, abs=1e-3), "right")
    assert brow.percent_of_normal == pytest.approx(33.33, abs=0.01)
    assert brow.left_mm == pytest.approx(12.6)  # 20 % of 63 mm
    gentle = m["eye-closure-gentle"]
    # left lid lowered 5 of 10 px: half closed, 5 px (of a 60 px = 63 mm IPD) left open
    assert (gentle.left, gentle.right) == (50.0, 20.0)
    assert gentle.left_mm == pytest.approx(5 / 60 * 63)
    assert gentle.weaker == "right"
    tight = m["eye-closure-tight"]
    assert tight.left == 100.0
    assert tight.left_mm == 0.0
    smile = m["commissure-excursion"]
    assert smile.left == pytest.approx(100 * 15 / 60, abs=1e-3)
    assert smile.right == pytest.approx(100 * 5 / 60, abs=1e-3)
    assert smile.percent_of_normal == pytest.approx(100 * 5 / 15, abs=0.01)
    angle = m["smile-angle"]
    assert angle.unit == "deg"
    assert angle.left == pytest.approx(math.degrees(math.atan2(12, 29)), abs=1e-3)
    assert m["ala-excursion"].left == pytest.approx(10.0)
    assert m["pucker-excursion"].left == pytest.approx(15.0)
    assert m["lower-lip-pucker"].right - m["lower-lip-pucker"].left == pytest.approx(5.0)
    assert m["commissure-height-rest"].difference == 0


def test_the_affected_side_named_by_the_physician_is_the_numerator() -> None:
    smile = measure_still("smile-with-teeth", STILLS["smile-with-teeth"], rest=REST, affected="left")
    assert smile.measures[0].percent_of_normal == pytest.approx(300.0)  # the left moved 3x the right


@given(
    angle=st.floats(-0.4, 0.4),
    scale=st.floats(0.3, 4),
    dx=st.floats(-400, 400),
    dy=st.floats(-400, 400),
    step=st.sampled_from(sorted(set(STILLS) - {"rest"})),
)
def test_scale_position_tilt_change_nothing_and_mirroring_swaps_exactly(
    angle: float, scale: float, dx: float, dy: float, step: str
) -> None:
    straight = measure_still(step, STILLS[step], rest=REST)
    # the rest still may be taken at another distance and tilt than the step's
    again = measure_still(
        step, transformed(STILLS[step], angle, scale, dx, dy), rest=transformed(REST, -angle / 2, 1.3, 5, 9)
    )
    flipped = measure_still(step, mirrored(STILLS[step]), rest=mirrored(REST))
    for a, b, f in zip(straight.measures, again.measures, flipped.measures, strict=True):
        assert b.left == pytest.approx(a.left, abs=2e-3)
        assert b.right == pytest.approx(a.right, abs=2e-3)
        assert (f.left, f.right) == pytest.approx((a.right, a.left), abs=2e-3)
        if a.weaker is not None and abs(a.left - a.right) > 0.01:
            assert f.weaker == {"left": "right", "right": "left"}[a.weaker]


@given(name=st.sampled_from(MEASUREMENT_POINTS), bad=st.sampled_from([None, (math.nan, 1.0), "x", (1.0,)]))
def test_missing_or_broken_points_are_grading_errors(name: str, bad: object) -> None:
    points: dict[str, object] = dict(REST)
    if bad is None:
        del points[name]
    else:
        points[name] = bad
    with pytest.raises(errors.GradingError) as caught:
        measure_still("rest", points)  # type: ignore[arg-type]
    assert caught.value.item == f"landmarks.{name}"


def test_coinciding_pupils_are_a_grading_error() -> None:
    with pytest.raises(errors.GradingError, match="coincides"):
        measure_still("rest", {**REST, "iris-left": REST["iris-right"]})


# -- FHIR ----------------------------------------------------------------------------------

MODEL = ModelInfo("MediaPipe face mesh (face_landmark_with_attention)", "0.10.14", "0" * 64)
TAKEN = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def test_each_measure_is_an_observation_from_its_still_in_a_valid_transaction() -> None:
    results = measure_protocol(STILLS)
    media = {step: (f"Media/m-{step}", TAKEN) for step in STILLS}
    entries = measurement_entries(
        results, model=MODEL, patient="Patient/p1", encounter="Encounter/e1", media=media
    )
    device, *observations = [e["resource"] for e in entries]
    assert device["resourceType"] == "Device"
    assert [v["value"] for v in device["version"]][1:] == [f"{MODEL.name} 0.10.14", "0" * 64]
    assert len(observations) == len(MEASURES)
    Bundle.model_validate({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    smile = next(o for o in observations if o["code"]["coding"][0]["code"] == "commissure-excursion")
    assert smile["code"]["coding"][0]["system"] == FACIAL_CODES
    assert smile["method"]["coding"][0]["code"] == "automated-image-analysis"
    assert smile["device"]["reference"] == f"Device/{device['id']}"
    assert smile["encounter"]["reference"] == "Encounter/e1"
    assert [d["reference"] for d in smile["derivedFrom"]] == ["Media/m-smile-with-teeth", "Media/m-rest"]
    assert smile["note"][0]["text"] == NOT_A_DIAGNOSIS
    parts = {c["code"]["coding"][0]["code"]: c for c in smile["component"]}
    assert parts["left-side"]["valueQuantity"] == {
        "value": 25.0,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    assert parts["percent-of-normal"]["valueQuantity"]["value"] == pytest.approx(33.33, abs=0.01)
    assert parts["weaker-side"]["valueCodeableConcept"]["coding"][0]["code"] == "24028007"  # right
    assert parts["left-side-mm"]["valueQuantity"]["code"] == "mm"
    rest_brow = next(o for o in observations if o["code"]["coding"][0]["code"] == "brow-height-rest")
    assert [d["reference"] for d in rest_brow["derivedFrom"]] == ["Media/m-rest"]
    # sent twice, the same ids: a re-sent wrap-up changes nothing
    again = measurement_entries(
        results, model=MODEL, patient="Patient/p1", encounter="Encounter/e1", media=media
    )
    assert [e["request"]["url"] for e in again] == [e["request"]["url"] for e in entries]


def test_a_step_without_its_media_or_a_naive_time_is_refused() -> None:
    results = measure_protocol({"rest": REST})
    with pytest.raises(errors.GradingError, match="no Media"):
        measurement_entries(results, model=MODEL, patient="Patient/p1", encounter="Encounter/e1", media={})
    with pytest.raises(errors.GradingError, match="timezone"):
        measurement_entries(
            results,
            model=MODEL,
            patient="Patient/p1",
            encounter="Encounter/e1",
            media={"rest": ("Media/m", datetime(2026, 12, 3, 9, 30))},
        )


def test_no_movement_gives_no_percent_of_normal_and_no_weaker_side() -> None:
    # the corners move 1 px and 1.5 px (under 3 % of a 60 px IPD): the landmarks' own scatter
    still = measure_still(
        "smile-with-teeth", moved(REST, mouth_left=(1, 0), mouth_right=(0, -1.5)), rest=REST
    )
    excursion = still.measures[0]
    assert excursion.code == "commissure-excursion"
    assert (excursion.percent_of_normal, excursion.weaker) == (None, None)
    assert excursion.left == pytest.approx(100 / 60, abs=1e-3)


finite = st.floats(-500, 500, allow_nan=False)


@given(
    left=finite,
    right=finite,
    mm=st.none() | st.tuples(finite, finite),
    percent=st.none() | st.floats(0, 1000),
    weaker=st.sampled_from([None, "left", "right"]),
    spec=st.sampled_from(MEASURES),
)
def test_any_measure_maps_to_a_valid_observation_that_keeps_its_values(
    left: float,
    right: float,
    mm: tuple[float, float] | None,
    percent: float | None,
    weaker: str | None,
    spec: object,
) -> None:
    from fhir.resources.R4B.observation import Observation

    from telemedroom.exams import FacialMeasure, measurement_observation

    measure = FacialMeasure(
        code=spec.code,  # type: ignore[attr-defined]
        step=spec.step,  # type: ignore[attr-defined]
        title=spec.title,  # type: ignore[attr-defined]
        unit="deg" if spec.kind == "angle" else "%",  # type: ignore[attr-defined]
        left=left,
        right=right,
        left_mm=mm[0] if mm else None,
        right_mm=mm[1] if mm else None,
        percent_of_normal=percent,
        weaker=weaker,  # type: ignore[arg-type]
    )
    obs = measurement_observation(
        measure,
        patient="Patient/p1",
        encounter="Encounter/e1",
        effective=TAKEN,
        media="Media/m",
        device="Device/d",
    )
    again = Observation.model_validate_json(obs.model_dump_json())
    parts = {c.code.coding[0].code: c for c in again.component}
    assert float(parts["left-side"].valueQuantity.value) == pytest.approx(left)
    assert float(parts["right-side"].valueQuantity.value) == pytest.approx(right)
    assert ("left-side-mm" in parts) == (mm is not None)
    assert ("percent-of-normal" in parts) == (percent is not None)
    assert ("weaker-side" in parts) == (weaker is not None)
    assert again.code.coding[0].code == spec.code  # type: ignore[attr-defined]
