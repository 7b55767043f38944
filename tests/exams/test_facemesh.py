"""The face-mesh detector and the measurements on a real face with synthetic palsy of known size.

The face is a crop of ``skimage.data.astronaut()`` (NASA portrait of Eileen Collins,
public domain), stored as ``data/astronaut-face.png`` and enlarged 3x (pupils ~129 px
apart, as an exam camera at arm's length gives). Palsy is made by smooth image warps
whose displacement of every landmark is known exactly (each warp is inverted point by
point below), so each measured change is compared with the true one. The mesh is a
learned model: it follows the warp closely but not perfectly, hence the stated
tolerances, in % of the inter-pupillary distance (IPD; 1 % ~ 0.6 mm).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

import pytest
from tests._system import missing_system_part

from telemedroom import errors
from telemedroom.exams import (
    LANDMARKS,
    FaceMeshDetector,
    measure_images,
    measure_still,
    symmetry_metrics,
)

FACE = Path(__file__).parent / "data" / "astronaut-face.png"
ZOOM = 3

# Stated tolerances (% of the IPD) of a measured change against the warp's true change.
POSITION_TOLERANCE = 2.0
MOVEMENT_TOLERANCE = 3.0
# The same face mirrored, scaled or tilted: the mesh lands within this (% of the IPD, ~1.9 mm).
# On given landmarks the geometry is exact (tests/exams/test_measures.py).
REPEATABILITY = 3.0

Points = dict[str, tuple[float, float]]


@pytest.fixture(scope="module")
def detector() -> FaceMeshDetector:
    try:
        return FaceMeshDetector()
    except errors.MissingExtraError:
        missing_system_part("mediapipe is not installed (pip install 'telemedroom[landmarks]')")


@pytest.fixture(scope="module")
def cv2(detector: FaceMeshDetector) -> Any:
    return importlib.import_module("cv2")


@pytest.fixture(scope="module")
def np(detector: FaceMeshDetector) -> Any:
    return importlib.import_module("numpy")


@pytest.fixture(scope="module")
def photo(cv2: Any) -> Any:
    small = cv2.cvtColor(cv2.imread(str(FACE)), cv2.COLOR_BGR2RGB)
    return cv2.resize(small, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def rest(detector: FaceMeshDetector, photo: Any) -> Points:
    return detector.detect(photo).named()


def _gauss(np: Any, x: Any, y: Any, centre: tuple[float, float], sx: float, sy: float) -> Any:
    return np.exp(-((x - centre[0]) ** 2) / (2 * sx**2) - ((y - centre[1]) ** 2) / (2 * sy**2))


class Shift:
    """Moves the picture around ``centre`` by ``shift`` (full at the centre, fading as a Gaussian).

    The output pixel ``p`` shows the input at ``p - shift * g(p - (centre + shift))``, so the
    input point at ``centre`` lands exactly at ``centre + shift``; any other point's place
    is found by solving the same equation (:meth:`point`).
    """

    def __init__(self, centre: tuple[float, float], shift: tuple[float, float], sx: float, sy: float) -> None:
        self.target = (centre[0] + shift[0], centre[1] + shift[1])
        self.shift, self.sx, self.sy = shift, sx, sy

    def image(self, np: Any, cv2: Any, img: Any) -> Any:
        h, w = img.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        g = _gauss(np, xs, ys, self.target, self.sx, self.sy)
        mapx, mapy = xs - self.shift[0] * g, ys - self.shift[1] * g
        return cv2.remap(img, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)

    def point(self, q: tuple[float, float]) -> tuple[float, float]:
        p = q
        for _ in range(100):
            g = math.exp(
                -((p[0] - self.target[0]) ** 2) / (2 * self.sx**2)
                - ((p[1] - self.target[1]) ** 2) / (2 * self.sy**2)
            )
            p = (q[0] + self.shift[0] * g, q[1] + self.shift[1] * g)
        return p


class Squash:
    """Scales the picture vertically by ``factor`` around ``centre``, fading out (narrows an eye)."""

    def __init__(self, centre: tuple[float, float], factor: float, sx: float, sy: float) -> None:
        self.centre, self.factor, self.sx, self.sy = centre, factor, sx, sy

    def _stretch(self, g: Any) -> Any:
        return 1 + (1 / self.factor - 1) * g

    def image(self, np: Any, cv2: Any, img: Any) -> Any:
        h, w = img.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        g = _gauss(np, xs, ys, self.centre, self.sx, self.sy)
        mapy = (self.centre[1] + (ys - self.centre[1]) * self._stretch(g)).astype(np.float32)
        return cv2.remap(img, xs, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)

    def point(self, q: tuple[float, float]) -> tuple[float, float]:
        y = q[1]
        for _ in range(200):
            g = math.exp(
                -((q[0] - self.centre[0]) ** 2) / (2 * self.sx**2)
                - ((y - self.centre[1]) ** 2) / (2 * self.sy**2)
            )
            y = self.centre[1] + (q[1] - self.centre[1]) / self._stretch(g)
        return (q[0], y)


Warp = Shift | Squash


def warped(np: Any, cv2: Any, img: Any, *warps: Warp) -> Any:
    for warp in warps:
        img = warp.image(np, cv2, img)
    return img


def truth(points: Points, *warps: Warp) -> Points:
    out = dict(points)
    for warp in warps:
        out = {name: warp.point(p) for name, p in out.items()}
    return out


def value(measured: Any, code: str) -> Any:
    return next(m for m in measured.measures if m.code == code)


def measured_and_true(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points, step: str, *warps: Warp
) -> tuple[Any, Any]:
    image = warped(np, cv2, photo, *warps)
    base = rest if step != "rest" else None
    if step == "rest":
        found = detector.detect(image).named()
        return measure_still("rest", found), measure_still("rest", truth(rest, *warps))
    found = detector.detect(image).named()
    return measure_still(step, found, rest=base), measure_still(step, truth(rest, *warps), rest=base)


# -- the unwarped face ---------------------------------------------------------------------


def test_the_unwarped_face_reads_near_symmetric(detector: FaceMeshDetector, photo: Any, rest: Points) -> None:
    measured = measure_still("rest", rest)
    assert 120 < measured.ipd_px < 140  # ~43 px in the 512 px original, enlarged 3x
    for measure in measured.measures:
        assert abs(measure.difference) < 3.0, measure  # % of the IPD, ~2 mm
    # the patient's right is on the image's left in an unmirrored still
    assert rest["iris-right"][0] < rest["iris-left"][0]
    assert rest["mouth-right"][0] < rest["mouth-left"][0]


def test_encoded_stills_give_the_same_landmarks_as_arrays(
    detector: FaceMeshDetector, cv2: Any, photo: Any, rest: Points
) -> None:
    ok, png = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    assert ok
    again = detector.detect(png.tobytes()).named()
    assert max(math.dist(again[n], rest[n]) for n in rest) < 0.01
    # the LandmarkDetector protocol: the ten named points, which the older metrics take
    named = detector(png.tobytes(), "image/png")
    assert named is not None
    assert set(named) == set(LANDMARKS)
    assert symmetry_metrics(named).eye_opening > 0.9


# -- synthetic palsy of known size ---------------------------------------------------------


@pytest.mark.parametrize("ks", [(0, 4, 8, 12, 16)])
def test_a_drooping_mouth_corner_is_found_on_its_side_and_grows_with_k(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points, ks: tuple[int, ...]
) -> None:
    ipd = math.dist(rest["iris-left"], rest["iris-right"])
    base = value(measure_still("rest", rest), "commissure-height-rest")
    drops = []
    for k in ks:
        warp = Shift(rest["mouth-left"], (0, k), 0.35 * ipd, 0.35 * ipd)
        measured, true = measured_and_true(detector, np, cv2, photo, rest, "rest", warp)
        got, want = value(measured, "commissure-height-rest"), value(true, "commissure-height-rest")
        # the left corner drops k pixels (the pupils a little too: the warp fades out)
        assert want.left - base.left == pytest.approx(100 * k / ipd, rel=0.1)
        assert got.left - base.left == pytest.approx(want.left - base.left, abs=POSITION_TOLERANCE)
        assert abs(got.right - base.right) < 1.5  # the other side stays
        drops.append(got.left - base.left)
    assert drops == sorted(drops)
    assert drops[-1] - drops[0] > 0.8 * 100 * (ks[-1] - ks[0]) / ipd


def test_a_lowered_brow_is_found_on_its_side_and_grows_with_k(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points
) -> None:
    ipd = math.dist(rest["iris-left"], rest["iris-right"])
    base = value(measure_still("rest", rest), "brow-height-rest")
    heights = []
    for k in (0, 4, 8, 12):
        warp = Shift(rest["brow-right"], (0, k), 0.5 * ipd, 0.15 * ipd)
        measured, true = measured_and_true(detector, np, cv2, photo, rest, "rest", warp)
        got, want = value(measured, "brow-height-rest"), value(true, "brow-height-rest")
        assert want.right < base.right or k == 0
        assert got.right - base.right == pytest.approx(want.right - base.right, abs=POSITION_TOLERANCE)
        assert abs(got.left - base.left) < 1.5
        heights.append(got.right)
    assert heights == sorted(heights, reverse=True)


def test_a_narrowed_eye_is_found_on_its_side(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points
) -> None:
    ipd = math.dist(rest["iris-left"], rest["iris-right"])
    upper, lower = rest["eye-left-upper"], rest["eye-left-lower"]
    centre = ((upper[0] + lower[0]) / 2, (upper[1] + lower[1]) / 2)
    base = value(measure_still("rest", rest), "palpebral-fissure-rest")
    openings = []
    for factor in (1.0, 0.8, 0.6, 0.4):
        warp = Squash(centre, factor, 0.3 * ipd, 0.2 * ipd)
        measured, true = measured_and_true(detector, np, cv2, photo, rest, "rest", warp)
        got, want = value(measured, "palpebral-fissure-rest"), value(true, "palpebral-fissure-rest")
        assert want.left == pytest.approx(factor * base.left, rel=0.05)
        assert got.left == pytest.approx(want.left, abs=POSITION_TOLERANCE)
        assert got.right == pytest.approx(base.right, abs=1.0)
        openings.append(got.left)
    assert openings == sorted(openings, reverse=True)


def test_a_weak_smile_on_one_side_reads_as_its_percent_of_normal(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points
) -> None:
    ipd = math.dist(rest["iris-left"], rest["iris-right"])
    full = (8.0, -12.0)  # the healthy left corner: out and up, 14.4 px
    excursions = []
    for k in (0, 4, 8, 12):
        part = (12 - k) / 12
        warps = (
            Shift(rest["mouth-left"], full, 0.35 * ipd, 0.35 * ipd),
            Shift(rest["mouth-right"], (-full[0] * part, full[1] * part), 0.35 * ipd, 0.35 * ipd),
        )
        measured, true = measured_and_true(detector, np, cv2, photo, rest, "smile-with-teeth", *warps)
        got, want = value(measured, "commissure-excursion"), value(true, "commissure-excursion")
        # the right corner's true excursion: its own warp, plus a little of the left one's
        assert want.right == pytest.approx(100 * math.hypot(*full) * part / ipd, abs=1.0)
        assert got.left == pytest.approx(want.left, abs=MOVEMENT_TOLERANCE)
        assert got.right == pytest.approx(want.right, abs=MOVEMENT_TOLERANCE)
        if k >= 8:
            assert got.weaker == "right"
            assert got.percent_of_normal is not None
            assert want.percent_of_normal is not None
            # a ratio of two ~15 %-of-IPD excursions, each within MOVEMENT_TOLERANCE
            assert got.percent_of_normal == pytest.approx(want.percent_of_normal, abs=25)
        excursions.append(got.right)
        angle = value(measured, "smile-angle")
        assert angle.unit == "deg"
    assert excursions == sorted(excursions, reverse=True)
    # the physician names the affected side: the percentage is that side's over the other
    found = detector.detect(warped(np, cv2, photo, *warps)).named()
    named = measure_still("smile-with-teeth", found, rest=rest, affected="right")
    assert value(named, "commissure-excursion").percent_of_normal == got.percent_of_normal


def test_raised_brows_with_one_side_weaker(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points
) -> None:
    ipd = math.dist(rest["iris-left"], rest["iris-right"])
    warps = (
        Shift(rest["brow-left"], (0, -12), 0.5 * ipd, 0.15 * ipd),
        Shift(rest["brow-right"], (0, -4), 0.5 * ipd, 0.15 * ipd),
    )
    measured, true = measured_and_true(detector, np, cv2, photo, rest, "raise-eyebrows", *warps)
    got, want = value(measured, "brow-excursion"), value(true, "brow-excursion")
    assert got.left == pytest.approx(want.left, abs=MOVEMENT_TOLERANCE)
    assert got.right == pytest.approx(want.right, abs=MOVEMENT_TOLERANCE)
    assert got.weaker == "right"


# -- what must not change the numbers ------------------------------------------------------


def test_mirroring_swaps_left_and_right(
    detector: FaceMeshDetector, np: Any, photo: Any, rest: Points
) -> None:
    straight = measure_still("rest", rest)
    mirrored = measure_still("rest", detector.detect(np.ascontiguousarray(photo[:, ::-1])).named())
    for a, b in zip(straight.measures, mirrored.measures, strict=True):
        assert a.code == b.code
        assert b.left == pytest.approx(a.right, abs=REPEATABILITY), a.code
        assert b.right == pytest.approx(a.left, abs=REPEATABILITY), a.code


@pytest.mark.parametrize(("scale", "degrees"), [(0.6, 0), (1.4, 0), (1.0, 8), (1.0, -8), (0.8, 5)])
def test_scale_and_a_small_tilt_leave_the_values(
    detector: FaceMeshDetector, cv2: Any, photo: Any, rest: Points, scale: float, degrees: float
) -> None:
    h, w = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    moved = cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    straight = measure_still("rest", rest)
    again = measure_still("rest", detector.detect(moved).named())
    assert again.ipd_px == pytest.approx(straight.ipd_px * scale, rel=0.03)
    for a, b in zip(straight.measures, again.measures, strict=True):
        assert b.left == pytest.approx(a.left, abs=REPEATABILITY), a.code
        assert b.right == pytest.approx(a.right, abs=REPEATABILITY), a.code


# -- stills that cannot be measured --------------------------------------------------------


def test_no_face_several_faces_too_small_turned_and_garbage_are_typed_errors(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any
) -> None:
    with pytest.raises(errors.NoFaceFound):
        detector.detect(np.zeros_like(photo), step="rest")
    with pytest.raises(errors.NoFaceFound):
        detector.detect(np.full_like(photo, 255))
    with pytest.raises(errors.SeveralFacesFound) as several:
        detector.detect(np.concatenate([photo, photo], axis=1))
    assert several.value.faces == 2
    small = cv2.resize(photo, None, fx=1 / ZOOM, fy=1 / ZOOM, interpolation=cv2.INTER_AREA)
    with pytest.raises(errors.FaceTooSmall) as tiny:
        detector.detect(small, step="smile-with-teeth")
    assert 35 < tiny.value.ipd_px < 60
    assert tiny.value.step == "smile-with-teeth"
    # the photo's head is tipped ~10 degrees: over a limit of 5 it is refused
    with pytest.raises(errors.FaceTurned) as turned:
        FaceMeshDetector(max_turn_deg=5).detect(photo)
    assert abs(turned.value.pitch) > 5
    with pytest.raises(errors.FaceNotMeasurable, match="cannot be decoded"):
        detector.detect(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(errors.FaceNotMeasurable, match="RGB"):
        detector.detect(np.zeros((10, 10), dtype=np.uint8))
    assert detector(cv2.imencode(".png", np.zeros_like(photo))[1].tobytes(), "image/png") is None


def test_a_protocol_is_measured_still_by_still_and_a_bad_still_says_why(
    detector: FaceMeshDetector, np: Any, cv2: Any, photo: Any, rest: Points
) -> None:
    ipd = math.dist(rest["iris-left"], rest["iris-right"])

    def png(img: Any) -> bytes:
        return bytes(cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes())

    smile = warped(np, cv2, photo, Shift(rest["mouth-left"], (8, -12), 0.35 * ipd, 0.35 * ipd))
    results, problems = measure_images(
        [("rest", png(photo)), ("smile-with-teeth", png(smile)), ("pucker-lips", png(np.zeros_like(photo)))],
        detector=detector,
    )
    assert set(results) == {"rest", "smile-with-teeth"}
    assert isinstance(problems["pucker-lips"], errors.NoFaceFound)
    excursion = value(results["smile-with-teeth"], "commissure-excursion")
    assert excursion.weaker == "right"  # only the left corner moved
    assert excursion.left > 8
    assert detector.model.version == "0.10.14"
    assert len(detector.model.sha256) == 64


def test_a_missing_landmarks_extra_says_how_to_install_it() -> None:
    from telemedroom.exams import _facemesh

    with pytest.raises(errors.MissingExtraError, match=r"pip install 'telemedroom\[landmarks\]'"):
        _facemesh._import("telemedroom_no_such_module")
