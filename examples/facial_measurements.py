"""Facial measurements from protocol stills: landmarks, left vs right, FHIR (an aid, not a diagnosis).

Needs the `landmarks` extra (pip install 'telemedroom[landmarks]'). The face is the
astronaut portrait scikit-image ships (NASA, public domain), cropped; its "smile" is
made here by lifting the left mouth corner more than the right, a weak right side.
With --figure PATH it draws the landmarks the measurements use (the docs' figure).
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from telemedroom.exams import FaceMeshDetector, measure_images, measurement_entries

FACE = Path(__file__).parents[1] / "tests" / "exams" / "data" / "astronaut-face.png"


def lift(image: np.ndarray, corner: tuple[float, float], dx: float, dy: float) -> np.ndarray:
    """Move the picture around ``corner`` by (dx, dy), fading out: a mouth corner pulled in a smile."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    g = np.exp(-((xs - corner[0] - dx) ** 2 + (ys - corner[1] - dy) ** 2) / (2 * 45.0**2))
    return cv2.remap(image, xs - dx * g, ys - dy * g, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def figure(image: np.ndarray, points: dict[str, tuple[float, float]], path: str) -> None:
    """The face (zoomed on the measured part) with each point and its name, labels in two columns."""
    zoom, (x0, y0, x1, y1) = 2.0, (110, 170, 490, 470)
    canvas = cv2.resize(cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2BGR), None, fx=zoom, fy=zoom)
    canvas = cv2.copyMakeBorder(canvas, 0, 0, 190, 190, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    ink, dot = (51, 36, 29), (79, 213, 255)
    columns: dict[str, list[tuple[float, str, tuple[int, int]]]] = {"right": [], "left": []}
    for name, (x, y) in points.items():
        at = (round((x - x0) * zoom) + 190, round((y - y0) * zoom))
        columns["right" if "right" in name else "left"].append((at[1], name, at))
    for side, items in columns.items():
        last = -100.0
        for y, name, at in sorted(items):
            y = max(y, last + 24)
            last = y
            tx = 8 if side == "right" else canvas.shape[1] - 182
            anchor = (tx + 170, round(y)) if side == "right" else (tx - 4, round(y))
            cv2.line(canvas, anchor, at, ink, 1, cv2.LINE_AA)
            cv2.putText(canvas, name, (tx, round(y) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.55, ink, 1, cv2.LINE_AA)
        for _, _, at in items:
            cv2.circle(canvas, at, 6, dot, -1, cv2.LINE_AA)
            cv2.circle(canvas, at, 6, ink, 1, cv2.LINE_AA)
    cv2.imwrite(path, canvas)


def main() -> None:
    detector = FaceMeshDetector()
    rest = cv2.resize(cv2.cvtColor(cv2.imread(str(FACE)), cv2.COLOR_BGR2RGB), None, fx=3, fy=3)
    face = detector.detect(rest)
    print(f"model: {detector.model.name} {detector.model.version}")
    pose = f"head turned {face.yaw:.0f} deg, tipped {face.pitch:.0f} deg"
    print(f"rest: pupils {face.ipd_px:.0f} px apart, {pose}")
    smile = lift(rest, face.point("mouth-left"), 9, -12)  # the patient's left: 15 px
    smile = lift(smile, face.point("mouth-right"), -2, -3)  # the right: 3.6 px

    results, problems = measure_images(
        [("rest", png(rest)), ("smile-with-teeth", png(smile)), ("pucker-lips", png(np.zeros_like(rest)))],
        detector=detector,
    )
    for step, measured in results.items():
        for m in measured.measures:
            ratio = (
                f", {m.percent_of_normal:.0f} % of normal, weaker {m.weaker}" if m.percent_of_normal else ""
            )
            print(f"{step:17} {m.code:24} left {m.left:6.1f} {m.unit:3} right {m.right:6.1f} {m.unit}{ratio}")
    for step, problem in problems.items():
        print(f"{step}: not measured ({type(problem).__name__})")

    taken = datetime(2026, 12, 3, 10, tzinfo=UTC)
    entries = measurement_entries(
        results,
        model=detector.model,
        patient="Patient/p1",
        encounter="Encounter/e1",
        media={"rest": ("Media/rest", taken), "smile-with-teeth": ("Media/smile", taken)},
    )
    kinds = [e["resource"]["resourceType"] for e in entries]
    print(f"FHIR: {kinds.count('Device')} Device, {kinds.count('Observation')} Observations")
    print(entries[1]["resource"]["note"][0]["text"])

    if len(sys.argv) == 3 and sys.argv[1] == "--figure":
        figure(rest, results["rest"].points, sys.argv[2])
        print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
