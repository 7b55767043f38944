"""The benchmark's cases stay valid (the timing itself runs with ``make bench``)."""

from __future__ import annotations

import importlib.util
import struct
import sys
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


async def test_ble_benchmark_cases_run_and_check_their_results() -> None:
    """A tiny run of benchmarks/bench_ble.py over the virtual radio (a fake radio only)."""
    spec = importlib.util.spec_from_file_location("bench_ble", BENCH.with_name("bench_ble.py"))
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_ble"] = bench  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(bench)
    result = await bench.run(indications=5, records=20, repeats=1)
    assert result["records"] == 20
    assert result["bare_p50_ms"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["transfer_s"] > 0
    assert result["transfer_bare_s"] > 0


SCHEDULING_BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_scheduling.py"


async def test_scheduling_benchmark_baseline_expands_what_the_scheduler_uses() -> None:
    from datetime import timedelta

    from telemedroom.scheduling import Scheduler, SqliteStore
    from telemedroom.scheduling._availability import openings

    spec = importlib.util.spec_from_file_location("bench_scheduling", SCHEDULING_BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    resources = bench.make_resources(50)
    assert len(resources) == 50
    assert sum(r.kind == "room" for r in resources) == 25
    weeks = bench.week_starts(26)
    assert len(set(weeks)) == 26
    assert all(w.weekday() == 0 for w in weeks)
    monday = weeks[5]
    end = monday + timedelta(days=7)
    # same rules, same week: the raw dateutil baseline expands exactly the openings we use
    ours = sum(len(openings(r, monday, end)) for r in resources)
    assert ours == bench.baseline_expand(bench.baseline_rules(resources), monday, end) > 0
    async with SqliteStore(":memory:") as store:
        scheduler = Scheduler(store, resources, clock=lambda: bench.NOW)
        slots = await scheduler.find_slots(bench.GP, monday, end)
    assert len(slots) == 5 * 24  # 08:00-18:00 in 25-minute steps, Monday to Friday


def test_monitor_benchmark_sides_raise_the_same_alerts() -> None:
    spec = importlib.util.spec_from_file_location("bench_monitor", BENCH.with_name("bench_monitor.py"))
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    evaluated, expected = bench.check_cases(300)
    assert evaluated == expected > 0  # the series crosses the limits: both sides have work to do


async def test_session_benchmark_cases_run_and_check_their_results() -> None:
    """A tiny run of benchmarks/bench_session.py (the console case needs Debian's chromium)."""
    spec = importlib.util.spec_from_file_location("bench_session", BENCH.with_name("bench_session.py"))
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_session"] = bench
    spec.loader.exec_module(bench)
    result = await bench.run(repeats=1, readings=2, connections=3, pings=2)
    assert result["first_frame_ms"] > 0
    assert result["first_frame_prepared_ms"] > 0
    assert result["first_frame_bare_ms"] > 0
    assert result["console"] is None or 0 < result["console"]["dom_p50_ms"] <= result["console"]["dom_p99_ms"]
    for server in ("signaling", "echo"):
        assert result[server]["held_kib"] > 0
        assert 0 < result[server]["rtt_p50_ms"] <= result[server]["rtt_p99_ms"]


async def test_room_benchmark_visits_write_what_they_claim(tmp_path: Path) -> None:
    """One visit of each side of benchmarks/bench_room.py (the CPU window runs only in make bench)."""
    spec = importlib.util.spec_from_file_location("bench_room", BENCH.with_name("bench_room.py"))
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_room"] = bench
    spec.loader.exec_module(bench)
    # each virtual device is the kind the room looks for, in the same order
    services = [device.service for device in bench.devices()]
    assert services == [bench.DEVICE_GUIDE[kind].service for kind in bench.KINDS]
    room_wall, room_cpu, room_files = await bench.visit_room(tmp_path / "room")
    bare_wall, bare_cpu, bare_files = await bench.visit_bare(tmp_path / "bare")
    bench.check_files({"room": room_files, "bare": bare_files})
    assert room_wall > 0
    assert bare_wall > 0
    assert room_cpu > 0
    assert bare_cpu > 0
    assert "| visit check-in -> FHIR written, wall" in bench.table(
        {"room_wall": room_wall, "room_cpu": room_cpu, "bare_wall": bare_wall, "bare_cpu": bare_cpu},
        {"room": 0.1, "bare": 0.1},
        1,
        1.0,
    )


def test_demo_benchmark_commands_are_valid() -> None:
    """benchmarks/bench_demo.py: its baseline imports and the demo's command line both work."""
    spec = importlib.util.spec_from_file_location("bench_demo", BENCH.with_name("bench_demo.py"))
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.DEMO[-2:] == ["telemedroom", "demo"]
    bench.check_cases()


async def test_booking_benchmark_books_through_the_page_without_double_booking(
    tmp_path: Path, monkeypatch: object, capsys: object
) -> None:
    """A tiny run of benchmarks/bench_booking.py's race (its own check raises on a double booking)."""
    sys.path.insert(0, str(BENCH.parent))  # bench_booking imports bench_scheduling
    try:
        spec = importlib.util.spec_from_file_location("bench_booking", BENCH.with_name("bench_booking.py"))
        assert spec is not None
        assert spec.loader is not None
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        await bench.bench_residents("SQLite", lambda: f"sqlite:///{tmp_path / 'race.sqlite'}", 6)
    finally:
        sys.path.remove(str(BENCH.parent))
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "| SQLite | 6 | 6 |" in out  # every resident booked (the warm-up not counted)
