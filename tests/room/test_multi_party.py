"""A Room's visit through a real Janus (Debian's package): the Encounter lists who took part.

The room runs its embedded signaling server with ``[session] sfu``; a physician and an
interpreter join as aiortc participants; the wrap-up's Encounter names both with their
roles. With Janus down, the room says so in an event and the audit log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests._system import require_system
from tests.room.conftest import make_config

from telemedroom.room import Room, RoomErrorEvent, RoomEvent, SessionSettings
from telemedroom.session.participant import SfuParticipant
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import LocalJanus


@pytest.fixture
async def janus() -> AsyncIterator[LocalJanus]:
    async with LocalJanus(require_system("janus")) as running:
        yield running


def _sfu_settings(url: str, admin_url: str, admin_secret: str, key: str) -> SessionSettings:
    return SessionSettings(
        embedded=True, sfu=url, sfu_admin_url=admin_url, sfu_admin_secret=admin_secret, sfu_room_admin_key=key
    )


async def test_the_encounter_lists_the_participants_with_their_roles(
    data_dir: Path, janus: LocalJanus
) -> None:
    session = _sfu_settings(janus.url, janus.admin_url, janus.admin_secret, janus.room_admin_key)
    async with Room(make_config(data_dir, (), session=session)) as room:
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        await room.measure()
        url = room.visit_url(appointment.id)
        doctor_token = room.physician_token(appointment.id, subject="dr-weber", name="Dr. Weber")
        interpreter_token = room.physician_token(
            appointment.id, subject="int-7", role="interpreter", name="A. Yilmaz"
        )
        async with SfuParticipant(url, doctor_token, auto_admit=True) as doctor:
            await room.wait_for_physician(timeout=30)
            assert doctor.welcome.sfu
            async with SfuParticipant(url, interpreter_token) as interpreter:
                await interpreter.wait_admitted()
                await interpreter.wait_media()
                frame = await interpreter.first_frame(role="patient")
                assert frame is not None
                summary = await room.end_consultation()
        await room.wait_idle()
        await room.drain_outbox()
    encounters = [
        json.loads(line)
        for path in data_dir.rglob("*.ndjson")
        for line in path.read_text().splitlines()
        if json.loads(line).get("resourceType") == "Encounter"
    ]
    assert [e["id"] for e in encounters] == [summary.encounter_id]
    taking_part = [
        (x["type"][0]["coding"][0]["code"], x["individual"]["display"]) for x in encounters[0]["participant"]
    ]
    assert taking_part == [("PPRF", "Dr. Weber"), ("translator", "A. Yilmaz")]


async def test_janus_down_the_room_says_so_and_goes_peer_to_peer(data_dir: Path) -> None:
    session = _sfu_settings("http://127.0.0.1:9/janus", "http://127.0.0.1:9/admin", "s", "k")
    events: list[RoomEvent] = []
    async with Room(make_config(data_dir, (), session=session)) as room:

        async def collect() -> None:
            async for event in room.events():
                events.append(event)

        watcher = asyncio.ensure_future(collect())
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        await room.measure()
        url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
        async with PhysicianPeer(url, token, auto_admit=True) as doctor:
            await room.wait_for_physician(timeout=30)
            frame = await doctor.first_video_frame()  # peer to peer, as without an SFU
            assert frame.width > 0
            async with asyncio.timeout(30):
                while not any(isinstance(e, RoomErrorEvent) for e in events):
                    await asyncio.sleep(0.02)  # the event list fills from the room's event stream
            await room.end_consultation()
        watcher.cancel()
    errors = [e.message for e in events if isinstance(e, RoomErrorEvent)]
    assert len(errors) == 1
    assert errors[0].startswith("multi-party visit unavailable, peer to peer with one physician")
    audit = (data_dir / "audit.jsonl").read_text()
    assert '"sfu_fallback"' in audit
