"""A whole visit end to end: virtual devices, local signaling, a scripted physician, FHIR written."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from tests.room.conftest import devices_for, make_config

from telemedroom import BloodPressure, OxygenSaturation
from telemedroom.errors import RoomStateError
from telemedroom.fhir import FhirClient
from telemedroom.room import Room, RoomErrorEvent, RoomEvent, RoomState, SessionSettings
from telemedroom.session import AuditLog
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import BumbleBackend, FakeFhirServer

KINDS = ("blood_pressure", "pulse_oximeter", "thermometer")


async def collect(room: Room, into: list[RoomEvent], until_idle_after_wrap: asyncio.Event) -> None:
    wrapped = False
    async for event in room.events():
        into.append(event)
        wrapped = wrapped or event.type == "wrapped_up"
        if wrapped and event.type == "state" and event.state is RoomState.IDLE:
            until_idle_after_wrap.set()
            return


async def test_a_full_visit_ends_in_one_fhir_transaction_on_the_server(data_dir: Path) -> None:
    """FakeFhirServer is a fake (an in-process FHIR R4 server); the rest is real."""
    server = FakeFhirServer()
    events: list[RoomEvent] = []
    done = asyncio.Event()
    async with BumbleBackend() as radio, FhirClient(server.base_url, transport=server.transport()) as fhir:
        for device in devices_for(KINDS):
            await radio.add(device)
        async with Room(make_config(data_dir, KINDS), ble_backend=radio, fhir_sink=fhir) as room:
            watcher = asyncio.ensure_future(collect(room, events, done))
            appointment = await room.book_walk_in("pat-1")
            visit = await room.check_in(appointment.booking_code)
            readings = await room.measure()
            assert room.state is RoomState.WAITING
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                await room.wait_for_physician(timeout=30)
                assert room.state is RoomState.IN_CONSULTATION
                live = doctor.measurements()
                forwarded = [await anext(live) for _ in readings]
                frame = await doctor.first_video_frame()
                await room.take_snapshot("exam", step="rest")
                summary = await room.end_consultation()
            await room.wait_idle()
            await asyncio.wait_for(done.wait(), 10)
            drained = await room.drain_outbox()
            await watcher
    # the readings: final ones only (no inflating cuff, no settling thermometer), in guided order
    assert [type(r).__name__ for r in readings] == ["BloodPressure", "OxygenSaturation", "BodyTemperature"]
    assert isinstance(readings[0], BloodPressure)
    assert (readings[0].systolic, readings[0].diastolic) == (128, 82)
    assert isinstance(readings[1], OxygenSaturation)
    assert forwarded == readings  # the physician got every reading on the vitals channel
    assert (frame.width, frame.height) == (640, 480)
    # one transaction, on the server
    assert drained.sent == 1
    assert len(summary.outbox_ids) == 1
    encounters = server.resources("Encounter")
    assert len(encounters) == 1
    encounter = encounters[0]
    assert encounter["id"] == summary.encounter_id
    assert encounter["class"]["code"] == "VR"
    assert encounter["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert encounter["status"] == "finished"
    assert encounter["subject"]["reference"] == "Patient/pat-1"
    assert encounter["appointment"][0]["identifier"] == {
        "system": "urn:telemedroom:appointment",
        "value": appointment.id,
    }
    assert encounter["period"]["start"] <= encounter["period"]["end"]
    observations = server.resources("Observation")
    # cuff (BP + its pulse), oximeter (SpO2 + its pulse), thermometer
    assert len(observations) == summary.observations == 5
    assert {o["encounter"]["reference"] for o in observations} == {f"Encounter/{summary.encounter_id}"}
    media = server.resources("Media")
    assert len(media) == summary.media == 1
    assert media[0]["view"]["coding"][0]["code"] == "rest"
    assert media[0]["content"]["contentType"] == "image/png"
    (provenance,) = server.resources("Provenance")
    targets = {t["reference"] for t in provenance["target"]}
    assert f"Encounter/{summary.encounter_id}" in targets
    assert len(targets) == 1 + 5 + 1
    # the events tell the story, in order, without names, tokens or booking codes
    states = [e.state.value for e in events if e.type == "state"]
    assert states == [
        "idle", "checked_in", "measuring", "waiting", "in_consultation", "wrap_up", "cleaning", "idle"
    ]  # fmt: skip
    kinds = [e.type for e in events]
    assert kinds.index("checked_in") < kinds.index("device_step") < kinds.index("waiting")
    assert (
        kinds.index("admitted")
        < kinds.index("snapshot")
        < kinds.index("wrapped_up")
        < kinds.index("cleaning")
    )
    steps = [(e.device, e.status) for e in events if e.type == "device_step"]
    assert steps[:4] == [
        ("blood_pressure", "waiting"),
        ("blood_pressure", "connecting"),
        ("blood_pressure", "measuring"),
        ("blood_pressure", "done"),
    ]
    wire = json.dumps([e.model_dump(mode="json") for e in events])
    assert appointment.booking_code not in wire
    assert token not in wire
    assert visit.patient not in wire
    # the audit chain holds the visit and verifies
    log = AuditLog(data_dir / "audit.jsonl")
    log.verify()
    actions = [entry.action.value for entry in log]
    for action in ("checked_in", "measurement", "admitted", "snapshot", "wrapped_up"):
        assert action in actions


async def test_without_a_fhir_server_the_record_goes_to_ndjson_files(data_dir: Path) -> None:
    async with BumbleBackend() as radio:
        for device in devices_for(["scale"]):
            await radio.add(device)
        async with Room(make_config(data_dir, ["scale"]), ble_backend=radio) as room:
            appointment = await room.book_walk_in("pat-2")
            await room.check_in(appointment.booking_code)
            await room.measure()
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                await room.wait_for_physician(timeout=30)
                await doctor.snapshot()  # the physician asks for a still: it goes into the record too
                summary = await room.end_consultation()
            await room.wait_idle()
            await room.drain_outbox()
    folder = data_dir / "fhir"
    files = sorted(p.name for p in folder.iterdir())
    assert files == [
        "Device.ndjson", "Encounter.ndjson", "Media.ndjson", "Observation.ndjson", "Provenance.ndjson"
    ]  # fmt: skip
    (encounter,) = [json.loads(line) for line in (folder / "Encounter.ndjson").read_text().splitlines()]
    assert encounter["id"] == summary.encounter_id
    assert encounter["class"]["code"] == "VR"
    observations = [json.loads(line) for line in (folder / "Observation.ndjson").read_text().splitlines()]
    # the scale sends weight, height and BMI (LOINC 29463-7, 8302-2, 39156-5)
    by_code = {o["code"]["coding"][0]["code"]: o for o in observations}
    assert sorted(by_code) == ["29463-7", "39156-5", "8302-2"]
    weight = by_code["29463-7"]
    assert weight["valueQuantity"]["value"] == 72.4
    assert {o["encounter"]["reference"] for o in observations} == {f"Encounter/{summary.encounter_id}"}
    assert summary.media == 1


class Recorder:
    """A FhirSink that keeps the bytes it is given (a fake server would parse them; here we want them)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def transaction(self, bundle: bytes) -> object:
        self.bodies.append(bundle)
        return None


async def test_the_wrap_up_bundle_validates_with_fhir_resources(data_dir: Path) -> None:
    recorder = Recorder()
    kinds = ["blood_pressure", "glucometer"]
    async with BumbleBackend() as radio:
        for device in devices_for(kinds):
            await radio.add(device)
        async with Room(make_config(data_dir, kinds), ble_backend=radio, fhir_sink=recorder) as room:
            appointment = await room.book_walk_in("pat-3")
            await room.check_in(appointment.booking_code)
            await room.measure()
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True):
                await room.wait_for_physician(timeout=30)
                await room.take_snapshot("room")
                await room.end_consultation()
            await room.drain_outbox()
    (body,) = recorder.bodies
    parsed = Bundle.model_validate_json(body)
    assert parsed.type == "transaction"
    types = [entry.resource.__resource_type__ for entry in parsed.entry]
    assert types[0] == "Encounter"
    assert types.count("Observation") == 3  # blood pressure, its pulse rate, the glucose record
    assert types.count("Media") == 1
    assert types[-1] == "Provenance"


async def physician_ends(room: Room, appointment_id: str) -> None:
    """A scripted physician: admit whoever waits, end the visit."""
    token = room.physician_token(appointment_id)
    async with PhysicianPeer(room.visit_url(appointment_id), token) as doctor:
        waiting = await doctor.next_waiting(timeout=30)
        await doctor.admit(waiting.id)
        await doctor.end()


async def test_continue_visit_needs_a_checked_in_visit(data_dir: Path) -> None:
    async with Room(make_config(data_dir, [])) as room:
        with pytest.raises(RoomStateError) as caught:
            await room.continue_visit()
    assert (caught.value.state, caught.value.action) == ("idle", "continue_visit")


async def test_continue_visit_carries_a_visit_checked_in_elsewhere_to_its_record(data_dir: Path) -> None:
    async with BumbleBackend() as radio:
        for device in devices_for(["thermometer"]):
            await radio.add(device)
        async with Room(make_config(data_dir, ["thermometer"]), ble_backend=radio) as room:
            appointment = await room.book_walk_in("pat-4")
            visit = await room.check_in(appointment.booking_code)  # as the kiosk page does
            doctor = asyncio.create_task(physician_ends(room, appointment.id))
            summary = await room.continue_visit()
            await doctor
            assert room.state is RoomState.IDLE
            await room.drain_outbox()
    assert summary.visit_id == visit.visit_id
    assert [type(m).__name__ for m in summary.measurements] == ["BodyTemperature"]
    assert (data_dir / "fhir" / "Encounter.ndjson").exists()


async def test_serve_visits_aborts_a_failed_visit_and_serves_the_next(data_dir: Path) -> None:
    """The first patient is never admitted (no physician comes): aborted, and the room goes on."""
    config = make_config(data_dir, [], session=SessionSettings(embedded=True, admission_timeout_s=0.5))
    async with Room(config) as room:
        events = room.events()
        visits = room.serve_visits()
        first_summary = asyncio.ensure_future(anext(visits))
        forgotten = await room.book_walk_in("pat-5", minutes=1)
        await room.check_in(forgotten.booking_code)
        async for event in events:
            if isinstance(event, RoomErrorEvent):
                aborted = event
                break
        await room.wait_idle()
        assert not first_summary.done()  # an aborted visit has no summary: the room waits for the next
        seen = await room.book_walk_in("pat-6")
        await room.check_in(seen.booking_code)
        await physician_ends(room, seen.id)
        summary = await first_summary
        assert summary.appointment_id == seen.id
        assert room.state is RoomState.IDLE
        waiting_for_the_next = asyncio.ensure_future(anext(visits))
    # closing the room ends the iteration
    with pytest.raises(StopAsyncIteration):
        await waiting_for_the_next
    assert aborted.state is RoomState.WAITING
    assert aborted.message.startswith("visit aborted: ")
