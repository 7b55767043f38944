"""FHIR mapping throughput and batched outbox drain, each next to a baseline in the same run.

1. bytes -> Measurement -> Observation JSON with telemedroom (``gatt.decode`` then
   ``observation_json``; and the validated-model path ``to_observation`` +
   ``model_dump_json``) versus building the *equivalent* Observation directly with
   ``fhir.resources`` from ready values and serialising it.
2. Draining 10,000 readings from the outbox to FakeFhirServer (a fake FHIR server) in
   batches of 100, versus one request per reading: in process (httpx MockTransport, no
   network at all), and served by uvicorn in another process over loopback TCP.

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
from typing import Any

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


async def drain_seconds(
    count: int, batch_size: int, folder: Path, *, validate: bool = True, base_url: str | None = None
) -> float:
    """Seconds to drain ``count`` readings; in process, or to the server at ``base_url``."""
    server = FakeFhirServer(validate=validate)
    transport = None if base_url else server.transport()
    bundles = [transaction_json([reading(n)], patient=PATIENT, received_at=AT) for n in range(count)]
    name = f"outbox-{batch_size}-{validate}-{bool(base_url)}.sqlite"
    async with (
        Outbox(folder / name, key=os.urandom(32), batch_size=batch_size) as outbox,
        FhirClient(base_url or server.base_url, transport=transport, retry=Retry(attempts=1)) as fhir,
    ):
        await outbox.put(*bundles)
        start = time.perf_counter()
        result = await outbox.drain(fhir)
        elapsed = time.perf_counter() - start
        if base_url:
            found = [r async for r in fhir.search("Observation", {"_count": "1000"})]
            assert len(found) == count
    assert result.sent == count
    if not base_url:
        assert len(server.resources("Observation")) == count
    return elapsed


def serve(port: int, validate: bool) -> None:
    """Serve a FakeFhirServer over HTTP with uvicorn (the ``server`` extra): real TCP."""
    import httpx

    try:
        import uvicorn
    except ImportError:
        raise SystemExit("the TCP case needs uvicorn: pip install 'telemedroom[server]'") from None

    server = FakeFhirServer(f"http://127.0.0.1:{port}/r4", validate=validate, page_size=1000)

    async def app(scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        query = scope["query_string"].decode()
        url = f"http://127.0.0.1:{port}{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        response = server.handle(httpx.Request(scope["method"], url, headers=headers, content=body))
        out = [(k.encode(), v.encode()) for k, v in response.headers.items() if k.lower() != "content-length"]
        out.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def served_drain_seconds(count: int, batch_size: int, folder: Path, *, validate: bool) -> float:
    """:func:`drain_seconds` against a fake served by uvicorn in another process."""
    import socket
    import subprocess

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flag = "--validate" if validate else "--no-validate"
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), flag])
    try:
        base_url = f"http://127.0.0.1:{port}/r4"
        for _ in range(200):  # until it answers
            try:
                if httpx.get(f"{base_url}/metadata").is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        return asyncio.run(drain_seconds(count, batch_size, folder, validate=validate, base_url=base_url))
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and readings (a smoke run)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--validate", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.validate)
        return
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
        for validate in (True, False):
            label = "validates every resource" if validate else "stores unvalidated"
            batched = asyncio.run(drain_seconds(count, 100, Path(tmp), validate=validate))
            single = asyncio.run(drain_seconds(count, 1, Path(tmp), validate=validate))
            print(f"| in process, fake {label} | {batched:.2f} | {single:.2f} | {single / batched:.1f}x |")
            batched = served_drain_seconds(count, 100, Path(tmp), validate=validate)
            single = served_drain_seconds(count, 1, Path(tmp), validate=validate)
            speed_up = single / batched
            print(f"| uvicorn, loopback TCP, fake {label} | {batched:.2f} | {single:.2f} | {speed_up:.1f}x |")


if __name__ == "__main__":
    main()
