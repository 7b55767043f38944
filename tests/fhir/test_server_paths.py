"""Representative paths to a clinic's FHIR server, against Medplum's engine and the strict fake.

``fhir_server`` runs each test twice: Medplum's FHIR router from npm under Node (real HTTP
on loopback, every written resource validated against R4 by ``@medplum/core``), and
:class:`~telemedroom.testing.FakeFhirServer` with every real server's rule on (a fake,
answering real FHIR JSON). The client has Medplum's profile on both: the outbox cuts each
batch into transactions the server accepts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tests._fhir_servers import ServerUnderTest

from telemedroom import BloodGlucose, DeviceInfo, HeartRate
from telemedroom.fhir import FhirClient, Outbox, Retry, ServerProfile, transaction_json
from telemedroom.monitoring import Alert, AlertEvent, alert_bundle

KEY = bytes(range(32))
T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
MEDPLUM = ServerProfile.named("medplum")


class Offline(httpx.AsyncBaseTransport):
    """The network between room and clinic: down while ``down`` is set, else the real transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = True
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            self.refused += 1
            raise httpx.ConnectError("network is down", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def transport_of(server: ServerUnderTest) -> httpx.AsyncBaseTransport:
    return server.transport or httpx.AsyncHTTPTransport()


async def a_patient(fhir: FhirClient) -> str:
    """The clinic registered the patient: a server-assigned id."""
    patient = await fhir.create(
        {"resourceType": "Patient", "identifier": [{"system": "urn:test:mrn", "value": "4711"}]},
        if_none_exist="identifier=urn:test:mrn|4711",
    )
    return f"Patient/{patient.id}"


async def test_readings_queued_through_offline_periods_land_once(
    fhir_server: ServerUnderTest, tmp_path: Path
) -> None:
    cuff = DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F")
    network = Offline(transport_of(fhir_server))
    async with (
        fhir_server.client() as setup,
        FhirClient(fhir_server.base_url, transport=network, profile=MEDPLUM, retry=Retry(attempts=1)) as fhir,
        Outbox(tmp_path / "outbox.sqlite", key=KEY, batch_size=5, retry=Retry(backoff=0.0)) as outbox,
    ):
        patient = await a_patient(setup)
        for n in range(12):
            reading = HeartRate(bpm=60 + n, measured_at=T0 + timedelta(minutes=n), device=cuff)
            await outbox.put(transaction_json([reading], patient=patient, received_at=T0))
            if n in (3, 8):  # the network comes back for a while, then drops again
                network.down = False
                await outbox.drain(fhir)
                network.down = True
        draining = asyncio.ensure_future(outbox.drain(fhir))
        while network.refused < 3 + 4:  # a few more refused tries, then the network is back
            await asyncio.sleep(0.01)
        network.down = False
        result = await asyncio.wait_for(draining, 120)
        # the same readings again (a room replaying its queue): nothing twice
        for n in range(12):
            reading = HeartRate(bpm=60 + n, measured_at=T0 + timedelta(minutes=n), device=cuff)
            await outbox.put(transaction_json([reading], patient=patient, received_at=T0))
        await outbox.drain(fhir)
    assert result.rejected == ()
    observations = fhir_server.resources("Observation")
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [60 + n for n in range(12)]
    assert len(fhir_server.resources("Device")) == 1
    assert len(fhir_server.resources("Provenance")) == 12
    assert fhir_server.unresolved_references(("Observation", "Device", "Provenance")) == []


async def test_with_update_as_create_readings_go_as_puts_and_land_once(
    update_create_server: ServerUnderTest, tmp_path: Path
) -> None:
    """A client that may set ids (a Medplum project admin's): Observations as PUTs, still exactly once."""
    server = update_create_server
    cuff = DeviceInfo(manufacturer="Acme", system_id="00-1B-2C-FF-FE-3D-4E-5F")
    profile = ServerProfile.named("medplum", update_create=True)
    readings = [HeartRate(bpm=60 + n, measured_at=T0 + timedelta(minutes=n), device=cuff) for n in range(30)]
    async with (
        server.client(profile=profile) as fhir,
        Outbox(tmp_path / "outbox.sqlite", key=KEY, batch_size=100) as outbox,
    ):
        patient = await a_patient(fhir)
        for reading in readings:
            await outbox.put(transaction_json([reading], patient=patient, received_at=T0))
        first = await outbox.drain(fhir)
        for reading in readings[:10]:  # a room replaying part of its queue: nothing twice
            await outbox.put(transaction_json([reading], patient=patient, received_at=T0))
        second = await outbox.drain(fhir)
    assert (first.sent, first.rejected, second.sent, second.rejected) == (30, (), 10, ())
    # one step with the conditional Device (<= 8 entries), then PUTs only, <= 50 a transaction
    assert first.batches == 3
    observations = server.resources("Observation")
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [60 + n for n in range(30)]
    assert len(server.resources("Device")) == 1
    assert len(server.resources("Provenance")) == 30
    assert server.unresolved_references(("Observation", "Device", "Provenance")) == []


async def test_a_glucometers_stored_records_transfer_once(
    fhir_server: ServerUnderTest, tmp_path: Path
) -> None:
    """A record transfer (RACP) hands over the meter's stored records; a later transfer repeats some."""
    meter = DeviceInfo(manufacturer="Acme", model="GL-1", system_id="11-22-33-FF-FE-44-55-66")

    def record(sequence: int) -> BloodGlucose:
        return BloodGlucose(
            value=90 + sequence, sequence_number=sequence, measured_at=T0 + timedelta(hours=sequence),
            sample_type="capillary_plasma", device=meter,
        )  # fmt: skip

    async with (
        fhir_server.client(profile=MEDPLUM) as fhir,
        Outbox(tmp_path / "outbox.sqlite", key=KEY) as outbox,
    ):
        patient = await a_patient(fhir)
        await outbox.put(transaction_json([record(n) for n in range(1, 11)], patient=patient))
        await outbox.put(transaction_json([record(n) for n in range(8, 15)], patient=patient))
        result = await outbox.drain(fhir)
    assert result.rejected == ()
    values = sorted(o["valueQuantity"]["value"] for o in fhir_server.resources("Observation"))
    assert values == [90 + n for n in range(1, 15)]
    assert fhir_server.unresolved_references(("Observation", "Device", "Provenance")) == []


def alert_event(kind: str, patient: str, recipient: str, at: datetime, actor: str = "monitor") -> AlertEvent:
    alert = Alert(
        id="a1", patient=patient, rule_id="spo2-low", rule_type="threshold", condition="spo2<92",
        severity="high", message="SpO2 89 % is below 92", raised_at=T0,
        cleared_at=at if kind == "cleared" else None,
        acknowledged_by=actor if kind in ("acknowledged", "cleared") and actor != "monitor" else None,
    )  # fmt: skip
    return AlertEvent(id=f"e-{kind}", type=kind, at=at, alert=alert, recipient=recipient, actor=actor)  # type: ignore[arg-type]


async def test_a_monitoring_alert_is_raised_and_cleared_on_the_server(
    fhir_server: ServerUnderTest, tmp_path: Path
) -> None:
    """Each event drained on its own, so an escalation's Communication meets no Flag in its batch."""
    async with (
        fhir_server.client(profile=MEDPLUM) as fhir,
        Outbox(tmp_path / "outbox.sqlite", key=KEY) as outbox,
    ):
        patient = await a_patient(fhir)
        team = f"CareTeam/{(await fhir.create({'resourceType': 'CareTeam', 'name': 'Ward 3'})).id}"
        chief = await fhir.create({"resourceType": "Practitioner", "name": [{"family": "Weber"}]})
        on_call = f"Practitioner/{chief.id}"
        story = [
            alert_event("raised", patient, team, T0),
            alert_event("escalated", patient, on_call, T0 + timedelta(minutes=15)),
            alert_event("acknowledged", patient, team, T0 + timedelta(minutes=20), actor=on_call),
            alert_event("cleared", patient, team, T0 + timedelta(hours=2), actor=on_call),
        ]
        drained = []
        for event in story:  # the default sender: the monitor's own Device, in each bundle
            await outbox.put(alert_bundle(event))
            drained.append(await outbox.drain(fhir))
    assert [d.rejected for d in drained] == [()] * 4, [d.reasons for d in drained]
    (flag,) = fhir_server.resources("Flag")  # the same Flag, updated by its identifier
    assert flag["status"] == "inactive"
    assert flag["subject"]["reference"] == patient
    communications = fhir_server.resources("Communication")
    assert len(communications) == 4
    assert {c["about"][0]["reference"] for c in communications} == {f"Flag/{flag['id']}"}
    (monitor,) = fhir_server.resources("Device")  # one Device, however many events
    assert {c["sender"]["reference"] for c in communications if "reference" in c["sender"]} == {
        f"Device/{monitor['id']}",
        on_call,  # who acknowledged
    }
    assert len(fhir_server.resources("DetectedIssue")) == 1
    kinds: tuple[str, ...] = ("Flag", "Communication", "DetectedIssue", "Device")
    assert fhir_server.unresolved_references(kinds) == []


async def test_the_published_schedule_lands_with_its_references(
    fhir_server: ServerUnderTest, tmp_path: Path
) -> None:
    """The scheduling publication (Location, Schedule, Slots) written as one bundle through the outbox."""
    import json
    import uuid

    from telemedroom.scheduling import Resource as ScheduleResource
    from telemedroom.scheduling import Slot, bulk_publish

    room = ScheduleResource(id="room-1", kind="room", name="Room Nord 1")
    slots = [
        Slot(service_id="gp-20", resource_ids=("room-1",), start=T0 + timedelta(minutes=20 * n),
             end=T0 + timedelta(minutes=20 * (n + 1)))
        for n in range(12)
    ]  # fmt: skip
    publication = bulk_publish("https://room.example/slots", [room], slots, transaction_time=T0)
    resources: list[dict[str, Any]] = [
        json.loads(line) for text in publication.files.values() for line in text.splitlines()
    ]
    entries = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, r['resourceType'] + '/' + r['id'])}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for r in resources
    ]
    async with (
        fhir_server.client(profile=MEDPLUM) as fhir,
        Outbox(tmp_path / "outbox.sqlite", key=KEY) as outbox,
    ):
        await outbox.put({"resourceType": "Bundle", "type": "transaction", "entry": entries})
        await outbox.put({"resourceType": "Bundle", "type": "transaction", "entry": entries})  # again
        result = await outbox.drain(fhir)
    assert result.rejected == ()
    kinds = ("Location", "Schedule", "Slot")
    assert {kind: len(fhir_server.resources(kind)) for kind in kinds} == {
        kind: sum(1 for r in resources if r["resourceType"] == kind) for kind in kinds
    }
    assert len(fhir_server.resources("Slot")) == 12
    assert fhir_server.unresolved_references(kinds) == []
