"""benchmarks/bench_kiosk.py's cases stay valid: a tiny run checks what each case delivers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_kiosk.py"


async def test_kiosk_benchmark_cases_run_and_check_their_results() -> None:
    spec = importlib.util.spec_from_file_location("bench_kiosk", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_kiosk"] = bench
    spec.loader.exec_module(bench)
    made = bench.events(4)
    assert [event.type for event in made] == ["device_step", "reading", "device_step", "reading"]
    # the answer case asserts the kiosk sent both tracks and aiortc answered
    result = await bench.run(count=20, rounds=1, repeats=1)
    assert result["events"] == 20
    assert result["kiosk_events_s"] > 0
    assert result["bare_events_s"] > 0
    assert result["kiosk_answer_p50_ms"] > 0
    assert result["bare_answer_p50_ms"] > 0
