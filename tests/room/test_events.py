"""Events: every subscriber gets its own bounded queue; a slow one never holds the room up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.room.conftest import devices_for, make_config

from telemedroom import CheckInRefused
from telemedroom.fhir import FhirClient
from telemedroom.room import ExamStep, Room, RoomState, StateChanged, parse_event
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import BumbleBackend, FakeFhirServer


async def test_a_subscriber_that_does_not_read_is_restarted_from_the_current_state(data_dir: Path) -> None:
    async with Room(make_config(data_dir, []), event_queue_size=4) as room:
        slow = room.events()  # subscribed now, never read until the end
        fast = room.events()
        seen = [await anext(fast)]
        for n in range(4):
            try:
                await room.check_in(f"NOPE-{n:04d}")
            except CheckInRefused:
                seen.append(await anext(fast))
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        assert [e.type for e in seen] == ["state"] + ["check_in_rejected"] * 4  # the fast one got all
        # the slow one lost what it did not read, and starts again from where the room is
        first = await anext(slow)
        assert isinstance(first, StateChanged)
        assert slow.dropped > 0  # type: ignore[attr-defined]
        rest = [await anext(slow) for _ in range(3)]
        assert [e.type for e in rest] == ["check_in_rejected", "state", "checked_in"]
        assert room.state is RoomState.CHECKED_IN
        await slow.aclose()  # type: ignore[attr-defined]


async def test_every_event_survives_its_wire_form(data_dir: Path) -> None:
    async with BumbleBackend() as radio:
        for device in devices_for(["blood_pressure"]):
            await radio.add(device)
        async with Room(make_config(data_dir, ["blood_pressure"]), ble_backend=radio) as room:
            events = room.events()
            appointment = await room.book_walk_in("pat-1")

            async def physician() -> None:
                async for event in room.events():
                    if event.type == "waiting":
                        break
                url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
                async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                    await doctor.first_video_frame()
                    await doctor.end()

            doctor = asyncio.ensure_future(physician())
            summary = await room.run_visit(appointment.booking_code)
            await doctor
            seen = []
            while not seen or seen[-1].type != "cleaning":
                seen.append(await anext(events))
            seen.append(await anext(events))  # cleaned: idle again
    assert seen[-1] == StateChanged(state=RoomState.IDLE, previous=RoomState.CLEANING,
                                    visit_id=summary.visit_id, at=seen[-1].at)  # fmt: skip
    for event in seen:
        assert parse_event(json.dumps(event.model_dump(mode="json"))) == event
    assert {e.type for e in seen} >= {"state", "checked_in", "device_step", "reading", "waiting", "admitted",
                                      "wrapped_up", "cleaning"}  # fmt: skip
    assert summary.observations == 2


async def test_the_kiosk_gets_a_self_view_before_the_physician_comes(data_dir: Path) -> None:
    async with Room(make_config(data_dir, [])) as room:
        tracks = room.kiosk_tracks()
        assert tracks.physician is None
        frame = await tracks.self_view.recv()
        assert (frame.width, frame.height) == (640, 480)
        tracks.self_view.stop()


async def test_the_kiosk_gets_the_physicians_video_once_admitted(data_dir: Path) -> None:
    from telemedroom.devices.media import MediaSource, Role

    camera = MediaSource.synthetic(Role.ROOM_CAMERA, width=320, height=240)
    async with Room(make_config(data_dir, [])) as room:
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        await room.measure()
        url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
        async with PhysicianPeer(url, token, auto_admit=True, camera=camera) as doctor:
            await room.wait_for_physician(timeout=30)
            await doctor.first_video_frame()  # connected both ways
            tracks = room.kiosk_tracks()
            assert tracks.physician is not None
            frame = await asyncio.wait_for(tracks.physician.recv(), 30)
            assert (frame.width, frame.height) == (320, 240)
            tracks.physician.stop()
            tracks.self_view.stop()
            await room.abort("test over")
        assert room.kiosk_tracks().physician is None


async def test_the_rooms_kiosk_app_checks_a_patient_in(data_dir: Path) -> None:
    import httpx

    async with Room(make_config(data_dir, [])) as room:
        app = room.asgi_app()
        appointment = await room.book_walk_in("pat-1")
        transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            page = await http.get("/kiosk/")
            wrong = await http.post("/kiosk/check-in", json={"code": "NOPE-NOPE"})
            right = await http.post("/kiosk/check-in", json={"code": appointment.booking_code})
        assert page.status_code == 200
        assert (wrong.status_code, wrong.json()["reason"]) == (400, "unknown_code")
        assert right.status_code == 204
        assert room.state is RoomState.CHECKED_IN


async def test_a_facial_protocol_step_shows_on_the_kiosk_and_its_still_goes_to_the_record(
    data_dir: Path,
) -> None:
    server = FakeFhirServer()
    async with (
        FhirClient(server.base_url, transport=server.transport()) as fhir,
        Room(make_config(data_dir, []), fhir_sink=fhir, countdown_tick=0.01) as room,
    ):
        events = room.events()
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        await room.measure()
        url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
        async with PhysicianPeer(url, token, auto_admit=True) as doctor:
            await room.wait_for_physician(timeout=30)
            still = await doctor.exam_step("rest", index=0, total=1)
            await doctor.record_exam(house_brackmann="II")
            assert room.outbox is not None
            assert await room.outbox.pending() == 0  # the grading waits for the wrap-up
            summary = await room.end_consultation()
        await room.drain_outbox()
        seen = []
        while not seen or seen[-1].type != "wrapped_up":
            seen.append(await anext(events))
    steps = [(e.step, e.countdown, e.phase) for e in seen if isinstance(e, ExamStep)]
    assert steps == [("rest", 3, "instruct"), ("rest", 2, "instruct"), ("rest", 1, "instruct"),
                     ("rest", 0, "capture"), ("rest", 0, "done")]  # fmt: skip
    assert [(e.camera, e.step) for e in seen if e.type == "snapshot"] == [("exam", "rest")]
    assert summary.media == 1
    (media,) = server.resources("Media")
    assert media["view"]["coding"][0]["code"] == "rest"
    assert (media["width"], media["height"]) == (still.snapshot.width, still.snapshot.height)
    # the grading came in the same transaction, linked to the visit's Encounter
    (response,) = server.resources("QuestionnaireResponse")
    assert response["encounter"]["reference"] == f"Encounter/{summary.encounter_id}"
    assert summary.outbox_ids == (1,)
