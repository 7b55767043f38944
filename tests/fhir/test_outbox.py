"""The outbox: durable, encrypted, exactly once on the server.

The server here is FakeFhirServer, a fake (an in-process FHIR R4 server); the SQLite
database and the NDJSON files are real.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemedroom import BloodPressure, DeviceInfo, HeartRate
from telemedroom.errors import (
    FhirConnectionError,
    FhirMappingError,
    OutboxCorrupted,
    OutboxError,
    OutboxKeyError,
)
from telemedroom.fhir import FhirClient, FileSink, Outbox, Retry, from_bundle, transaction_json
from telemedroom.testing import FakeFhirServer

KEY = bytes(range(32))
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
DEVICE = DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F")
WORKER = Path(__file__).with_name("_outbox_worker.py")


def reading(n: int) -> HeartRate:
    return HeartRate(bpm=50 + n, measured_at=T0 + timedelta(seconds=n), device=DEVICE)


def bundle(n: int) -> dict[str, object]:
    return transaction_json([reading(n)], patient="Patient/p1", received_at=T0)


class Sleeps:
    """Stands in for waiting: records the delays and runs an action on a given call."""

    def __init__(self, on_call: int = 0, action: object = None) -> None:
        self.delays: list[float] = []
        self.on_call = on_call
        self.action = action

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) == self.on_call and callable(self.action):
            result = self.action()
            if result is not None:
                await result


def fhir(server: FakeFhirServer) -> FhirClient:
    return FhirClient(server.base_url, transport=server.transport(), retry=Retry(attempts=1))


async def test_drain_sends_in_batches_and_deletes_only_what_was_confirmed(tmp_path: Path) -> None:
    server = FakeFhirServer()
    async with Outbox(tmp_path / "o.sqlite", key=KEY, batch_size=4) as outbox, fhir(server) as client:
        ids = await outbox.put(*(bundle(n) for n in range(10)))
        assert ids == list(range(1, 11))
        assert await outbox.pending() == 10
        result = await outbox.drain(client)
        assert (result.sent, result.batches, result.rejected) == (10, 3, ())
        assert await outbox.pending() == 0
    transactions = [p for m, p in server.requests if m == "POST" and p == ""]
    assert len(transactions) == 3
    assert len(server.resources("Observation")) == 10
    assert len(server.resources("Device")) == 1


async def test_payload_is_encrypted_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    async with Outbox(path, key=KEY) as outbox:
        await outbox.put(bundle(1))
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Patient/p1" not in raw
    assert b"8867-4" not in raw
    assert b"Observation" not in raw


async def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    async with Outbox(path, key=KEY) as outbox:
        await outbox.put(bundle(1))
    with pytest.raises(OutboxKeyError) as info:
        async with Outbox(path, key=b"\x00" * 32):
            pass
    assert info.value.path == str(path)
    with pytest.raises(OutboxError, match="16, 24 or 32 bytes"):
        Outbox(path, key=b"short")


async def test_corrupted_row_is_named_and_intact_rows_still_drain(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    server = FakeFhirServer()
    async with Outbox(path, key=KEY) as outbox:
        await outbox.put(*(bundle(n) for n in range(5)))
    with sqlite3.connect(path) as db:
        (payload,) = db.execute("SELECT payload FROM outbox WHERE id = 3").fetchone()
        db.execute("UPDATE outbox SET payload = ? WHERE id = 3", (bytes([payload[0] ^ 1]) + payload[1:],))
    async with Outbox(path, key=KEY) as outbox, fhir(server) as client:
        with pytest.raises(OutboxCorrupted) as info:
            await outbox.drain(client)
        assert info.value.path == str(path)
        assert info.value.row_id == 3
        assert "row 3" in str(info.value)
        assert len(server.resources("Observation")) == 4  # the intact rows went out
        assert list(await outbox.held_back()) == [3]
        assert (await outbox.drain(client)).sent == 0  # set aside: no second alarm


async def test_damaged_database_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxCorrupted) as info:
        async with Outbox(path, key=KEY):
            pass
    assert info.value.path == str(path)
    assert info.value.row_id is None


async def test_drain_backs_off_while_unreachable_then_delivers(tmp_path: Path) -> None:
    server = FakeFhirServer()
    server.unreachable = True

    def back_online() -> None:
        server.unreachable = False

    sleeps = Sleeps(on_call=3, action=back_online)
    retry = Retry(backoff=1.0, max_delay=300.0, sleep=sleeps)
    async with Outbox(tmp_path / "o.sqlite", key=KEY, retry=retry) as outbox, fhir(server) as client:
        await outbox.put(bundle(1), bundle(2))
        result = await outbox.drain(client)
    assert result.sent == 2
    assert len(sleeps.delays) == 3
    assert sleeps.delays[0] < sleeps.delays[1] < sleeps.delays[2]
    assert len(server.resources("Observation")) == 2


async def test_put_is_not_blocked_by_a_drain_that_waits_for_the_server(tmp_path: Path) -> None:
    server = FakeFhirServer()
    server.unreachable = True
    outbox = Outbox(tmp_path / "o.sqlite", key=KEY)

    async def new_reading_meanwhile() -> None:
        # the room keeps measuring while the drain waits: put() must not wait for it
        await outbox.put(bundle(3))
        server.unreachable = False

    outbox.retry = Retry(backoff=1.0, sleep=Sleeps(on_call=2, action=new_reading_meanwhile))
    async with outbox, fhir(server) as client:
        await outbox.put(bundle(1), bundle(2))
        result = await outbox.drain(client)
    assert result.sent == 3
    assert len(server.resources("Observation")) == 3


async def test_put_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", key=KEY) as outbox:
        with pytest.raises(FhirMappingError):
            await outbox.put(b"not json")
        with pytest.raises(FhirMappingError):
            await outbox.put({"resourceType": "Patient"})
        assert await outbox.pending() == 0


async def test_drain_gives_up_after_max_failures(tmp_path: Path) -> None:
    server = FakeFhirServer()
    server.unreachable = True
    retry = Retry(backoff=0.0, sleep=Sleeps())
    async with Outbox(tmp_path / "o.sqlite", key=KEY, retry=retry) as outbox, fhir(server) as client:
        await outbox.put(bundle(1))
        with pytest.raises(FhirConnectionError):
            await outbox.drain(client, max_failures=3)
        assert await outbox.pending() == 1


async def test_rejected_row_stays_behind_and_the_rest_goes(tmp_path: Path) -> None:
    server = FakeFhirServer()
    invalid = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b8d3c1e-7a8e-4f1c-9a55-000000000001",
                "resource": {"resourceType": "Patient", "birthDate": "yesterday"},
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:x|1"},
            }
        ],
    }
    async with Outbox(tmp_path / "o.sqlite", key=KEY, batch_size=10) as outbox, fhir(server) as client:
        await outbox.put(bundle(1), invalid, bundle(2), bundle(3))
        result = await outbox.drain(client)
        assert result.sent == 3
        assert result.rejected == (2,)
        held = await outbox.held_back()
        assert held[2].startswith("rejected: FHIR server answered 400")
    assert len(server.resources("Observation")) == 3


class ConfirmThenCrash:
    """Forwards to the server, then fails as if the process died before deleting the rows."""

    def __init__(self, client: FhirClient) -> None:
        self.client = client
        self.crashes = 1

    async def transaction(self, body: bytes) -> object:
        answer = await self.client.transaction(body)
        if self.crashes:
            self.crashes -= 1
            raise FhirConnectionError(
                "https://fhir.example/r4", "connection reset after the server committed"
            )
        return answer


async def test_resend_after_lost_confirmation_creates_nothing_twice(tmp_path: Path) -> None:
    server = FakeFhirServer()
    retry = Retry(backoff=0.0, sleep=Sleeps())
    async with Outbox(tmp_path / "o.sqlite", key=KEY, retry=retry) as outbox, fhir(server) as client:
        await outbox.put(*(bundle(n) for n in range(3)))
        result = await outbox.drain(ConfirmThenCrash(client))
    assert result.sent == 3
    assert len([p for m, p in server.requests if p == ""]) == 2  # the batch went twice
    assert len(server.resources("Observation")) == 3
    assert len(server.resources("Provenance")) == 3


async def test_file_sink_writes_bulk_ndjson_once(tmp_path: Path) -> None:
    readings = [BloodPressure(systolic=120, diastolic=80, pulse_rate=60, measured_at=T0, device=DEVICE)]
    sink = FileSink(tmp_path / "fhir")
    async with Outbox(tmp_path / "o.sqlite", key=KEY) as outbox:
        body = transaction_json(readings, patient="Patient/p1", received_at=T0)
        await outbox.put(body, body)  # the same reading twice
        assert (await outbox.drain(sink)).sent == 2
    files = sorted(p.name for p in (tmp_path / "fhir").iterdir())
    assert files == ["Device.ndjson", "Observation.ndjson", "Provenance.ndjson"]
    observations = [
        json.loads(line) for line in (tmp_path / "fhir" / "Observation.ndjson").read_text().splitlines()
    ]
    assert len(observations) == 2  # the panel and its pulse rate, once each
    device = json.loads((tmp_path / "fhir" / "Device.ndjson").read_text())
    assert {o["device"]["reference"] for o in observations} == {f"Device/{device['id']}"}
    entries = [{"resource": r} for r in observations] + [
        {"fullUrl": f"Device/{device['id']}", "resource": device}
    ]
    assert from_bundle({"resourceType": "Bundle", "type": "collection", "entry": entries}) == readings


async def test_file_sink_drops_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "fhir"
    await FileSink(folder).transaction(bundle(1))
    with (folder / "Observation.ndjson").open("ab") as handle:
        handle.write(b'{"resourceType":"Observ')
    await FileSink(folder).transaction(bundle(2))
    lines = (folder / "Observation.ndjson").read_text().splitlines()
    assert [json.loads(line)["valueQuantity"]["value"] for line in lines] == [51, 52]


@pytest.mark.parametrize("strict", [False, True], ids=["generic", "strict-medplum-plan"])
def test_killed_at_random_points_every_reading_lands_exactly_once(tmp_path: Path, strict: bool) -> None:
    """kill -9 the worker (outbox + fake server persisted to a file) at random steps, many times.

    ``strict``: the fake follows Medplum's limits and HAPI's referential integrity, so every
    drain is an ordered plan of transactions; kills land between its steps as well.
    """
    count = 45
    outbox, store = tmp_path / "outbox.sqlite", tmp_path / "server.json"
    command = [
        sys.executable,
        str(WORKER),
        str(outbox),
        str(store),
        str(count),
        *(["strict"] if strict else []),
    ]
    rng = random.Random(20261124)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    kills = 0
    for _ in range(12):
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        assert worker.stdout is not None
        steps = rng.randint(1, 12)
        finished = False
        for _line in range(steps):
            line = worker.stdout.readline()
            if not line or line.startswith("done"):
                finished = True
                break
        if not finished:
            worker.send_signal(signal.SIGKILL)
        worker.stdout.close()
        if worker.wait() == -signal.SIGKILL:
            kills += 1  # it really died mid-work
    final = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert final.returncode == 0, final.stderr
    assert "done" in final.stdout
    assert kills >= 5
    held = json.loads(store.read_text())["store"]
    observations = list(held["Observation"].values())
    identifiers = [o["identifier"][0]["value"] for o in observations]
    assert len(identifiers) == len(set(identifiers)) == count
    assert sorted(o["valueQuantity"]["value"] for o in observations) == sorted(
        40 + n % 100 for n in range(count)
    )
    assert len(held["Device"]) == 1
    assert len(held["Provenance"]) == count
    if strict:
        assert len(held["Patient"]) == 1
        provenance_targets = [p["target"][0]["reference"] for p in held["Provenance"].values()]
        assert sorted(provenance_targets) == sorted(f"Observation/{o['id']}" for o in observations)


DEVICES = [
    DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F"),
    DeviceInfo(manufacturer="Omni", model="HR-2", system_id="11-22-33-FF-FE-44-55-66"),
]
READINGS = st.builds(
    HeartRate,
    bpm=st.integers(30, 220),
    measured_at=st.integers(0, 50).map(lambda s: T0 + timedelta(seconds=s)),
    device=st.sampled_from(DEVICES),
)


@settings(max_examples=25)
@given(
    readings=st.lists(READINGS, min_size=1, max_size=12),
    repeats=st.lists(st.integers(0, 11), max_size=4),
    batch_size=st.integers(1, 5),
    outage=st.integers(0, 2),
)
def test_any_sequence_lands_exactly_once(
    readings: list[HeartRate], repeats: list[int], batch_size: int, outage: int
) -> None:
    """Whatever is put (duplicates included) and however it is batched, each reading lands once."""
    server = FakeFhirServer()
    server.unreachable = outage > 0

    def back_online() -> None:
        server.unreachable = False

    sent = readings + [readings[i % len(readings)] for i in repeats]
    retry = Retry(backoff=0.0, sleep=Sleeps(on_call=outage, action=back_online))

    async def run(folder: Path) -> None:
        async with Outbox(folder / "o.sqlite", key=KEY, batch_size=batch_size, retry=retry) as outbox:
            await outbox.put(*(transaction_json([r], patient="Patient/p1", received_at=T0) for r in sent))
            async with fhir(server) as client:
                result = await outbox.drain(client)
            assert result.sent == len(sent)
            assert await outbox.pending() == 0

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder)))
    # one Observation per distinct (device, time): the identifier's identity
    distinct = {(r.device.system_id if r.device else None, r.measured_at) for r in readings}
    assert len(server.resources("Observation")) == len(distinct)
    assert len(server.resources("Device")) == len({r.device.system_id for r in readings if r.device})
    held = [{"fullUrl": f"Device/{d['id']}", "resource": d} for d in server.resources("Device")]
    held += [{"resource": o} for o in server.resources("Observation")]
    back = from_bundle({"resourceType": "Bundle", "type": "collection", "entry": held})
    first = {}
    for r in readings:
        first.setdefault((r.device.system_id if r.device else None, r.measured_at), r)
    assert sorted(back, key=lambda m: (m.device.system_id, m.measured_at)) == sorted(
        first.values(), key=lambda m: (m.device.system_id, m.measured_at)
    )


async def test_sink_that_cannot_write_is_retried_not_rejected(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the NDJSON folder should be")
    retry = Retry(backoff=0.0, sleep=Sleeps())
    async with Outbox(tmp_path / "o.sqlite", key=KEY, retry=retry) as outbox:
        await outbox.put(bundle(1))
        with pytest.raises(OutboxError) as info:
            await outbox.drain(FileSink(blocked / "fhir"), max_failures=2)
        assert str(blocked / "fhir") in str(info.value)
        assert await outbox.pending() == 1  # still there, not rejected
        assert await outbox.held_back() == {}


async def test_a_rejected_row_is_sent_again_once_requeued(tmp_path: Path) -> None:
    """The server refuses for good (422) until its operator fixes it; then the row is requeued."""
    server = FakeFhirServer()
    server.fail_next(422)
    async with Outbox(tmp_path / "o.sqlite", key=KEY) as outbox, fhir(server) as client:
        [row] = await outbox.put(bundle(1))
        assert (await outbox.drain(client)).rejected == (row,)
        assert await outbox.pending() == 0
        assert await outbox.requeue(row, 99) == [row]  # 99 is no held-back row: ignored
        assert (await outbox.pending(), await outbox.held_back()) == (1, {})
        assert await outbox.requeue(row) == []  # pending already
        assert (await outbox.drain(client)).sent == 1
    assert len(server.resources("Observation")) == 1


async def test_a_corrupt_row_cannot_be_requeued(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    async with Outbox(path, key=KEY) as outbox:
        [row] = await outbox.put(bundle(1))
    with sqlite3.connect(path) as db:
        (payload,) = db.execute("SELECT payload FROM outbox WHERE id = ?", (row,)).fetchone()
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (bytes([payload[0] ^ 1]) + payload[1:], row))
    async with Outbox(path, key=KEY) as outbox:
        with pytest.raises(OutboxCorrupted):
            await outbox.drain(FileSink(tmp_path / "fhir"))
        assert await outbox.requeue(row) == []
        assert list(await outbox.held_back()) == [row]
