"""The operator's fleet view: signed room heartbeats, forged ones refused and audited, alerts, catch-up.

The hub and PostgreSQL are real; the rooms are real :class:`~telemedroom.room.Room`s with
virtual devices (bumble controllers on an in-memory link: a fake radio only), or, where a
test needs a heartbeat the room would not send (a low battery, a forgery), heartbeats
signed by the test with the same code the room uses.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.room.conftest import devices_for, make_config

from telemedroom.room import HubLinkSettings, Room, RoomState
from telemedroom.session import AuditLog
from telemedroom.session.heartbeat import DeviceStatus, Heartbeat, HeartbeatSigner
from telemedroom.testing import BumbleBackend

from .conftest import LOCAL_PASSWORD, Keys, RunningHub

pytestmark = pytest.mark.requires_system

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]


async def local_login(http: httpx.AsyncClient) -> None:
    page = await http.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = await http.post(
        "/auth/local", data={"login_csrf": token.group(1), "username": "op.local", "password": LOCAL_PASSWORD}
    )
    assert answer.status_code == 303, answer.text


def beat(room: str, sequence: int, **fields: Any) -> Heartbeat:
    values: dict[str, Any] = {
        "room": room,
        "boot": "boot-1",
        "sequence": sequence,
        "sent_at": datetime.now(UTC),
        "version": "test",
        "state": "idle",
    }
    return Heartbeat(**(values | fields))


async def post(http: httpx.AsyncClient, room: str, *tokens: str) -> httpx.Response:
    return await http.post(f"/api/rooms/{room}/heartbeats", json={"heartbeats": list(tokens)})


async def test_heartbeats_alerts_and_forgeries(hub_factory: HubFactory, keys: Keys) -> None:
    nord = HeartbeatSigner("nord-1", keys.rooms["nord-1"])
    sued = HeartbeatSigner("sued-2", keys.rooms["sued-2"])
    async with hub_factory() as hub, hub.client() as http:
        ok = await post(
            http,
            "nord-1",
            nord.sign(
                beat("nord-1", 0, state="waiting", outbox_backlog=240, waiting_since=datetime.now(UTC))
            ),
        )
        assert ok.status_code == 200
        assert ok.json() == {"current": 1}
        low = beat("sued-2", 0, devices=[DeviceStatus(kind="blood_pressure", battery=12)], outbox_refused=2)
        assert (await post(http, "sued-2", sued.sign(low))).status_code == 200

        # forgeries: sued-2's report sent as nord-1, nord-1's name with a stranger's key,
        # a room the hub does not know, garbage; and a replay of an accepted report
        stranger = HeartbeatSigner("nord-1", Ed25519PrivateKey.generate())
        refused = [
            (await post(http, "nord-1", sued.sign(beat("sued-2", 1)))).json(),
            (await post(http, "nord-1", stranger.sign(beat("nord-1", 5, state="in_consultation")))).json(),
            (await post(http, "west-9", nord.sign(beat("nord-1", 6)))).json(),
            (await post(http, "nord-1", "not.a.jws")).json(),
            (await http.post("/api/rooms/nord-1/heartbeats", content=b"\xff\x00")).json(),
        ]
        assert [answer["error"] for answer in refused] == [
            "room_mismatch",
            "bad_signature",
            "unknown_room",
            "malformed",
            "malformed",
        ]
        first = nord.sign(beat("nord-1", 1, state="waiting"))
        assert (await post(http, "nord-1", first)).json() == {"current": 1}
        assert (await post(http, "nord-1", first)).json() == {"replayed": 1}

        await local_login(http)
        rooms = {row["id"]: row for row in (await http.get("/api/fleet")).json()["rooms"]}
        assert rooms["nord-1"]["report"]["state"] == "waiting"  # the forged in_consultation never landed
        assert rooms["nord-1"]["alerts"] == []
        assert rooms["sued-2"]["alerts"] == [
            "2 records refused by the FHIR server",
            "blood_pressure battery 12 %",
        ]
        metrics = (await http.get("/metrics")).text
        assert "telemedroom_hub_rooms_online 2" in metrics
        assert "telemedroom_hub_waiting_patients 1" in metrics

        # silence: both rooms go offline on the operator's screen
        hub.clock.advance(timedelta(seconds=31))
        page = (await http.get("/fleet")).text
        assert page.count('<td class="online">offline</td>') == 2
        silent = re.search(r"offline for (\d+) s", page)  # 31 s plus however long the test took
        assert silent is not None
        assert int(silent.group(1)) >= 31
        assert "telemedroom_hub_rooms_online 0" in (await http.get("/metrics")).text

        entries = await hub.hub.store.audit_entries()
        AuditLog.from_entries(entries).verify()
        refusals = [(e.room, e.detail["reason"]) for e in entries if e.action.value == "heartbeat_refused"]
        assert refusals == [
            ("nord-1", "room_mismatch"),
            ("nord-1", "bad_signature"),
            ("west-9", "unknown_room"),
            ("nord-1", "malformed"),
            ("nord-1", "malformed"),
            ("nord-1", "replayed"),
        ]


async def test_the_backlog_alert(hub_factory: HubFactory, keys: Keys) -> None:
    nord = HeartbeatSigner("nord-1", keys.rooms["nord-1"])
    async with hub_factory() as hub, hub.client() as http:
        assert (
            await post(http, "nord-1", nord.sign(beat("nord-1", 0, outbox_backlog=240)))
        ).status_code == 200
        await local_login(http)
        rooms = {row["id"]: row for row in (await http.get("/api/fleet")).json()["rooms"]}
        assert rooms["nord-1"]["alerts"] == ["outbox backlog 240 > 100"]
        assert 'telemedroom_hub_outbox_backlog{room="nord-1"} 240' in (await http.get("/metrics")).text


def room_key_file(folder: Path, key: Ed25519PrivateKey) -> Path:
    path = folder / "room-heartbeat.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


async def test_a_real_room_reports_and_catches_up_after_losing_the_hub(
    hub_factory: HubFactory, keys: Keys, hub_port: int, tmp_path: Path
) -> None:
    link = HubLinkSettings(
        url=f"https://127.0.0.1:{hub_port}",
        key_file=room_key_file(tmp_path, keys.rooms["nord-1"]),
        ca_file=keys.cert,
        interval_s=0.5,
    )
    config = make_config(tmp_path / "room", ["blood_pressure"], room_id="nord-1", hub=link)
    async with BumbleBackend() as radio:
        for device in devices_for(["blood_pressure"]):
            await radio.add(device)
        async with Room(config, ble_backend=radio) as room:
            # the hub is not there: the room works on, the reports wait
            appointment = await room.book_walk_in("pat-1")
            await room.check_in(appointment.booking_code)
            await room.measure()
            assert room.state is RoomState.WAITING
            assert room.heartbeats.delivered == 0
            queued = room.heartbeats.queued
            assert queued >= 4  # idle, checked in, measuring, the reading, waiting
            async with hub_factory() as hub:
                await asyncio.wait_for(room.heartbeats.wait_delivered(queued), timeout=60)
                history = await hub.hub.store.history("nord-1")
                states = [report.state for report in reversed(history)]
                assert states[0] == "idle"
                assert {"checked_in", "measuring", "waiting"} <= set(states)
                assert [report.sequence for report in reversed(history)] == sorted(
                    r.sequence for r in history
                )
                (status,) = (await hub.hub.store.rooms()).values()
                assert status.report.state == "waiting"
                assert status.report.appointment_id == appointment.id
                assert status.report.readings == ["128/82 mmHg"]
                assert [device.kind for device in status.report.devices] == ["blood_pressure"]
                delivered = room.heartbeats.delivered
            # the hub goes away again and comes back: the room catches up once more
            await room.abort("test: patient left")
            async with hub_factory() as hub:
                await asyncio.wait_for(room.heartbeats.wait_delivered(delivered + 1), timeout=60)
                (status,) = (await hub.hub.store.rooms()).values()
                assert status.report.state == "idle"
                assert room.heartbeats.refused == 0
