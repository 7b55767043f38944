"""The FHIR benchmark's cases stay valid (the timing itself runs with ``make bench``)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import UTC
from pathlib import Path

from fhir.resources.R4B.observation import Observation

from telemedroom.devices import gatt
from telemedroom.fhir import observation_json, to_observation

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_fhir.py"


def load_bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_fhir", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_fast_path_model_path_and_baseline_build_the_same_observation() -> None:
    bench = load_bench()
    assert len(bench.CASES) == 2  # type: ignore[attr-defined]
    for _name, reading in bench.CASES:  # type: ignore[attr-defined]
        decoded = gatt.decode(gatt.characteristic_of(reading), gatt.encode(reading), tz=UTC)
        assert decoded == reading
        baseline = Observation.model_validate(bench.baseline_template(reading)).model_dump_json()  # type: ignore[attr-defined]
        fast = json.loads(observation_json(decoded, patient=bench.PATIENT, received_at=bench.AT)[0])  # type: ignore[attr-defined]
        model = to_observation(decoded, patient=bench.PATIENT, received_at=bench.AT)  # type: ignore[attr-defined]
        assert Observation.model_validate(fast).model_dump_json() == baseline == model.model_dump_json()


def test_drain_case_delivers_every_reading(tmp_path: Path) -> None:
    bench = load_bench()
    seconds = asyncio.run(bench.drain_seconds(20, 8, tmp_path))  # type: ignore[attr-defined]
    assert seconds > 0
