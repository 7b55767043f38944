"""Calling the ward, and the ward calling the apartment, through the session layer's waiting room.

A real signaling server (``create_app`` on loopback) and real WebRTC peers (aiortc):
the apartment joins as a participant with join tokens it signs with the clinic's key;
the ward is a scripted :class:`~telemedroom.session.peer.PhysicianPeer`, as in the
room's tests. The patient acts through the screen's HTTP endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.apartment.conftest import make_config

from telemedroom import BloodPressure
from telemedroom.apartment import Apartment, CallChanged
from telemedroom.apartment._screen import screen_app
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.peer import PhysicianPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app

APARTMENT = "apartment-2"


def pem(key: Ed25519PrivateKey) -> bytes:
    """The clinic's join-token key as the apartment reads it: PKCS#8 PEM."""
    encoding, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, pkcs8, serialization.NoEncryption())


@dataclass(frozen=True)
class Ward:
    """The clinic's side of the apartment's line: its URL and a signer of staff join tokens."""

    url: str
    issuer: TokenIssuer
    hub: Any = None  # the signaling server's visit keeper (to drop its sockets)

    def token(self, subject: str = "dr-weber", name: str = "Dr. Weber", role: str = "physician") -> str:
        now = datetime.now(UTC)
        return self.issuer.issue(
            room=APARTMENT,
            appointment="ward",
            role=role,
            subject=subject,
            name=name,
            not_before=now - timedelta(minutes=1),
            expires_at=now + timedelta(hours=1),
        )


@asynccontextmanager
async def ward_line(tmp_path: Path, **signaling: Any) -> AsyncIterator[tuple[Apartment, Ward]]:
    """The clinic's signaling server (``signaling``: more ``SignalingConfig`` options, e.g.
    ``sfu``), and an apartment waiting in its ward's waiting room."""
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "join-token-key.pem"
    key_file.write_bytes(pem(key))
    issuer = TokenIssuer(key, "clinic-2026")
    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys()), **signaling))
    try:
        async with LocalServer(app) as server:
            config = make_config(
                tmp_path / "data",
                ward={
                    "signaling_url": server.ws_url,
                    "token_signing_key_file": str(key_file),
                    "token_key_id": "clinic-2026",
                },
            )
            async with Apartment(config) as apartment:
                assert apartment.call_state.state == "idle"  # waiting in standby
                yield apartment, Ward(f"{server.ws_url}/ws/{APARTMENT}/ward", issuer, app.state.hub)
    finally:
        if app.state.hub.sfu is not None:  # LocalServer runs no lifespan: close Janus here
            await app.state.hub.sfu.aclose()


@asynccontextmanager
async def ward_and_apartment(tmp_path: Path) -> AsyncIterator[tuple[Apartment, str, str]]:
    """:func:`ward_line` with one physician's token: ``(apartment, url, token)``."""
    async with ward_line(tmp_path) as (apartment, ward):
        yield apartment, ward.url, ward.token()


async def the_call(nurse: PhysicianPeer) -> str:
    """The id of the apartment's "(call)" entry in the nurse's waiting room, once it is there."""
    async with asyncio.timeout(60):
        while not any(p.name.endswith("(call)") for p in nurse.waiting.values()):
            await nurse.next_waiting()  # returns at once while the standby still waits
            await asyncio.sleep(0.05)
    return next(p.id for p in nurse.waiting.values() if p.name.endswith("(call)"))


async def call_state(events: AsyncIterator[object], wanted: str) -> CallChanged:
    async with asyncio.timeout(90):
        async for event in events:
            if isinstance(event, CallChanged) and event.state == wanted:
                return event
    raise AssertionError(f"the line never got to {wanted}")


async def press(apartment: Apartment, action: str) -> int:
    transport = httpx.ASGITransport(screen_app(apartment))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        return (await http.post("/screen/call", json={"action": action})).status_code


async def test_the_patient_calls_the_ward_and_the_nurse_sees_the_vitals(tmp_path: Path) -> None:
    async with ward_and_apartment(tmp_path) as (apartment, url, token):
        events = apartment.events()
        async with PhysicianPeer(url, token) as nurse:
            standby = await nurse.next_waiting()
            assert standby.name == "Gesundheitswohnung 2 (standby)"
            assert await press(apartment, "call") == 204
            await call_state(events, "calling")
            await the_call(nurse)
            assert [p.name for p in nurse.waiting.values()] == ["Gesundheitswohnung 2 (call)"]  # standby left
            caller = next(iter(nurse.waiting))
            await nurse.admit(caller)
            await call_state(events, "in_call")
            frame = await nurse.first_video_frame(timeout=60)
            assert frame.width > 0
            reading = BloodPressure(systolic=186, diastolic=101, measured_at=datetime.now(UTC))
            assert await apartment.accept(reading)
            async with asyncio.timeout(60):
                live = await anext(nurse.measurements())
            assert (live.systolic, live.diastolic) == (186, 101)  # type: ignore[attr-defined]
            await nurse.end()
            ended = await call_state(events, "ended")
            assert ended.reason == "ended_by_ward"
            await call_state(events, "idle")  # back in standby
        await events.aclose()  # type: ignore[attr-defined]
        assert (await apartment.state())["warnings"][0]["call"] is True  # 186 mmHg: call the ward


async def test_a_dropped_signaling_connection_does_not_hang_up_on_the_patient(tmp_path: Path) -> None:
    """The clinic's signaling server drops every WebSocket mid-call (a network blip, a
    restart behind the proxy: close 1012, not final). Both sides resume; the call's media
    never went through that socket, so the patient stays in the call and the live
    vitals still reach the nurse."""
    async with ward_line(tmp_path) as (apartment, ward):
        changes: list[CallChanged] = []

        async def record() -> None:
            async for event in apartment.events():
                if isinstance(event, CallChanged):
                    changes.append(event)

        recorder = asyncio.ensure_future(record())
        try:
            async with PhysicianPeer(ward.url, ward.token()) as nurse:
                assert await press(apartment, "call") == 204
                await nurse.admit(await the_call(nurse))
                await nurse.first_video_frame(timeout=60)
                assert apartment.call_state.state == "in_call"
                assert apartment.ward is not None
                assert apartment.ward.peer is not None
                clients = [apartment.ward.peer._client, nurse._client]
                for visit in ward.hub.visits.values():
                    for participant in visit.participants.values():
                        if participant.connection is not None:
                            participant.connection.close(1012)
                async with asyncio.timeout(30):
                    while not all(client.resumes >= 1 for client in clients):
                        await asyncio.sleep(0.05)  # the clients resume with their backoff
                reading = BloodPressure(systolic=128, diastolic=82, measured_at=datetime.now(UTC))
                assert await apartment.accept(reading)
                async with asyncio.timeout(60):
                    live = await anext(nurse.measurements())
                assert (live.systolic, live.diastolic) == (128, 82)  # type: ignore[attr-defined]
                assert apartment.call_state.state == "in_call"
                await nurse.end()
                async with asyncio.timeout(60):
                    while apartment.call_state.state != "idle":
                        await asyncio.sleep(0.05)
        finally:
            recorder.cancel()
    states = [change.state for change in changes]
    # one call, unbroken: never "ended" or "failed" until the ward hung up
    assert states[states.index("in_call") :] == ["in_call", "ended", "idle"], states


async def test_the_ward_calls_and_the_patient_answers_on_the_screen(tmp_path: Path) -> None:
    async with ward_and_apartment(tmp_path) as (apartment, url, token):
        events = apartment.events()
        async with PhysicianPeer(url, token) as nurse:
            standby = await nurse.next_waiting()
            assert await press(apartment, "accept") == 409  # nothing rings yet
            await nurse.admit(standby.id)  # the ward calls the apartment
            await call_state(events, "ringing")
            assert (await apartment.state())["call"]["state"] == "ringing"
            assert await press(apartment, "accept") == 204
            await call_state(events, "calling")
            await nurse.admit(await the_call(nurse))
            await call_state(events, "in_call")
            assert await press(apartment, "hang_up") == 204
            ended = await call_state(events, "ended")
            assert ended.reason == "hung_up"
        await events.aclose()  # type: ignore[attr-defined]


async def test_the_patient_declines_a_call(tmp_path: Path) -> None:
    async with ward_and_apartment(tmp_path) as (apartment, url, token):
        events = apartment.events()
        async with PhysicianPeer(url, token) as nurse:
            await nurse.admit((await nurse.next_waiting()).id)
            await call_state(events, "ringing")
            assert await press(apartment, "decline") == 204
            ended = await call_state(events, "ended")
            assert ended.reason == "declined"
            await call_state(events, "idle")
            again = await nurse.next_waiting()  # the apartment waits in standby again
            assert again.name.endswith("(standby)")
        await events.aclose()  # type: ignore[attr-defined]


async def test_the_apartment_rejoins_the_waiting_room_once_the_server_is_back(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "join-token-key.pem"
    key_file.write_bytes(pem(key))
    issuer = TokenIssuer(key, "clinic-2026")
    ward = {
        "signaling_url": f"ws://127.0.0.1:{unused_tcp_port}",
        "token_signing_key_file": str(key_file),
        "token_key_id": "clinic-2026",
    }
    async with Apartment(make_config(tmp_path / "data", ward=ward)) as apartment:
        assert apartment.call_state.reason == "ward_unreachable"  # the clinic's server is down
        assert apartment.ward is not None
        app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
        async with LocalServer(app, port=unused_tcp_port) as server:
            await apartment.check()  # the first retry is due at once
            assert apartment.call_state.state == "idle"
            assert apartment.call_state.reason is None
            now = datetime.now(UTC)
            token = issuer.issue(
                room=APARTMENT,
                appointment="ward",
                role="physician",
                subject="dr-weber",
                not_before=now - timedelta(minutes=1),
                expires_at=now + timedelta(hours=1),
            )
            async with PhysicianPeer(f"{server.ws_url}/ws/{APARTMENT}/ward", token) as nurse:
                standby = await nurse.next_waiting()
            assert standby.name.endswith("(standby)")
