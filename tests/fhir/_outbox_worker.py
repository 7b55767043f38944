"""Worker for the kill -9 fault test: fill the outbox with readings and drain it.

Run as a script: ``python _outbox_worker.py OUTBOX SERVER_JSON COUNT [strict]``. It talks
to a FakeFhirServer (a fake FHIR server) that persists its store to SERVER_JSON after every
change, puts readings COUNT times (resuming where the progress file says), drains after
every few, and prints one line per step so the test can kill it at a random step.

With ``strict`` the server follows Medplum's and HAPI's rules (at most 8 entries in a
conditional transaction, no update-as-create, referential integrity) and the client has
Medplum's profile: each drain is an ordered plan of several transactions, and the worker
prints a line after every answer of the server, so a kill lands between plan steps too.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from telemedroom import DeviceInfo, HeartRate
from telemedroom.fhir import FhirClient, Outbox, Retry, ServerProfile, transaction_json
from telemedroom.testing import FakeFhirServer

KEY = bytes(range(32))
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
DEVICE = DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F")


def reading(n: int) -> HeartRate:
    return HeartRate(bpm=40 + n % 100, measured_at=T0 + timedelta(seconds=n), device=DEVICE)


async def main(outbox_path: Path, server_path: Path, count: int, strict: bool) -> None:
    progress = outbox_path.with_suffix(".progress")
    start = int(progress.read_text()) if progress.exists() else 0
    server = FakeFhirServer(path=server_path, strict=strict)

    def answer(request: httpx.Request) -> httpx.Response:
        response = server.handle(request)
        if request.method == "POST" and not request.url.path.rstrip("/").endswith(("Patient", "token")):
            print("answered", response.status_code, flush=True)  # a kill may land right here
        return response

    profile = ServerProfile.named("medplum" if strict else "generic")
    async with (
        FhirClient(server.base_url, transport=httpx.MockTransport(answer), profile=profile) as fhir,
        Outbox(outbox_path, key=KEY, batch_size=4, retry=Retry(backoff=0.0)) as outbox,
    ):
        patient = "Patient/p1"
        if strict:  # referential integrity: the patient must exist on the server
            known = await fhir.create(
                {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": "p1"}]},
                if_none_exist="identifier=urn:test|p1",
            )
            patient = f"Patient/{known.id}"
        for n in range(start, count):
            await outbox.put(transaction_json([reading(n)], patient=patient, received_at=T0))
            # a kill between the put and this write re-puts reading n: the server dedupes it
            progress.with_suffix(".tmp").write_text(str(n + 1))
            os.replace(progress.with_suffix(".tmp"), progress)  # atomic: a kill leaves old or new
            print("put", n, flush=True)
            if n % 3 == 2:
                result = await outbox.drain(fhir)
                print("drained", result.sent, flush=True)
        result = await outbox.drain(fhir)
        print("drained", result.sent, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] == ["strict"]))
