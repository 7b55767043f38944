"""The room's wrap-up writes the facial measurements: one Observation per measure, from the still's Media.

A real Room (embedded signaling, FakeFhirServer with HAPI's and Medplum's rules as sink)
whose exam camera plays a real face (tests/_face.py); the physician is a scripted
PhysicianPeer. Every resource of the transaction is validated by fhir.resources.
"""

from __future__ import annotations

from pathlib import Path

from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from tests import _face
from tests.room.conftest import make_config

from telemedroom.exams import FACIAL_CODES, MEASURES, NOT_A_DIAGNOSIS
from telemedroom.fhir import FhirClient
from telemedroom.room import MediaSettings, Room
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import FakeFhirServer


async def test_the_wrap_up_holds_an_observation_per_measure_linked_to_its_still(
    data_dir: Path, tmp_path: Path
) -> None:
    _face.detector()
    camera = _face.face_video(tmp_path / "face.avi")
    config = make_config(
        data_dir, [], facial_measurements=True, media=MediaSettings(exam_camera=f"file:{camera}")
    )
    server = FakeFhirServer()
    async with (
        FhirClient(server.base_url, transport=server.transport()) as fhir,
        Room(config, fhir_sink=fhir, countdown_tick=0.01) as room,
    ):
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        await room.measure()
        url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
        async with PhysicianPeer(url, token, auto_admit=True) as doctor:
            await room.wait_for_physician(timeout=60)
            for index, code in enumerate(("rest", "smile-with-teeth")):
                await doctor.exam_step(code, index=index, total=2)
            summary = await room.end_consultation()
        await room.drain_outbox()

    media = {m["view"]["coding"][0]["code"]: m["id"] for m in server.resources("Media")}
    assert set(media) == {"rest", "smile-with-teeth"}
    observations = [
        o for o in server.resources("Observation") if o["code"]["coding"][0]["system"] == FACIAL_CODES
    ]
    expected = [s.code for s in MEASURES if s.step in media]
    assert sorted(o["code"]["coding"][0]["code"] for o in observations) == sorted(expected)
    names = {d["id"]: [n["name"] for n in d.get("deviceName", [])] for d in server.resources("Device")}
    (device,) = [d for d in server.resources("Device") if "telemedroom facial measurements" in names[d["id"]]]
    Device.model_validate(device)
    assert "0.10.14" in device["version"][1]["value"]
    for obs in observations:
        Observation.model_validate(obs)
        assert obs["encounter"]["reference"] == f"Encounter/{summary.encounter_id}"
        assert obs["note"][0]["text"] == NOT_A_DIAGNOSIS
        assert obs["device"]["reference"] == f"Device/{device['id']}"
        step = next(s.step for s in MEASURES if s.code == obs["code"]["coding"][0]["code"])
        derived = [d["reference"] for d in obs["derivedFrom"]]
        assert derived[0] == f"Media/{media[step]}"
        if obs["code"]["coding"][0]["code"] == "commissure-excursion":
            assert derived == [f"Media/{media['smile-with-teeth']}", f"Media/{media['rest']}"]
    # the same still at rest and smiling: the excursion is the landmarks' scatter, no % of normal
    smile = next(o for o in observations if o["code"]["coding"][0]["code"] == "commissure-excursion")
    parts = {c["code"]["coding"][0]["code"]: c for c in smile["component"]}
    assert parts["left-side"]["valueQuantity"]["value"] < 3
    assert "percent-of-normal" not in parts
    assert summary.outbox_ids == (1,)  # all in the visit's one transaction
