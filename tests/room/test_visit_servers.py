"""A whole visit's record on FHIR servers this project did not write: Medplum's engine, the strict fake.

Medplum's engine is Medplum's FHIR router from npm under Node (every written resource
validated against R4 by ``@medplum/core``), reached over real HTTP on loopback; the
strict fake is :class:`~telemedroom.testing.FakeFhirServer` with HAPI's referential
integrity and Medplum's limits switched on (a fake: an in-process server answering real
FHIR JSON). The devices are bumble virtual peripherals, the physician a scripted peer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests._fhir_servers import ServerUnderTest
from tests._medplum_server import MedplumServer
from tests.room.conftest import devices_for, make_config

from telemedroom.fhir import FhirClient, Retry, ServerProfile
from telemedroom.room import FhirSettings, Room, VisitSummary
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import BumbleBackend

KINDS = ("blood_pressure", "pulse_oximeter", "thermometer", "scale", "glucometer")  # every kind a room guides
KVNR = "http://fhir.de/sid/gkv/kvid-10"
RECORD_TYPES = (
    "Patient", "Encounter", "Observation", "Device", "Media", "Provenance", "QuestionnaireResponse"
)  # fmt: skip


async def visit(data_dir: Path, fhir: FhirClient) -> tuple[VisitSummary, Any]:
    """Check in, measure on every device, a still, a facial grading, end; then drain the outbox."""
    config = make_config(data_dir, KINDS, fhir=FhirSettings(server="medplum", patient_identifier_system=KVNR))
    async with BumbleBackend() as radio:
        for device in devices_for(KINDS):
            await radio.add(device)
        async with Room(config, ble_backend=radio, fhir_sink=fhir, countdown_tick=0.01) as room:
            appointment = await room.book_walk_in("A123456789")
            await room.check_in(appointment.booking_code)
            await room.measure()
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                await room.wait_for_physician(timeout=60)
                await room.take_snapshot("exam", step="rest")
                await doctor.exam_step("smile-with-teeth", index=0, total=1)
                await doctor.record_exam(house_brackmann="II")
                summary = await room.end_consultation()
            drained = await room.drain_outbox()
    return summary, drained


async def test_the_unsplit_wrap_up_is_refused_by_medplum(data_dir: Path, medplum: MedplumServer) -> None:
    """The issue's finding, reproduced: sent as one transaction, Medplum refuses the record."""
    async with FhirClient(medplum.base_url, retry=Retry(attempts=1)) as fhir:  # profile: generic
        summary, drained = await visit(data_dir, fhir)
    assert drained.sent == 0
    assert drained.rejected == summary.outbox_ids
    (reason,) = drained.reasons.values()
    assert "400" in reason
    assert "Transaction requires strict isolation but has too many entries" in reason
    assert medplum.all_of("Encounter") == []  # atomic: nothing of it landed


async def test_a_whole_visit_lands_on_the_server_and_every_reference_resolves(
    data_dir: Path, fhir_server: ServerUnderTest
) -> None:
    profile = ServerProfile.named("medplum")
    async with fhir_server.client(profile=profile) as fhir:
        summary, drained = await visit(data_dir, fhir)
    assert drained.rejected == (), drained.reasons
    assert drained.sent == len(summary.outbox_ids) == 1
    assert drained.batches > 1  # an ordered plan of transactions within Medplum's limits
    (patient,) = fhir_server.resources("Patient")
    assert patient["identifier"] == [{"system": KVNR, "value": "A123456789"}]
    (encounter,) = fhir_server.resources("Encounter")
    assert encounter["subject"]["reference"] == f"Patient/{patient['id']}"
    assert encounter["identifier"][0]["value"].endswith(summary.visit_id)
    assert encounter["appointment"][0]["identifier"]["value"] == summary.appointment_id
    observations = fhir_server.resources("Observation")
    # five devices' readings (cuff and oximeter each with a pulse, the scale with height and
    # BMI) and the exam's grade
    assert len(observations) == summary.observations + 1 == 10
    assert {o["subject"]["reference"] for o in observations} == {f"Patient/{patient['id']}"}
    assert {o["encounter"]["reference"] for o in observations} == {f"Encounter/{encounter['id']}"}
    media = fhir_server.resources("Media")
    assert len(media) == summary.media == 2  # the room's still and the protocol step's
    assert len(fhir_server.resources("QuestionnaireResponse")) == 1
    (provenance,) = fhir_server.resources("Provenance")
    assert f"Encounter/{encounter['id']}" in {t["reference"] for t in provenance["target"]}
    devices = fhir_server.resources("Device")
    assert len(devices) == len(KINDS) + 1  # each device and the room (the gateway)
    assert fhir_server.unresolved_references(RECORD_TYPES) == []
