"""Scheduling performance: slot search over a year of rules, and bookings under contention.

1. ``find_slots`` for a general-medicine service (a room and a practitioner) over 50
   resources with a year of weekday rules and holidays, one-week windows spread over
   the year, with 40% of the slots booked in the store. Baseline, same run: raw
   ``dateutil`` expansion of the same rules for the same week (pre-parsed ``rrule``
   objects, ``between()``), without conflicts, buffers or slot layout: the least any
   rule-based search must do.
2. Bookings per second with 32 clients racing over one pool of slots (each client its
   own connection), on SQLite and on PostgreSQL, against one client booking the same
   pool alone. Every slot ends up booked exactly once (checked).
3. Growth: warm ``find_slots`` time against the number of resources, and against the
   length of the window.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_scheduling.py [--quick]``).
PostgreSQL: set ``BENCH_POSTGRES_DSN``, or let the script start a throwaway server from
the Debian ``postgresql`` binaries (as the tests do); without either it is skipped.
Prints Markdown tables; copy them into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import pwd
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time as timer
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from telemedroom import errors
from telemedroom.scheduling import (
    AvailabilityRule,
    Closure,
    PostgresStore,
    Requirement,
    Resource,
    Scheduler,
    ScheduleStore,
    Service,
    Slot,
    SqliteStore,
)

BERLIN = ZoneInfo("Europe/Berlin")
YEAR = 2026
NOW = datetime(2025, 12, 31, tzinfo=UTC)
CLIENTS = 32

GP = Service(
    id="gp-20",
    name="General medicine consultation",
    duration=timedelta(minutes=20),
    buffer_after=timedelta(minutes=5),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="general")),
)
HOLIDAYS = tuple(
    Closure(start=d, end=d, reason="public holiday")
    for d in (date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1), date(2026, 10, 3))
)
# Practitioners alternate between full days and a split morning/afternoon week.
FULL = (
    AvailabilityRule(
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20261231T235959",
        starts=date(2026, 1, 1),
        opens=time(8),
        closes=time(18),
    ),
)
SPLIT = (
    AvailabilityRule(
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20261231T235959",
        starts=date(2026, 1, 1),
        opens=time(8),
        closes=time(12),
    ),
    AvailabilityRule(
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,TH;UNTIL=20261231T235959",
        starts=date(2026, 1, 1),
        opens=time(13),
        closes=time(18),
    ),
)


def make_resources(count: int) -> list[Resource]:
    """Half rooms, half practitioners, each with a year of rules and the holidays."""
    rooms = [
        Resource(id=f"room-{i}", kind="room", name=f"Room {i}", availability=FULL, closures=HOLIDAYS)
        for i in range(count // 2)
    ]
    doctors = [
        Resource(
            id=f"dr-{i}",
            kind="practitioner",
            name=f"Dr {i}",
            qualifications=frozenset({"general"}),
            availability=FULL if i % 2 else SPLIT,
            closures=HOLIDAYS,
        )
        for i in range(count - count // 2)
    ]
    return rooms + doctors


def week_starts(count: int, seed: int = 7) -> list[datetime]:
    """Monday 00:00 (Berlin) of ``count`` distinct weeks spread over the year."""
    mondays = [datetime(2026, 1, 5, tzinfo=BERLIN) + timedelta(weeks=w) for w in range(51)]
    return sorted(random.Random(seed).sample(mondays, min(count, len(mondays))))


def baseline_rules(resources: list[Resource]) -> list[rrule]:
    return [
        rrulestr(rule.rrule, dtstart=datetime.combine(rule.starts, rule.opens))  # type: ignore[misc]
        for resource in resources
        for rule in resource.availability
    ]


def baseline_expand(rules: list[rrule], start: datetime, end: datetime) -> int:
    """Raw dateutil: the openings of every rule in the window (local wall clock)."""
    a, b = start.astimezone(BERLIN).replace(tzinfo=None), end.astimezone(BERLIN).replace(tzinfo=None)
    return sum(len(r.between(a, b, inc=True)) for r in rules)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def prebook(scheduler: Scheduler, share: float, seed: int = 11) -> int:
    """Book ``share`` of the year's slots (one query per week, random picks)."""
    rng = random.Random(seed)
    booked = 0
    for monday in week_starts(51):
        for slot in await scheduler.find_slots(GP, monday, monday + timedelta(days=7)):
            if rng.random() < share:
                await scheduler.book(slot, f"pat-{booked}", idempotency_key=f"pre-{booked}")
                booked += 1
    return booked


async def time_queries(
    scheduler: Scheduler, weeks: list[datetime], horizon: timedelta, repeat: int
) -> tuple[list[float], int]:
    samples, found = [], 0
    for _ in range(repeat):
        for monday in weeks:
            t0 = timer.perf_counter()
            slots = await scheduler.find_slots(GP, monday, monday + horizon)
            samples.append(timer.perf_counter() - t0)
            found = len(slots)
    return samples, found


def time_baseline(rules: list[rrule], weeks: list[datetime], horizon: timedelta, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        for monday in weeks:
            t0 = timer.perf_counter()
            baseline_expand(rules, monday, monday + horizon)
            samples.append(timer.perf_counter() - t0)
    return samples


async def bench_find_slots(quick: bool) -> None:
    resources = make_resources(50)
    weeks = week_starts(8 if quick else 26)
    async with SqliteStore(":memory:") as store:
        scheduler = Scheduler(store, resources, clock=lambda: NOW)
        cold_start = timer.perf_counter()
        await scheduler.find_slots(GP, weeks[0], weeks[0] + timedelta(days=7))
        cold = timer.perf_counter() - cold_start
        booked = await prebook(scheduler, 0.4 if not quick else 0.1)
        ours, found = await time_queries(scheduler, weeks, timedelta(days=7), 3 if quick else 10)
    base = time_baseline(baseline_rules(resources), weeks, timedelta(days=7), 3 if quick else 10)
    print("### find_slots: 50 resources, a year of rules, one-week window\n")
    print(
        f"{booked} appointments in the store; {len(ours)} queries over {len(weeks)} weeks; "
        f"last week {found} slots.\n"
    )
    print("| | median | p95 | ratio to baseline (median) |")
    print("|---|---:|---:|---:|")
    print(
        f"| telemedroom `find_slots` (warm) | {statistics.median(ours) * 1e3:.2f} ms "
        f"| {percentile(ours, 0.95) * 1e3:.2f} ms "
        f"| {statistics.median(ours) / statistics.median(base):.1f}x |"
    )
    print(
        f"| baseline: raw dateutil `between()` of the same rules | {statistics.median(base) * 1e3:.2f} ms "
        f"| {percentile(base, 0.95) * 1e3:.2f} ms | 1.0x |"
    )
    print(f"| first query (cold: expands the year, fills the cache) | {cold * 1e3:.2f} ms | | |\n")


async def bench_growth(quick: bool) -> None:
    repeat = 2 if quick else 5
    weeks = week_starts(4 if quick else 10)
    print("### Growth of warm `find_slots` time\n")
    print("| resources | window | slots | median | baseline median | ratio |")
    print("|---:|---|---:|---:|---:|---:|")
    cases = [(n, timedelta(days=7)) for n in (10, 25, 50, 100, 200)]
    cases += [(50, timedelta(days=d)) for d in (1, 28, 91, 182)]
    for count, horizon in cases:
        resources = make_resources(count)
        async with SqliteStore(":memory:") as store:
            scheduler = Scheduler(store, resources, clock=lambda: NOW)
            await time_queries(scheduler, weeks, horizon, 1)  # warm the cache
            ours, found = await time_queries(scheduler, weeks, horizon, repeat)
        base = time_baseline(baseline_rules(resources), weeks, horizon, repeat)
        print(
            f"| {count} | {horizon.days} d | {found} | {statistics.median(ours) * 1e3:.2f} ms "
            f"| {statistics.median(base) * 1e3:.2f} ms "
            f"| {statistics.median(ours) / statistics.median(base):.1f}x |"
        )
    print()


async def contention_pool(resources: list[Resource], size: int) -> list[Slot]:
    async with SqliteStore(":memory:") as store:
        scheduler = Scheduler(store, resources, clock=lambda: NOW)
        pool: list[Slot] = []
        monday = datetime(2026, 3, 2, tzinfo=BERLIN)
        while len(pool) < size:
            pool += await scheduler.find_slots(GP, monday, monday + timedelta(days=7))
            monday += timedelta(days=7)
    return pool[:size]


async def race(
    make: Callable[[], ScheduleStore], resources: list[Resource], pool: list[Slot], clients: int
) -> tuple[float, int, int]:
    """Clients pick random not-yet-known-booked slots from one pool and book them."""
    open_slots = list(pool)
    attempts = refused = 0
    rng = random.Random(3)
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(make()) for _ in range(clients)]

        async def client(store: ScheduleStore, index: int) -> None:
            nonlocal attempts, refused
            scheduler = Scheduler(store, resources, clock=lambda: NOW)
            n = 0
            while open_slots:
                slot = rng.choice(open_slots)
                attempts += 1
                n += 1
                try:
                    await scheduler.book(slot, f"pat-{index}", idempotency_key=f"c{index}-{n}")
                except errors.SlotUnavailable:
                    refused += 1
                if slot in open_slots:
                    open_slots.remove(slot)

        t0 = timer.perf_counter()
        await asyncio.gather(*(client(store, i) for i, store in enumerate(stores)))
        elapsed = timer.perf_counter() - t0
        stored = await stores[0].appointments()
    if len(stored) != len(pool) or len({a.slot for a in stored}) != len(pool):
        raise SystemExit(
            f"contention run lost or doubled bookings: {len(stored)} stored for {len(pool)} slots"
        )
    return elapsed, attempts, refused


async def bench_contention(quick: bool, postgres_dsn: Callable[[], str] | None) -> None:
    resources = make_resources(50)
    pool = await contention_pool(resources, 64 if quick else 320)
    print(f"### Bookings under {CLIENTS}-way contention ({len(pool)} slots, every one booked exactly once)\n")
    print(
        "| store | clients | attempts | refused (SlotUnavailable) | bookings/s "
        "| 1 client bookings/s | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    stores: list[tuple[str, Callable[[], Callable[[], ScheduleStore]]]] = []
    tmp = Path(tempfile.mkdtemp(prefix="telemedroom-bench-"))
    counter = iter(range(1_000_000))

    def sqlite_factory() -> Callable[[], ScheduleStore]:
        path = tmp / f"bench-{next(counter)}.db"
        return lambda: SqliteStore(path)

    stores.append(("SQLite (file, WAL)", sqlite_factory))
    if postgres_dsn is not None:

        def postgres_factory() -> Callable[[], ScheduleStore]:
            dsn = postgres_dsn()
            return lambda: PostgresStore(dsn, max_size=1)

        stores.append(("PostgreSQL", postgres_factory))
    try:
        for name, factory in stores:
            alone, _, _ = await race(factory(), resources, pool, 1)
            elapsed, attempts, refused = await race(factory(), resources, pool, CLIENTS)
            rate, rate_alone = len(pool) / elapsed, len(pool) / alone
            print(
                f"| {name} | {CLIENTS} | {attempts} | {refused} | {rate:,.0f} | {rate_alone:,.0f} "
                f"| {rate / rate_alone:.2f}x |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if postgres_dsn is None:
        print("\n(PostgreSQL skipped: no BENCH_POSTGRES_DSN and no postgresql binaries)")
    print()


@contextmanager
def throwaway_postgres() -> Iterator[Callable[[], str] | None]:
    """A fresh database factory on BENCH_POSTGRES_DSN's server, or on a temporary server."""
    dsn = os.environ.get("BENCH_POSTGRES_DSN")
    if dsn:
        yield lambda: dsn
        return
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    bindir = found[-1].parent if found else (Path(p).parent if (p := shutil.which("initdb")) else None)
    if bindir is None:
        yield None
        return
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="telemedroom-bench-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    base.chmod(0o755)
    data = base / "data"
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "bench", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-k {base} -c listen_addresses='' -c max_connections=200"
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    names = iter(range(1_000_000))

    def create() -> str:
        name = f"bench{next(names)}"
        subprocess.run(
            [str(bindir / "createdb"), "-h", str(base), "-U", "bench", name], check=True, capture_output=True
        )
        return f"postgresql://bench@/{name}?host={base}"

    try:
        yield create
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


async def main_async(quick: bool) -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores\n")
    await bench_find_slots(quick)
    await bench_growth(quick)
    with throwaway_postgres() as postgres:
        await bench_contention(quick, postgres)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer queries and slots (for smoke tests)")
    args = parser.parse_args()
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
