"""Outbox drain against Medplum's FHIR engine and the strict fake, batched and one request per reading.

Each reading is one transaction Bundle (Device, Observation, Provenance) put into the
outbox beforehand; the timer covers ``drain()`` only. The client has Medplum's profile
(``ServerProfile.named("medplum")``): a batch goes as an ordered plan of transactions of at
most 8 entries, the Provenance as a conditional update. The servers:

- Medplum's FHIR engine: npm ``@medplum/fhir-router`` 5.2.13 with its ``MemoryRepository``
  under Node (``tests/_medplum/server.mjs``; every written resource validated by
  ``@medplum/core``), over HTTP on loopback. Its conditional create searches by scanning
  every resource of the type (MemoryRepository has no index), so its cost grows with
  what it holds; a PostgreSQL-backed Medplum looks identifiers up in an index.
- ``FakeFhirServer(strict=True)`` in process (httpx ``MockTransport``), validating with
  ``fhir.resources``.

Both servers hold the patient first (a conditional create by identifier, as a clinic
registers it): the strict fake enforces HAPI's referential integrity, so every reading's
``Patient`` reference must resolve.

``--update-create``: the client may set ids (on Medplum a project admin's client; the Node
server's ``--allow-set-id``, and ``FakeFhirServer(update_create=True)``), and the profile
says so (``[fhir] update_create = true``): the Provenances go as plain ``PUT``s instead of
conditional updates and the Observations as ``PUT``s to the uuid5 of their identifier
instead of conditional creates; only the Device stays conditional.

Run: ``.venv/bin/python benchmarks/bench_fhir_servers.py [--count N] [--update-create]``
(needs Node 20+ and ``npm ci --prefix tests/_medplum``). Prints Markdown for
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests._medplum_server: the Node launcher

from tests._medplum_server import MedplumServer

from telemedroom import DeviceInfo, HeartRate
from telemedroom.fhir import FhirClient, Outbox, Retry, ServerProfile, transaction_json
from telemedroom.testing import FakeFhirServer

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
DEVICE = DeviceInfo(manufacturer="Acme Medical", model="HR-1", system_id="00-1B-2C-FF-FE-3D-4E-5F")
PROFILE = ServerProfile.named("medplum")


async def drain_seconds(
    count: int,
    batch_size: int,
    folder: Path,
    base_url: str,
    transport: httpx.AsyncBaseTransport | None,
    profile: ServerProfile = PROFILE,
) -> tuple[float, int]:
    """Seconds to drain ``count`` readings in batches of ``batch_size``; and the transactions sent."""
    path = folder / f"outbox-{batch_size}-{transport is None}-{time.monotonic_ns()}.sqlite"
    async with (
        FhirClient(
            base_url, transport=transport, profile=profile, retry=Retry(attempts=1), timeout=300
        ) as fhir,
        Outbox(path, key=os.urandom(32), batch_size=batch_size) as outbox,
    ):
        patient = await fhir.create(  # the clinic registered the patient: a server-assigned id
            {"resourceType": "Patient", "identifier": [{"system": "urn:bench:mrn", "value": "4711"}]},
            if_none_exist="identifier=urn:bench:mrn|4711",
        )
        bundles = [
            transaction_json(
                [HeartRate(bpm=40 + n % 100, measured_at=T0 + timedelta(seconds=n), device=DEVICE)],
                patient=f"Patient/{patient.id}",
                received_at=T0,
            )
            for n in range(count)
        ]
        await outbox.put(*bundles)
        started = time.perf_counter()
        result = await outbox.drain(fhir, max_failures=1)
        elapsed = time.perf_counter() - started
    if result.sent != count or result.rejected:
        raise SystemExit(f"drain sent {result.sent} of {count}, rejected {result.rejected}")
    return elapsed, result.batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="readings per drain")
    parser.add_argument("--update-create", action="store_true", help="a client that may set ids: plain PUTs")
    args = parser.parse_args()
    count = args.count
    set_ids = bool(args.update_create)
    profile = ServerProfile.named("medplum", update_create=True) if set_ids else PROFILE
    medplum = MedplumServer(allow_set_id=set_ids)
    medplum.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for label, batch_size in (("batches of 100", 100), ("one request per reading", 1)):
                medplum.reset()
                on_medplum, sent_medplum = asyncio.run(
                    drain_seconds(count, batch_size, folder, medplum.base_url, None, profile)
                )
                fake = FakeFhirServer(strict=True, update_create=set_ids)
                on_fake, sent_fake = asyncio.run(
                    drain_seconds(count, batch_size, folder, fake.base_url, fake.transport(), profile)
                )
                if len(fake.resources("Observation")) != count or len(medplum.all_of("Device")) != 1:
                    raise SystemExit("a server does not hold what was drained")
                rows.append((label, on_medplum, sent_medplum, on_fake, sent_fake))
    finally:
        medplum.stop()
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"node {medplum_node()}, load average {os.getloadavg()[0]:.1f}, "
        f"profile {profile.name} (update_create={profile.update_create})"
    )
    print()
    print(
        f"| drain of {count:,} readings | Medplum engine, s | transactions | strict fake, s "
        "| transactions | Medplum / fake |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, on_medplum, sent_medplum, on_fake, sent_fake in rows:
        print(
            f"| {label} | {on_medplum:.2f} | {sent_medplum:,} | {on_fake:.2f} | {sent_fake:,} | "
            f"{on_medplum / on_fake:.1f}x |"
        )
    (_, medplum_batched, _, fake_batched, _), (_, medplum_single, _, fake_single, _) = rows
    print(
        f"| batched speed-up (one per reading / batched) | {medplum_single / medplum_batched:.1f}x | | "
        f"{fake_single / fake_batched:.1f}x | | |"
    )


def medplum_node() -> str:
    import subprocess

    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()


if __name__ == "__main__":
    main()
