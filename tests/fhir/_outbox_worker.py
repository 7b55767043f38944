"""Worker for the kill -9 fault test: fill the outbox with readings and drain it.

Run as a script: ``python _outbox_worker.py OUTBOX SERVER_JSON COUNT``. It talks to a
FakeFhirServer (a fake FHIR server) that persists its store to SERVER_JSON after every
change, puts readings COUNT times (resuming where the progress file says), drains after
every few, and prints one line per step so the test can kill it at a random step.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telemedroom import DeviceInfo, HeartRate
from telemedroom.fhir import FhirClient, Outbox, Retry, transaction_json
from telemedroom.testing import FakeFhirServer

KEY = bytes(range(32))
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
DEVICE = DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F")


def reading(n: int) -> HeartRate:
    return HeartRate(bpm=40 + n % 100, measured_at=T0 + timedelta(seconds=n), device=DEVICE)


async def main(outbox_path: Path, server_path: Path, count: int) -> None:
    progress = outbox_path.with_suffix(".progress")
    start = int(progress.read_text()) if progress.exists() else 0
    server = FakeFhirServer(path=server_path)
    async with (
        FhirClient(server.base_url, transport=server.transport()) as fhir,
        Outbox(outbox_path, key=KEY, batch_size=4, retry=Retry(backoff=0.0)) as outbox,
    ):
        for n in range(start, count):
            await outbox.put(transaction_json([reading(n)], patient="Patient/p1", received_at=T0))
            # a kill between the put and this write re-puts reading n: the server dedupes it
            progress.write_text(str(n + 1))
            print("put", n, flush=True)
            if n % 3 == 2:
                result = await outbox.drain(fhir)
                print("drained", result.sent, flush=True)
        result = await outbox.drain(fhir)
        print("drained", result.sent, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
