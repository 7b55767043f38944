"""In consultation: the patient hears the physician, and the devices keep measuring.

The Bluetooth radio is BumbleBackend (bumble virtual controllers, real GATT bytes: a fake
radio); the physician is the scripted PhysicianPeer (a headless aiortc client) sending a
synthetic 440 Hz tone as its voice; the kiosk page is an aiortc peer connection making
the page's offer. Signaling, WebRTC, the room and the FHIR files are real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription
from av import AudioFrame
from tests.room.conftest import AT, make_config

from telemedroom import BloodPressure, Measurement
from telemedroom._loopback import KioskPeers
from telemedroom.devices.media import MediaSource, Role
from telemedroom.room import ReadingTaken, Room, RoomEvent, RoomState
from telemedroom.session import AuditLog
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

FIRST = BloodPressure(systolic=128, diastolic=82, pulse_rate=64, measured_at=AT)
SECOND = BloodPressure(systolic=121, diastolic=79, pulse_rate=61, measured_at=AT + timedelta(minutes=6))


async def page_offer(pc: RTCPeerConnection) -> dict[str, str]:
    """The kiosk page's offer: two receive-only video transceivers, one receive-only audio."""
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": "offer"}


def peak(frame: AudioFrame) -> int:
    """The largest absolute sample of a decoded frame (signed 16-bit, interleaved)."""
    assert frame.format.name == "s16"
    size = frame.samples * len(frame.layout.channels) * 2
    samples = memoryview(bytes(frame.planes[0])[:size]).cast("h")
    return max(abs(sample) for sample in samples)


def pressures(readings: Sequence[Measurement]) -> list[tuple[float | None, float | None]]:
    return [(r.systolic, r.diastolic) for r in readings if isinstance(r, BloodPressure)]


def live_vitals_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "LiveVitals." in repr(t.get_coro())]


async def test_the_kiosk_plays_the_physicians_voice(data_dir: Path) -> None:
    config = make_config(data_dir, [])
    async with Room(config) as room:
        appointment = await room.book_walk_in("pat-voice")
        await room.check_in(appointment.booking_code)
        await room.measure()
        url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
        microphone = MediaSource.synthetic(Role.MICROPHONE)
        async with PhysicianPeer(url, token, auto_admit=True, microphone=microphone):
            await room.wait_for_physician(timeout=30)
            assert room.peer is not None
            # connected: the room has taken the physician's answer, and with it the track
            await asyncio.wait_for(room.peer.connected.wait(), 30)
            peers = KioskPeers(room.kiosk_tracks)
            page = RTCPeerConnection()
            try:
                answer = await peers.answer((await page_offer(page))["sdp"])
                assert answer["tracks"] == {"self_view": True, "physician": False, "physician_audio": True}
                await page.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
                (audio,) = [t for t in page.getTransceivers() if t.kind == "audio"]
                peaks = []
                for _ in range(50):  # a second of 20 ms Opus frames
                    frame = await asyncio.wait_for(audio.receiver.track.recv(), 20)
                    assert isinstance(frame, AudioFrame)
                    peaks.append(peak(frame))
            finally:
                await page.close()
                await peers.aclose()
            await room.end_consultation()
    # the 440 Hz tone at a quarter of full scale (8192) came through Opus; silence would be ~0
    assert max(peaks) > 4000
    assert (frame.sample_rate, frame.layout.name) == (48000, "stereo")


async def test_a_second_blood_pressure_in_consultation_reaches_the_physician_and_the_record(
    data_dir: Path,
) -> None:
    events: list[RoomEvent] = []
    async with BumbleBackend() as radio:
        cuff = await radio.add(
            VirtualBloodPressureCuff([BloodPressure(systolic=150, diastolic=None, intermediate=True), FIRST])
        )
        async with Room(make_config(data_dir, ["blood_pressure"]), ble_backend=radio) as room:
            subscription = room.events()
            appointment = await room.book_walk_in("pat-live")
            await room.check_in(appointment.booking_code)
            assert pressures(await room.measure()) == [(128, 82)]
            # the physician will ask for a second measurement: the patient presses start, the
            # cuff inflates and measures, then advertises with the new reading to send
            cuff.readings += [BloodPressure(systolic=135, diastolic=None, intermediate=True), SECOND]
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                await room.wait_for_physician(timeout=30)
                assert room.state is RoomState.IN_CONSULTATION
                received = doctor.measurements()
                seen = [await asyncio.wait_for(anext(received), 30) for _ in range(2)]
                assert live_vitals_tasks()  # reading in the background
                summary = await room.end_consultation()
                assert live_vitals_tasks() == []  # stopped with the consultation: no orphan
            await room.wait_idle()
            await room.drain_outbox()
            async for event in subscription:
                events.append(event)
                if event.type == "wrapped_up":
                    break
    assert pressures(seen) == [(128, 82), (121, 79)]
    assert list(summary.measurements) == seen  # the same readings the physician saw, in order
    live = [e for e in events if isinstance(e, ReadingTaken) and e.live]
    assert [(e.device, e.summary) for e in live] == [("blood_pressure", "121/79 mmHg")]
    # the wrap-up's Observations: both blood pressures (and each one's pulse)
    folder = data_dir / "fhir"
    observations = [json.loads(line) for line in (folder / "Observation.ndjson").read_text().splitlines()]
    systolic = sorted(
        component["valueQuantity"]["value"]
        for o in observations
        for component in o.get("component", [])
        if component["code"]["coding"][0]["code"] == "8480-6"  # LOINC systolic blood pressure
    )
    assert systolic == [121, 128]
    assert all(o["encounter"]["reference"] == f"Encounter/{summary.encounter_id}" for o in observations)
    # audited as a live reading, health data left out
    entries = [e for e in AuditLog.read_entries(data_dir / "audit.jsonl") if e.action == "measurement"]
    assert [e.detail.get("live") for e in entries] == [None, "true"]
    assert "121" not in json.dumps([e.detail for e in entries])


async def test_an_aborted_consultation_stops_the_live_readings_and_writes_nothing(data_dir: Path) -> None:
    async with BumbleBackend() as radio:
        cuff = await radio.add(VirtualBloodPressureCuff([FIRST]))
        async with Room(make_config(data_dir, ["blood_pressure"]), ble_backend=radio) as room:
            appointment = await room.book_walk_in("pat-abort")
            await room.check_in(appointment.booking_code)
            await room.measure()
            cuff.readings.append(SECOND)
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                await room.wait_for_physician(timeout=30)
                received = doctor.measurements()
                seen = [await asyncio.wait_for(anext(received), 30) for _ in range(2)]
                await room.abort("patient left")
                assert live_vitals_tasks() == []
            assert room.state is RoomState.IDLE
            assert room.readings == []
            await room.drain_outbox()
    assert pressures(seen) == [(128, 82), (121, 79)]
    assert not (data_dir / "fhir").exists() or not any((data_dir / "fhir").iterdir())
