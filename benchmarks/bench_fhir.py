"""FHIR mapping throughput and batched outbox drain, each next to a baseline in the same run.

1. bytes -> Measurement -> Observation JSON with telemedroom (``gatt.decode`` then
   ``observation_json``; and the validated-model path ``to_observation`` +
   ``model_dump_json``) versus building the *equivalent* Observation directly with
   ``fhir.resources`` from ready values and serialising it.
2. Draining 10,000 readings from the outbox to FakeFhirServer (an in-process fake FHIR
   server that validates what it stores) in batches, versus one request per reading.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_fhir.py [--quick]``).
Prints Markdown; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fhir.resources.R4B.observation import Observation

from telemedroom import BloodPressure, DeviceInfo, HeartRate, Measurement
from telemedroom.devices import gatt
from telemedroom.fhir import FhirClient, Outbox, Retry, observation_json, to_observation, transaction_json
from telemedroom.testing import FakeFhirServer

AT = datetime(2026, 11, 24, 9, 15, 30, tzinfo=UTC)
PATIENT = "Patient/p1"

DEVICE = DeviceInfo(manufacturer="Acme Medical", model="BP-7", system_id="00-1B-2C-FF-FE-3D-4E-5F")

# (name, a full-featured reading as a device sends it)
CASES: list[tuple[str, Measurement]] = [
    (
        "blood pressure 0x2A35",
        BloodPressure(
            systolic=128,
            diastolic=82,
            mean_arterial=97,
            pulse_rate=64,
            user_index=1,
            status=frozenset({"irregular_pulse"}),
            measured_at=AT,
        ),
    ),
    ("heart rate 0x2A37", HeartRate(bpm=72, rr_intervals_s=(0.8359375, 0.8203125), sensor_contact=True)),
]


def baseline_template(reading: Measurement) -> dict[str, object]:
    """The JSON of the equivalent Observation, ready-made: what the baseline validates."""
    decoded = gatt.decode(gatt.characteristic_of(reading), gatt.encode(reading), tz=UTC)
    data: dict[str, object] = json.loads(observation_json(decoded, patient=PATIENT, received_at=AT)[0])
    return data


def best_rate(fn: Callable[[], object], repeat: int) -> float:
    """Calls per second: the best of ``repeat`` runs of at least 0.2 s each."""
    timer = timeit.Timer(fn)
    number, _elapsed = timer.autorange()
    return number / min(timer.repeat(repeat=repeat, number=number))


def mapping_rows(repeat: int) -> list[str]:
    rows = []
    for name, reading in CASES:
        uuid = gatt.characteristic_of(reading)
        data = gatt.encode(reading)
        template = baseline_template(reading)

        def fast(uuid: int = uuid, data: bytes = data) -> object:
            return observation_json(gatt.decode(uuid, data, tz=UTC), patient=PATIENT, received_at=AT)

        def model(uuid: int = uuid, data: bytes = data) -> object:
            return to_observation(
                gatt.decode(uuid, data, tz=UTC), patient=PATIENT, received_at=AT
            ).model_dump_json()

        def baseline(template: dict[str, object] = template) -> object:
            return Observation.model_validate(template).model_dump_json()

        ours, validated, base = (best_rate(f, repeat) for f in (fast, model, baseline))
        ratios = f"{base / ours:.2f}x | {base / validated:.2f}x"
        rows.append(f"| {name} | {ours:,.0f} | {validated:,.0f} | {base:,.0f} | {ratios} |")
    return rows


def reading(n: int) -> HeartRate:
    return HeartRate(bpm=40 + n % 100, measured_at=AT + timedelta(seconds=n), device=DEVICE)


async def drain_seconds(count: int, batch_size: int, folder: Path, *, validate: bool = True) -> float:
    server = FakeFhirServer(validate=validate)
    bundles = [transaction_json([reading(n)], patient=PATIENT, received_at=AT) for n in range(count)]
    async with (
        Outbox(
            folder / f"outbox-{batch_size}-{validate}.sqlite", key=os.urandom(32), batch_size=batch_size
        ) as outbox,
        FhirClient(server.base_url, transport=server.transport(), retry=Retry(attempts=1)) as fhir,
    ):
        await outbox.put(*bundles)
        start = time.perf_counter()
        result = await outbox.drain(fhir)
        elapsed = time.perf_counter() - start
    assert result.sent == count
    assert len(server.resources("Observation")) == count
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and readings (a smoke run)")
    args = parser.parse_args()
    repeat, count = (2, 500) if args.quick else (5, 10_000)
    print(f"Python {sys.version.split()[0]}, {platform.processor() or platform.machine()}, one core")
    print()
    print(
        "| reading | telemedroom fast JSON/s | telemedroom validated model/s | fhir.resources by hand/s "
        "| time ratio fast/by hand | time ratio model/by hand |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in mapping_rows(repeat):
        print(row)
    print()
    print(
        f"| outbox drain of {count:,} readings | batches of 100, s | one request per reading, s | speed-up |"
    )
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for validate, label in (
            (True, "fake server validates every resource"),
            (False, "fake server stores unvalidated"),
        ):
            batched = asyncio.run(drain_seconds(count, 100, Path(tmp), validate=validate))
            single = asyncio.run(drain_seconds(count, 1, Path(tmp), validate=validate))
            print(f"| {label} | {batched:.2f} | {single:.2f} | {single / batched:.1f}x |")


if __name__ == "__main__":
    main()
