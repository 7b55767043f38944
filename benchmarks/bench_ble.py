"""Bluetooth LE path over the virtual radio: indication latency and glucose record transfer.

1. Latency from a virtual cuff's Blood Pressure Measurement indication (the moment the
   peripheral hands the value to its GATT server) to the ``BloodPressure`` leaving
   ``Connection.measurements()``: bumble peripheral -> virtual link -> bumble central ->
   our bleak backend -> bleak -> DeviceManager's queue -> decoder -> clock check.
   Baseline, same run, same radio: a bare bumble central subscribed to the same
   characteristic, timing the same span to its raw callback (no bleak, no telemedroom).
2. A glucometer with 1,000 stored records: ``Connection.glucose_records()`` (RACP
   request, 1,000 measurement notifications decoded, the response code). Baseline: the
   same RACP request through a bare bumble central that only collects the raw bytes.

The two sides alternate in rounds (5 by default), each on a fresh radio; latencies are
pooled over the rounds, the transfer time is the best round.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_ble.py [--quick]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bumble.core import UUID
from bumble.device import Peer

from telemedroom import BloodGlucose, BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.devices.gatt import record_access as racp
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff, VirtualGlucometer

AT = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
READING = BloodPressure(
    systolic=128, diastolic=82, mean_arterial=97.3, pulse_rate=64, measured_at=AT, user_index=1
)


def stored_records(count: int) -> list[BloodGlucose]:
    return [
        BloodGlucose(value=80 + n % 60, sequence_number=n, measured_at=AT + timedelta(minutes=n))
        for n in range(1, count + 1)
    ]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, samples: list[float]) -> Latency:
        ordered = sorted(samples)
        return cls(
            statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        )


async def latency_telemedroom(count: int) -> list[float]:
    async with BumbleBackend() as radio:
        cuff = await radio.add(VirtualBloodPressureCuff())
        async with DeviceManager(backend=radio) as dm, await dm.connect(cuff.address) as conn:
            readings = conn.measurements()
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                sending = asyncio.create_task(cuff.send(READING))
                reading = await anext(readings)
                samples.append(time.perf_counter() - started)
                assert isinstance(reading, BloodPressure)
                assert reading.systolic == 128
                await sending
            await readings.aclose()
    return samples


async def latency_bare_bumble(count: int) -> list[float]:
    async with BumbleBackend() as radio:
        cuff = await radio.add(VirtualBloodPressureCuff())
        central = await radio.central("bench")
        connection = await central.connect(cuff.address)
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
        [characteristic] = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A35))
        arrived: asyncio.Queue[bytes] = asyncio.Queue()
        await characteristic.subscribe(arrived.put_nowait, prefer_notify=False)
        await cuff.connected.wait()
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            sending = asyncio.create_task(cuff.send(READING))
            await arrived.get()
            samples.append(time.perf_counter() - started)
            await sending
        await connection.disconnect()
        await radio.release(central)
    return samples


async def transfer_telemedroom(count: int) -> float:
    async with BumbleBackend() as radio:
        meter = await radio.add(VirtualGlucometer(records=stored_records(count)))
        async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as conn:
            started = time.perf_counter()
            records = await conn.glucose_records()
            elapsed = time.perf_counter() - started
    assert [r.sequence_number for r in records] == list(range(1, count + 1))
    return elapsed


async def transfer_bare_bumble(count: int) -> float:
    async with BumbleBackend() as radio:
        meter = await radio.add(VirtualGlucometer(records=stored_records(count)))
        central = await radio.central("bench")
        connection = await central.connect(meter.address)
        await connection.pair()
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
        [measurement] = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A18))
        [control_point] = peer.get_characteristics_by_uuid(
            UUID.from_16_bits(racp.RECORD_ACCESS_CONTROL_POINT)
        )
        raw: list[bytes] = []
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def answered(value: bytes) -> None:
            if not done.done():
                done.set_result(value)

        await measurement.subscribe(raw.append)
        await control_point.subscribe(answered, prefer_notify=False)
        started = time.perf_counter()
        await control_point.write_value(racp.encode_request(racp.report_stored_records()), with_response=True)
        await done
        elapsed = time.perf_counter() - started
        await connection.disconnect()
        await radio.release(central)
    assert len(raw) == count
    return elapsed


async def run(indications: int, records: int, repeats: int) -> dict[str, float]:
    # Alternate the two sides in rounds so that drift (other load, CPU frequency) hits both.
    ours_samples: list[float] = []
    bare_samples: list[float] = []
    transfers: list[float] = []
    bare_transfers: list[float] = []
    for _ in range(repeats):
        ours_samples += await latency_telemedroom(indications // repeats)
        bare_samples += await latency_bare_bumble(indications // repeats)
        transfers.append(await transfer_telemedroom(records))
        bare_transfers.append(await transfer_bare_bumble(records))
    ours, bare = Latency.of(ours_samples), Latency.of(bare_samples)
    transfer, transfer_bare = min(transfers), min(bare_transfers)
    return {
        "p50_ms": ours.p50_ms,
        "p99_ms": ours.p99_ms,
        "bare_p50_ms": bare.p50_ms,
        "bare_p99_ms": bare.p99_ms,
        "transfer_s": transfer,
        "transfer_bare_s": transfer_bare,
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    args = parser.parse_args()
    indications, repeats = (200, 1) if args.quick else (5000, 5)
    r = asyncio.run(run(indications, 1000, repeats))
    print(f"Python {platform.python_version()} on {platform.machine()}, {indications} indications\n")
    print("| case | telemedroom | bare bumble (same run) | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| indication -> Measurement, p50 | {r['p50_ms']:.3f} ms | {r['bare_p50_ms']:.3f} ms "
        f"| {r['p50_ms'] / r['bare_p50_ms']:.1f}x |"
    )
    print(
        f"| indication -> Measurement, p99 | {r['p99_ms']:.3f} ms | {r['bare_p99_ms']:.3f} ms "
        f"| {r['p99_ms'] / r['bare_p99_ms']:.1f}x |"
    )
    ours = f"{r['transfer_s'] * 1000:.0f} ms, {r['records'] / r['transfer_s']:,.0f} records/s"
    bare = f"{r['transfer_bare_s'] * 1000:.0f} ms, {r['records'] / r['transfer_bare_s']:,.0f} records/s"
    print(
        f"| 1,000 glucose records (RACP) | {ours} | {bare} | {r['transfer_s'] / r['transfer_bare_s']:.1f}x |"
    )
    print(f"\ntarget p99 < 20 ms: {'met' if r['p99_ms'] < 20 else 'NOT met'}", file=sys.stderr)


if __name__ == "__main__":
    main()
