"""``telemedroom serve``: the kiosk page of a room from room.toml, and visits carried on after check-in."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from rich.console import Console

from telemedroom import BodyTemperature
from telemedroom._cli._serve import serve_room
from telemedroom._cli._timeline import Timeline
from telemedroom._room._sinks import outbox_path
from telemedroom.cli import ExitCode
from telemedroom.fhir import FhirClient, Outbox, Retry
from telemedroom.room import (
    RecordDelivered,
    RecordRejected,
    Room,
    RoomConfig,
    RoomState,
    StateChanged,
    VisitWrappedUp,
)
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import BumbleBackend, FakeFhirServer, VirtualThermometer


def embedded(room_toml: Path, port: int, devices: str = "[]") -> Path:
    text = room_toml.read_text().replace("devices = []", f"devices = {devices}")
    room_toml.write_text(
        text + f"cleaning_buffer_minutes = 0\n\n[session]\nembedded = true\n\n[kiosk]\nport = {port}\n"
    )
    return room_toml


def test_serve_runs_the_kiosk_until_ctrl_c(room_toml: Path, unused_tcp_port: int) -> None:
    """The command as an operator runs it: a process, its kiosk over HTTP, stopped with SIGINT."""
    embedded(room_toml, unused_tcp_port)
    process = subprocess.Popen(
        [sys.executable, "-m", "telemedroom", "serve", "--config", str(room_toml)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # the URL is printed once the kiosk listens
            lines.append(line)
            if line.startswith("kiosk (patient):"):
                break
        url = lines[-1].split(": ", 1)[1].strip()
        assert url == f"http://127.0.0.1:{unused_tcp_port}/kiosk/"  # the page follows each visit's language
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        refused = httpx.post(f"http://127.0.0.1:{unused_tcp_port}/kiosk/check-in", json={"code": "NOPE-NOPE"})
        assert refused.status_code == 400
        assert refused.json() == {"reason": "unknown_code"}
        for line in process.stdout:
            if "check-in refused: unknown_code" in line:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == ExitCode.INTERRUPTED == 130
    assert "telemedroom: interrupted" in err
    assert "Traceback" not in err


def test_serve_without_its_config_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "telemedroom", "serve", "--config", str(tmp_path / "room.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == ExitCode.CONFIG
    assert f"room configuration {tmp_path / 'room.toml'}: cannot read" in result.stderr


async def test_a_visit_through_the_kiosk(room_toml: Path, unused_tcp_port: int) -> None:
    """Check-in on the kiosk's HTTP endpoint; the served room measures, waits, wraps up, delivers.

    The thermometer is a bumble GATT server on an in-memory radio (a fake radio only); the
    physician a scripted PhysicianPeer.
    """
    config = RoomConfig.from_toml(embedded(room_toml, unused_tcp_port, devices='["thermometer"]'))
    out = io.StringIO()
    console = Console(file=out, width=200)
    async with BumbleBackend() as radio:
        await radio.add(VirtualThermometer([BodyTemperature(value=37.2, site="tympanum")], tz=config.zone))
        async with Room(config, ble_backend=radio) as room:
            events = room.events()
            listening = asyncio.Event()
            timeline = Timeline(console, zone=config.zone)
            serving = asyncio.create_task(serve_room(room, console, timeline, listening=listening))
            appointment = await room.book_walk_in("pat-7")
            token = room.physician_token(appointment.id)
            async with PhysicianPeer(room.visit_url(appointment.id), token) as doctor:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{unused_tcp_port}") as http:
                    while True:  # the kiosk is served once serve_room's first await returns
                        try:
                            answer = await http.post(
                                "/kiosk/check-in", json={"code": appointment.booking_code}
                            )
                            break
                        except httpx.ConnectError:
                            await asyncio.sleep(0.01)
                assert answer.status_code == 204
                waiting = await doctor.next_waiting(timeout=30)
                await doctor.admit(waiting.id)
                reading = await anext(doctor.measurements())
                assert reading.value == 37.2
                await doctor.end()
            async with asyncio.timeout(30):
                async for event in events:
                    if isinstance(event, VisitWrappedUp):
                        wrapped = event
                    if isinstance(event, StateChanged) and event.state is RoomState.IDLE and event.previous:
                        break
            await room.drain_outbox()  # waits for the served room's own delivery to finish
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
    text = out.getvalue()
    assert "physician console for this visit: http://127.0.0.1:" in text
    assert "reading   thermometer: 37.2 °C" in text
    assert "outbox delivered: 1 bundle(s)" in text
    assert wrapped.observations == 1
    assert (config.data_dir / "fhir" / "Encounter.ndjson").exists()


async def test_served_room_redelivers_a_requeued_record_between_visits(
    room_toml: Path, unused_tcp_port: int
) -> None:
    """A refused record, requeued from another connection to the outbox, goes out without a visit.

    The FHIR server is FakeFhirServer with HAPI's referential integrity and update-as-create
    (a fake: real FHIR JSON in process): the record names a Patient the clinic has not
    registered yet, so it is refused; the clinic registers the patient, the staff requeue.
    """
    config = RoomConfig.from_toml(embedded(room_toml, unused_tcp_port))
    fake = FakeFhirServer(referential_integrity=True)
    observation = {
        "resourceType": "Observation", "status": "final", "code": {"text": "weight"},
        "subject": {"reference": "Patient/pat-9"}, "valueQuantity": {"value": 72.4, "unit": "kg"},
    }  # fmt: skip
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"fullUrl": "urn:uuid:6c486b8a-15fe-5859-b7d1-18c960738af0", "resource": observation,
                   "request": {"method": "POST", "url": "Observation"}}],
    }  # fmt: skip
    out = io.StringIO()
    console = Console(file=out, width=200)
    async with (
        FhirClient(fake.base_url, transport=fake.transport(), retry=Retry(attempts=1)) as fhir,
        Room(config, fhir_sink=fhir) as room,
    ):
        assert room.outbox is not None
        (row,) = await room.outbox.put(bundle)
        events = room.events()
        timeline = Timeline(console, zone=config.zone)
        serving = asyncio.create_task(serve_room(room, console, timeline, redeliver_every=0.05))
        try:
            async with asyncio.timeout(60):
                async for event in events:
                    if isinstance(event, RecordRejected):
                        assert event.outbox_row == row
                        assert "Patient/pat-9 not found" in event.reason
                        await fhir.update({"resourceType": "Patient", "id": "pat-9"})  # registered
                        async with Outbox(outbox_path(config), key=config.key) as other:
                            assert await other.requeue(row) == [row]  # `telemedroom outbox requeue`
                    if isinstance(event, RecordDelivered):
                        assert event.outbox_row == row
                        break
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
    assert len(fake.resources("Observation")) == 1
    text = out.getvalue()
    assert f"the FHIR server refused outbox row {row} (kept)" in text
    assert f"outbox row {row}, refused before, is delivered now" in text
