"""Signaling across two hub processes on one real PostgreSQL: a room on replica A, its physician on B.

Both replicas are ``telemedroom hub`` processes as operations run them (plain HTTP on
loopback, as behind the reverse proxy); the room and the physician are real aiortc peers
(``RoomPeer``, ``PhysicianPeer``) with the clinic's join tokens. Replica A is killed with
SIGKILL while the patient waits: the room resumes on B (its second address) and the visit
goes on there. A real ``Room`` with a virtual thermometer, on replica A, is examined by a
physician on B.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from telemedroom import HeartRate
from telemedroom.errors import TokenError, TokenRefusal
from telemedroom.hub import HubConfig
from telemedroom.session import TokenIssuer
from telemedroom.session.peer import PhysicianPeer, RoomPeer

from ._glewlwyd import free_port
from .conftest import Keys, hub_toml

pytestmark = pytest.mark.requires_system


@contextmanager
def replica(config: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One ``telemedroom hub`` process; killed at the end if the test has not killed it."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "telemedroom", "hub", "--config", str(config), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def ready(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until ``/readyz`` says the database and the signaling relay are up (bounded)."""
    async with httpx.AsyncClient() as http, asyncio.timeout(60):
        while True:
            assert process.poll() is None, "the replica exited"
            try:
                answer = await http.get(f"http://127.0.0.1:{port}/readyz")
                if answer.status_code == 200:
                    assert answer.json()["checks"] == {"database": True, "signaling_relay": True}
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # the process is starting: ask again, bounded above


@asynccontextmanager
async def two_replicas(
    keys: Keys, dsn: str, folder: Path
) -> AsyncIterator[tuple[int, int, subprocess.Popen[bytes], Path]]:
    """Replicas A and B of one configuration (the keys copied next to it), both ready."""
    port_a, port_b = free_port(), free_port()
    config = folder / "hub.toml"
    config.write_text(hub_toml(port=port_a, dsn=dsn, keys=keys, issuer=None))
    for name in ("join-token.pem", "accounts.toml", "nord-1.pub.pem", "sued-2.pub.pem"):
        (folder / name).write_bytes((keys.folder / name).read_bytes())
    with (
        replica(config, port_a, folder / "a.log") as process_a,
        replica(config, port_b, folder / "b.log") as process_b,
    ):
        await asyncio.gather(ready(port_a, process_a), ready(port_b, process_b))
        yield port_a, port_b, process_a, config


def issuer_of(config: Path) -> TokenIssuer:
    key = HubConfig.from_toml(config).signing_key()
    assert key is not None
    return TokenIssuer(key, "clinic-1")


def token(issuer: TokenIssuer, appointment: str, role: str, subject: str) -> str:
    now = datetime.now(UTC)
    return issuer.issue(
        room="nord-1",
        appointment=appointment,
        role=role,  # type: ignore[arg-type]
        subject=subject,
        name=subject,
        not_before=now - timedelta(minutes=1),
        expires_at=now + timedelta(minutes=30),
    )


async def test_a_visit_across_replicas_survives_the_loss_of_the_room_s_replica(
    keys: Keys, postgres_dsn: str, tmp_path: Path
) -> None:
    def url(port: int, appointment: str) -> str:
        return f"ws://127.0.0.1:{port}/ws/nord-1/{appointment}"

    async with two_replicas(keys, postgres_dsn, tmp_path) as (port_a, port_b, process_a, config):
        issuer = issuer_of(config)
        # 1. a full visit: the room on A, the physician on B
        first = f"apt-{secrets.token_hex(3)}"
        room_token = token(issuer, first, "patient", "pat-1")
        async with (
            RoomPeer(url(port_a, first), room_token) as room,
            PhysicianPeer(url(port_b, first), token(issuer, first, "physician", "dr.weber")) as doctor,
        ):
            assert room.welcome.state == "waiting"
            waiting = await doctor.next_waiting(timeout=60)
            assert waiting.id == room.participant_id
            await doctor.admit(waiting.id)
            await room.wait_admitted(timeout=60)
            await room.wait_connected(timeout=60)
            await doctor.wait_connected(timeout=60)
            assert room.fingerprint == doctor.remote_fingerprint  # the SDP went A -> PostgreSQL -> B
            await room.send_measurement(HeartRate(bpm=64))
            async with asyncio.timeout(60):
                received = await anext(doctor.measurements())
            assert received.bpm == 64  # type: ignore[attr-defined]
            frame = await doctor.first_video_frame(timeout=60)
            assert frame.width > 0

            # bad input stays refused on the other replica: a token for another visit
            other = f"apt-{secrets.token_hex(3)}"
            with pytest.raises(TokenError) as refused:
                async with PhysicianPeer(url(port_b, other), token(issuer, first, "physician", "dr.x")):
                    pass
            assert refused.value.reason is TokenRefusal.WRONG_APPOINTMENT
            # ...and the room's token, already connected on A, cannot join again on B
            with pytest.raises(TokenError) as twice:
                async with RoomPeer(url(port_b, first), room_token):
                    pass
            assert twice.value.reason is TokenRefusal.ALREADY_CONNECTED

            await doctor.end()
            async with asyncio.timeout(60):
                await room.ended.wait()

        # 2. the room waits on A; A dies; the room resumes on B, where the physician admits it
        second = f"apt-{secrets.token_hex(3)}"
        async with (
            RoomPeer(
                [url(port_a, second), url(port_b, second)], token(issuer, second, "patient", "pat-2")
            ) as room,
            PhysicianPeer(url(port_b, second), token(issuer, second, "physician", "dr.weber")) as doctor,
        ):
            waiting = await doctor.next_waiting(timeout=60)
            assert waiting.id == room.participant_id
            process_a.send_signal(signal.SIGKILL)
            process_a.wait(timeout=30)
            async with asyncio.timeout(90):
                await room._client.resumed.wait()
            assert room._client.url == url(port_b, second)
            assert room.participant_id == waiting.id  # the same place, kept in PostgreSQL
            await doctor.admit(waiting.id)
            await room.wait_admitted(timeout=60)
            await room.wait_connected(timeout=60)
            await room.send_measurement(HeartRate(bpm=71))
            async with asyncio.timeout(60):
                received = await anext(doctor.measurements())
            assert received.bpm == 71  # type: ignore[attr-defined]
            await doctor.end()
    lines = (tmp_path / "b.log").read_text().splitlines()
    logs = [json.loads(line) for line in lines if line.startswith("{")]
    assert not [line for line in logs if line["level"] in ("error", "critical")], logs


async def test_a_real_room_on_replica_a_is_examined_by_a_physician_on_replica_b(
    keys: Keys, postgres_dsn: str, tmp_path: Path
) -> None:
    """A ``Room`` with a virtual thermometer (bumble: the radio is the only fake), its own patient
    token signed with the clinic's key, its signaling on replica A; the physician on B."""
    from tests.room.conftest import devices_for, make_config
    from tests.room.test_clinic_tokens import book_visit, open_scheduler

    from telemedroom import BodyTemperature
    from telemedroom.room import Room, RoomState, SessionSettings
    from telemedroom.scheduling import SqliteStore
    from telemedroom.testing import BumbleBackend

    async with (
        two_replicas(keys, postgres_dsn, tmp_path) as (port_a, port_b, _, config),
        BumbleBackend() as radio,
    ):
        issuer = issuer_of(config)
        for device in devices_for(["thermometer"]):
            await radio.add(device)
        session = SessionSettings(
            signaling_url=f"ws://127.0.0.1:{port_a}",
            token_signing_key_file=tmp_path / "join-token.pem",
            token_key_id="clinic-1",
        )
        room_config = make_config(tmp_path / "room", ["thermometer"], session=session)
        async with SqliteStore(tmp_path / "schedule.sqlite") as store:
            scheduler = open_scheduler(store, room_config.room_id)
            appointment = await book_visit(scheduler)
            async with Room(room_config, ble_backend=radio, scheduler=scheduler) as room:
                await room.check_in(appointment.booking_code)
                await room.measure()
                url_b = room.visit_url(appointment.id).replace(f":{port_a}/", f":{port_b}/")
                physician_token = issuer.issue(
                    room=room_config.room_id,
                    appointment=appointment.id,
                    role="physician",
                    subject="dr-weber",
                    not_before=appointment.slot.start - timedelta(minutes=15),
                    expires_at=appointment.slot.end + timedelta(minutes=15),
                )
                async with PhysicianPeer(url_b, physician_token, auto_admit=True) as doctor:
                    await room.wait_for_physician(timeout=60)
                    assert room.state is RoomState.IN_CONSULTATION
                    async with asyncio.timeout(60):
                        reading = await anext(doctor.measurements())
                    assert isinstance(reading, BodyTemperature)  # the room's reading, A -> B over WebRTC
                    summary = await room.end_consultation()
                await room.wait_idle()
    assert summary.observations == 1
