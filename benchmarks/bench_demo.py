"""``telemedroom demo`` as ``make demo`` runs it, on two cores: wall time and CPU per run.

The issue's budget: ``make demo`` finishes in under two minutes on a 2-core machine.
This runs the command the Makefile runs (``python -m telemedroom demo``, a new process
each time, its own data directory) pinned to two CPUs (the benchmark pins itself with
``sched_setaffinity``; children inherit it), and reports wall time and CPU seconds
(user + system of the child) per run.

Baseline, same run, same two CPUs: a process that only imports what the demo imports
(the interpreter, telemedroom, aiortc, bumble, uvicorn, rich, typer) and exits. The
ratio says how much of the demo is the visit itself rather than starting Python.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_demo.py [--runs N]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

BUDGET_S = 120.0
DEMO = [sys.executable, "-m", "telemedroom", "demo"]
# What the demo imports before its first line of output, in one process that then exits.
IMPORTS = (
    "import telemedroom.cli, telemedroom._cli._demo, telemedroom.room, telemedroom.testing, "
    "telemedroom.session.peer, telemedroom.session.signaling, telemedroom.devices.ble, bumble, aiortc"
)
BASELINE = [sys.executable, "-c", IMPORTS]


def _pin(cpus: int = 2) -> set[int]:
    available = sorted(os.sched_getaffinity(0))
    chosen = set(available[:cpus])
    os.sched_setaffinity(0, chosen)
    return chosen


def _timed(argv: list[str], *, data_dir: str | None = None) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    args = argv + (["--data-dir", data_dir] if data_dir else [])
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def check_cases() -> None:
    """The baseline imports succeed and the demo's command line is one the CLI accepts."""
    subprocess.run(BASELINE, check=True, timeout=120)
    subprocess.run([*DEMO, "--help"], check=True, capture_output=True, timeout=120)


def run(runs: int) -> dict[str, float]:
    """Alternate baseline and demo ``runs`` times each; medians."""
    walls: dict[str, list[float]] = {"demo": [], "baseline": []}
    cpus: dict[str, list[float]] = {"demo": [], "baseline": []}
    for _ in range(runs):
        wall, cpu, _out = _timed(BASELINE)
        walls["baseline"].append(wall)
        cpus["baseline"].append(cpu)
        with tempfile.TemporaryDirectory() as folder:
            wall, cpu, out = _timed(DEMO, data_dir=folder)
        if "audit chain verified" not in out:
            raise SystemExit(f"the demo did not finish its visit:\n{out}")
        walls["demo"].append(wall)
        cpus["demo"].append(cpu)
    return {
        "demo_wall_s": statistics.median(walls["demo"]),
        "demo_cpu_s": statistics.median(cpus["demo"]),
        "baseline_wall_s": statistics.median(walls["baseline"]),
        "baseline_cpu_s": statistics.median(cpus["baseline"]),
        "demo_max_wall_s": max(walls["demo"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cpus = _pin(2)
    check_cases()
    result = run(args.runs)
    print(f"# bench_demo: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, CPUs {sorted(cpus)}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {args.runs} runs each, medians\n")
    print("| case | wall s | CPU s | wall ratio to baseline |")
    print("|---|---|---|---|")
    base_wall, base_cpu = result["baseline_wall_s"], result["baseline_cpu_s"]
    print(f"| baseline: import only | {base_wall:.2f} | {base_cpu:.2f} | 1.00x |")
    ratio = result["demo_wall_s"] / result["baseline_wall_s"]
    print(f"| `telemedroom demo` | {result['demo_wall_s']:.2f} | {result['demo_cpu_s']:.2f} | {ratio:.2f}x |")
    verdict = "met" if result["demo_max_wall_s"] < BUDGET_S else "MISSED"
    print(
        f"\nslowest demo run {result['demo_max_wall_s']:.2f} s; budget {BUDGET_S:.0f} s on 2 cores: {verdict}"
    )


if __name__ == "__main__":
    main()
