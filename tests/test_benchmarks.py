"""The benchmark's cases stay valid (the timing itself runs with ``make bench``)."""

from __future__ import annotations

import importlib.util
import struct
from datetime import UTC
from pathlib import Path

from telemedroom.devices import gatt

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_decode.py"


def test_benchmark_layouts_match_the_records_they_time() -> None:
    spec = importlib.util.spec_from_file_location("bench_decode", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert len(bench.CASES) == 7
    for _name, reading, layout in bench.CASES:
        data = gatt.encode(reading)
        assert struct.calcsize(layout) == len(data)
        assert gatt.decode(gatt.characteristic_of(reading), data, tz=UTC) == reading


def test_media_benchmark_cases_produce_what_they_time() -> None:
    spec = importlib.util.spec_from_file_location("bench_media", BENCH.with_name("bench_media.py"))
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.SIZES == [(1280, 720), (1920, 1080)]
    assert bench.IMAGE_FORMATS == ["png", "jpeg"]
    bench.check_cases()  # asserts frame sizes, formats, and that each snapshot decodes back
