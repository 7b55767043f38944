"""Facial measurements per still and per protocol, next to the bare MediaPipe face-mesh call.

The still is a real face (the astronaut crop of tests/exams/data, enlarged to fill a
1280x960 exam still, pupils ~200 px apart). Timed in the same run, pinned to one core:

- *bare mediapipe*: ``FaceMesh(static_image_mode=True, refine_landmarks=True).process(rgb)``
  on the decoded array, one face asked for: the least any use of the model costs.
- *landmarks + measures (array)*: ``FaceMeshDetector.detect(rgb)`` (up to 3 faces looked
  for, so two faces are refused; size and pose checks) and ``measure_still`` against rest.
- *landmarks + measures (PNG)*: the same from the PNG bytes the camera gives (decoding included).
- *8-step protocol (PNG)*: ``measure_images`` of the eight stills.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_face.py [--quick]``); needs the
``landmarks`` extra. Prints a Markdown table; copy it into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import mediapipe
import numpy as np
from mediapipe.python.solutions import face_mesh

from telemedroom.exams import PROTOCOL, FaceMeshDetector, measure_images, measure_still

FACE = Path(__file__).parents[1] / "tests" / "exams" / "data" / "astronaut-face.png"


def still() -> Any:
    small = cv2.cvtColor(cv2.imread(str(FACE)), cv2.COLOR_BGR2RGB)
    face = cv2.resize(small, (960, 960), interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(face, 0, 0, 160, 160, cv2.BORDER_REFLECT)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm: the graph is built on the first call
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 30
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rgb = still()
    png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    detector = FaceMeshDetector()
    rest = detector.detect(rgb).named()
    bare_mesh = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)

    def bare() -> object:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")
            result = bare_mesh.process(rgb)
        assert result.multi_face_landmarks
        return result

    def ours_array() -> object:
        return measure_still("smile-with-teeth", detector.detect(rgb).named(), rest=rest)

    def ours_png() -> object:
        return measure_still("smile-with-teeth", detector.detect(png).named(), rest=rest)

    protocol = [(s.code, png) for s in PROTOCOL]

    def whole() -> object:
        results, problems = measure_images(protocol, detector=detector)
        assert len(results) == 8
        assert not problems
        return results

    cases = [
        ("bare mediapipe FaceMesh.process (array)", bare),
        ("landmarks + measures (array)", ours_array),
        ("landmarks + measures (PNG bytes)", ours_png),
        ("8-step protocol (8 PNG stills)", whole),
    ]
    timings = {name: timed(fn, repeats) for name, fn in cases}
    base = timings[cases[0][0]][1]
    print(
        f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, "
        f"mediapipe {mediapipe.__version__}, numpy {np.__version__}, one core, "
        f"still {rgb.shape[1]}x{rgb.shape[0]}, IPD {detector.detect(rgb).ipd_px:.0f} px, "
        f"{repeats} repeats"
    )
    print()
    print("| case | best ms | median ms | median vs bare |")
    print("|---|---:|---:|---:|")
    for name, (best, median) in timings.items():
        print(f"| {name} | {best * 1000:.1f} | {median * 1000:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
