"""Monitor throughput: readings through the care plan, next to a bare loop over floats.

A gateway may watch many health apartments, so the cost per reading matters. The
"telemedroom" column is ``Monitor.ingest`` on ready ``Measurement`` objects with a care
plan of a threshold rule (systolic, with hysteresis), a trend rule (weight within 3
days) and a missed-measurement rule, alerts going to a ``ListSink`` and an audit list.
The baseline, in the same run, evaluates the same threshold and trend rules in a plain
Python loop over the raw floats (no models, no events): the least any evaluator must do.
A third column times building the readings' pydantic models alone.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_monitor.py [--quick]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from telemedroom import BloodPressure, BodyWeight, Measurement
from telemedroom.monitoring import AuditRecord, CarePlan, ListSink, Monitor

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
PLAN = {
    "patient": "Patient/bench",
    "timezone": "Europe/Berlin",
    "care_team": "CareTeam/bench",
    "rules": [
        {"type": "threshold", "id": "sys", "measurement": "blood_pressure", "field": "systolic",
         "above": 180, "below": 90, "hysteresis": 5},
        {"type": "trend", "id": "gain", "measurement": "body_weight", "field": "value", "rise": 2,
         "within": "P3D", "hysteresis": 0.5},
        {"type": "missed", "id": "bp", "measurement": "blood_pressure", "due": "10:00"},
    ],
}  # fmt: skip


def series(count: int, seed: int = 7) -> list[tuple[datetime, float, float]]:
    """(time, systolic, weight) every 10 minutes: a random walk that crosses the limits."""
    rng = random.Random(seed)
    systolic, weight, out = 140.0, 80.0, []
    for i in range(count):
        systolic = min(230.0, max(70.0, systolic + rng.uniform(-8, 8)))
        weight = min(95.0, max(65.0, weight + rng.uniform(-0.3, 0.3)))
        out.append((T0 + timedelta(minutes=10 * i), round(systolic), round(weight, 1)))
    return out


def readings(points: list[tuple[datetime, float, float]]) -> list[Measurement]:
    result: list[Measurement] = []
    for at, systolic, weight in points:
        result.append(BloodPressure(systolic=systolic, diastolic=80, measured_at=at))
        result.append(BodyWeight(value=weight, measured_at=at))
    return result


def baseline(points: list[tuple[datetime, float, float]]) -> int:
    """The same threshold and trend rules on plain floats; returns the number of alerts."""
    alerts, sys_active, gain_active = 0, False, False
    times: list[float] = []
    weights: list[float] = []
    window = 3 * 86400.0
    for at, systolic, weight in points:
        if not sys_active and (systolic > 180 or systolic < 90):
            sys_active, alerts = True, alerts + 1
        elif sys_active and 95 <= systolic <= 175:
            sys_active = False
        t = at.timestamp()
        first = bisect.bisect_left(times, t - window)
        gained = weight - min([*weights[first:], weight])
        times.append(t)
        weights.append(weight)
        if not gain_active and gained > 2:
            gain_active, alerts = True, alerts + 1
        elif gain_active and gained <= 1.5:
            gain_active = False
    return alerts


async def monitored(items: list[Measurement], now: datetime) -> Monitor:
    audit: list[AuditRecord] = []
    monitor = Monitor(
        CarePlan.parse(PLAN), sinks=[ListSink()], audit=audit.append, clock=lambda: now, since=T0
    )
    for item in items:
        await monitor.ingest(item)
    await monitor.check(now)
    return monitor


def check_cases(count: int = 600) -> tuple[int, int]:
    """Both sides raise the same threshold and trend alerts on the benchmark's series."""
    points = series(count)
    monitor = asyncio.run(monitored(readings(points), points[-1][0]))
    evaluated = sum(1 for a in monitor.alerts if a.rule_type != "missed")
    expected = baseline(points)
    assert evaluated == expected, (evaluated, expected)
    return evaluated, expected


def best_of(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, repeat = (2_000, 3) if args.quick else (20_000, 5)
    points = series(count)
    items = readings(points)
    now = points[-1][0]
    alerts, _ = check_cases()
    t_monitor = best_of(repeat, lambda: asyncio.run(monitored(items, now)))
    t_base = best_of(repeat, lambda: baseline(points))
    t_models = best_of(repeat, lambda: readings(points))
    n = len(items)
    machine = f"{platform.python_implementation()} {sys.version.split()[0]} on {platform.machine()}"
    print(f"<!-- {machine}, {datetime.now(UTC):%Y-%m-%d}; {n} readings, best of {repeat}; "
          f"check: {alerts} alerts on both sides -->")  # fmt: skip
    print("| case | telemedroom | bare loop (same run) | ratio | models alone |")
    print("|---|---:|---:|---:|---:|")
    ours, bare, models = (t / n * 1e6 for t in (t_monitor, t_base, t_models))
    ratio = t_monitor / t_base
    cells = [f"{ours:.1f} µs/reading", f"{bare:.2f} µs/reading", f"{ratio:.0f}x", f"{models:.1f} µs/reading"]
    print(f"| Monitor.ingest, 3 rules | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
