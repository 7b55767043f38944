"""The residents' booking page: the slot page's server time, and 50 residents booking at once.

1. The slot page of one room over four weeks (``GET /booking/service/gp-20``: the
   scheduler's search, grouping by day, the HTML), served in process over ASGI with a
   third of the times booked. Baseline, same run: the bare ``Scheduler.find_slots`` for
   the same four weeks. Target of the issue: p95 < 50 ms.
2. 50 residents book at once through the page (open the service, hold a time chosen at
   random from the page, open the form, confirm; a resident who loses a time takes one
   of the next free times the answer offers), on SQLite and on PostgreSQL. Checked: no
   resource is ever booked twice at one time. Baseline, same run: 50 concurrent bare
   ``Scheduler.book`` calls on distinct slots of the same store kind.

Run: ``.venv/bin/python benchmarks/bench_booking.py [--quick]``. PostgreSQL as in
bench_scheduling.py (``BENCH_POSTGRES_DSN`` or a throwaway server from the Debian
binaries; skipped without either). Prints Markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import platform
import random
import re
import sys
import tempfile
import time as timer
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
from bench_scheduling import throwaway_postgres

from telemedroom.booking import BookingConfig, create_booking_app, open_booking
from telemedroom.scheduling import AvailabilityRule, Requirement, Resource, Scheduler, Service, SqliteStore

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WEEKDAYS = AvailabilityRule(
    rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", starts=date(2026, 1, 5), opens=time(8), closes=time(18)
)
RESOURCES = (
    Resource(id="room-1", kind="room", name="Telemedizin-Raum Nord 1", availability=(WEEKDAYS,)),
    Resource(
        id="dr-weber",
        kind="practitioner",
        name="Dr. Weber",
        qualifications=frozenset({"general"}),
        availability=(WEEKDAYS,),
    ),
)
GP = Service(
    id="gp-20",
    name="Allgemeinmedizinische Sprechstunde",
    duration=timedelta(minutes=20),
    buffer_after=timedelta(minutes=10),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="general")),
)
SERVICES = {GP.id: GP}
KEY = base64.b64encode(os.urandom(32)).decode()
SLOT = re.compile(r'name="slot" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def config(folder: Path, store: str, **extra: Any) -> BookingConfig:
    limits = {"requests_per_minute": 100_000, "bookings_per_hour_per_ip": 1000}
    return BookingConfig(
        clinic_name="Praxis am Quartier",
        schedule_file=folder / "unused.toml",
        data_dir=folder,
        schedule_store=store,
        encryption_key=KEY,
        fields=["email"],
        limits=limits,
        **extra,
    )


def client(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8020")


async def bench_slot_page(requests: int) -> None:
    folder = Path(tempfile.mkdtemp())
    clock = lambda: NOW  # noqa: E731
    async with open_booking(
        config(folder, f"sqlite:///{folder / 's.sqlite'}"), schedule=(RESOURCES, SERVICES), clock=clock
    ) as service:
        scheduler = service.scheduler
        free = await scheduler.find_slots(GP, NOW, NOW + timedelta(days=28))
        for slot in random.Random(5).sample(free, len(free) // 3):
            await scheduler.book(slot, uuid.uuid4().hex, idempotency_key=uuid.uuid4().hex)
        left = len(await scheduler.find_slots(GP, NOW, NOW + timedelta(days=28)))
        app = create_booking_app(service)
        page_times, bare_times = [], []
        async with client(app, "10.0.0.1") as http:
            await http.get("/booking/service/gp-20")  # warm: rules expanded, templates compiled
            for _ in range(requests):
                started = timer.perf_counter()
                await scheduler.find_slots(GP, NOW, NOW + timedelta(days=28))
                bare_times.append(timer.perf_counter() - started)
                started = timer.perf_counter()
                page = await http.get("/booking/service/gp-20")
                page_times.append(timer.perf_counter() - started)
                assert page.status_code == 200
        p50, p95 = percentile(page_times, 0.5) * 1000, percentile(page_times, 0.95) * 1000
        b50, b95 = percentile(bare_times, 0.5) * 1000, percentile(bare_times, 0.95) * 1000
        print(
            f"#### Slot page, one room, four weeks ({len(free)} times, {len(free) - left} booked,"
            f" {requests} requests)\n"
        )
        print("| | median | p95 | ratio to baseline (median) |")
        print("|---|---:|---:|---:|")
        print(
            f"| `GET /booking/service/gp-20` (server time, in process) | {p50:.2f} ms | {p95:.2f} ms"
            f" | {p50 / b50:.2f}x |"
        )
        print(f"| baseline: bare `find_slots`, same 4 weeks | {b50:.2f} ms | {b95:.2f} ms | 1.00x |")
        print(f"\np95 target < 50 ms: {'met' if p95 < 50 else 'NOT met'}\n")


async def resident(app: Any, n: int) -> tuple[int, int]:
    """One resident's booking through the page; returns (attempts, 1 if booked)."""
    rng = random.Random(n)
    async with client(app, f"10.1.{n // 250}.{n % 250}") as http:
        page = await http.get("/booking/service/gp-20")
        for attempt in range(1, 11):
            values = SLOT.findall(page.text)
            held = await http.post(
                "/booking/hold",
                data={"csrf": CSRF.findall(page.text)[0], "service": "gp-20", "slot": rng.choice(values[:8])},
            )
            if held.status_code == 409:
                page = held  # the answer lists the next free times
                continue
            assert held.status_code == 303, held.text
            form = await http.get(held.headers["location"])
            done = await http.post(
                held.headers["location"],
                data={
                    "csrf": CSRF.findall(form.text)[0],
                    "name": f"Resident {n}",
                    "birth_date": "01.04.1950",
                    "email": f"resident{n}@example.org",
                    "consent": "1",
                },
            )
            assert done.status_code == 303, done.text
            return attempt, 1
    return 10, 0


async def bench_residents(kind: str, store: Callable[[], str], residents: int) -> None:
    folder = Path(tempfile.mkdtemp())
    clock = lambda: NOW  # noqa: E731
    async with open_booking(config(folder, store()), schedule=(RESOURCES, SERVICES), clock=clock) as service:
        app = create_booking_app(service)
        await resident(app, residents)  # warm: templates compiled, FHIR models imported (not counted)
        started = timer.perf_counter()
        results = await asyncio.gather(*(resident(app, n) for n in range(residents)))
        page_s = timer.perf_counter() - started
        booked = [a for a in await service.scheduler.store.appointments() if a.status == "booked"]
        for resource in ("room-1", "dr-weber"):
            spans = sorted(
                (a.slot.blocked_start, a.slot.blocked_end) for a in booked if resource in a.slot.resource_ids
            )
            assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans)), "double booking!"
        assert len(booked) == sum(ok for _, ok in results) + 1
        booked = booked[1:]  # the warm-up's
    # baseline: the bare scheduler, 50 concurrent bookings of distinct slots, same store kind
    async with SqliteStore(f"{folder / 'bare.sqlite'}") if kind == "SQLite" else _pg(store()) as bare_store:
        scheduler = Scheduler(bare_store, RESOURCES, clock=clock)
        slots = (await scheduler.find_slots(GP, NOW, NOW + timedelta(days=28)))[:residents]
        started = timer.perf_counter()
        await asyncio.gather(
            *(scheduler.book(s, uuid.uuid4().hex, idempotency_key=uuid.uuid4().hex) for s in slots)
        )
        bare_s = timer.perf_counter() - started
    attempts = sum(a for a, _ in results)
    page_rate, bare_rate = len(booked) / page_s, residents / bare_s
    print(
        f"| {kind} | {residents} | {len(booked)} | {attempts - len(booked)} | 0 | "
        f"{page_rate:.0f} | {bare_rate:.0f} | {page_rate / bare_rate:.2f}x |"
    )


def _pg(dsn: str) -> Any:
    from telemedroom.scheduling import PostgresStore

    return PostgresStore(dsn)


async def main_async(quick: bool) -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores\n")
    await bench_slot_page(20 if quick else 200)
    residents = 10 if quick else 50
    print(f"#### {residents} residents booking at once through the page\n")
    print(
        "| store | residents | booked | times lost to another (409) | double bookings | bookings/s (page) "
        "| bookings/s (bare `Scheduler.book`) | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    folder = Path(tempfile.mkdtemp())
    await bench_residents("SQLite", lambda: f"sqlite:///{folder / 'race.sqlite'}", residents)
    with throwaway_postgres() as postgres:
        if postgres is None:
            print("| PostgreSQL | skipped: no server | | | | | | |")
        else:
            await bench_residents("PostgreSQL", postgres, residents)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests and residents (smoke test)")
    args = parser.parse_args()
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
