"""A room that is not embedded: the clinic's signaling server, the room signs its own join token.

The signaling server, the schedule, the devices' GATT bytes and the peers are real; only
the Bluetooth radio is a fake (bumble virtual controllers), as everywhere in the room tests.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.room.conftest import devices_for, make_config

from telemedroom.errors import RoomConfigError
from telemedroom.room import Room, RoomState, SessionSettings
from telemedroom.scheduling import (
    Appointment,
    AvailabilityRule,
    Requirement,
    Resource,
    Scheduler,
    ScheduleStore,
    Service,
    SqliteStore,
)
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.peer import PhysicianPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
from telemedroom.testing import BumbleBackend

ALWAYS = (AvailabilityRule(rrule="FREQ=DAILY", starts=date(2020, 1, 1), opens=time(0), closes=time(23, 59)),)


def open_scheduler(store: ScheduleStore, room: str) -> Scheduler:
    """The room and Dr Weber, both open around the clock."""
    return Scheduler(
        store,
        [
            Resource(id=room, kind="room", name="Room", availability=ALWAYS),
            Resource(id="dr-weber", kind="practitioner", name="Dr Weber", availability=ALWAYS),
        ],
    )


async def book_visit(scheduler: Scheduler) -> Appointment:
    """pat-9's 20-minute visit with the room and Dr Weber, at the first free slot."""
    service = Service(
        id="visit",
        name="Visit",
        duration=timedelta(minutes=20),
        requires=(Requirement(kind="room"), Requirement(kind="practitioner")),
        interval=timedelta(minutes=1),
    )
    now = datetime.now(UTC)
    (slot,) = await scheduler.find_slots(service, now, now + timedelta(days=1), limit=1)
    return await scheduler.book(slot, "pat-9", idempotency_key="k-1")


def write_key(path: Path, key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


async def test_the_room_signs_its_patient_token_with_the_clinic_key(tmp_path: Path) -> None:
    """The signaling server trusts only the clinic's public key; the physician's token comes
    from the booking service (here a TokenIssuer with the same key), the room's from itself."""
    clinic_key = Ed25519PrivateKey.generate()
    key_file = write_key(tmp_path / "join-token-key.pem", clinic_key)
    booking_service = TokenIssuer(clinic_key, "clinic-1")
    app = create_app(SignalingConfig(verifier=TokenVerifier(booking_service.public_keys())))
    async with LocalServer(app) as signaling, BumbleBackend() as radio:
        for device in devices_for(["thermometer"]):
            await radio.add(device)
        session = SessionSettings(
            signaling_url=signaling.ws_url, token_signing_key_file=key_file, token_key_id="clinic-1"
        )
        config = make_config(tmp_path / "room", ["thermometer"], session=session)
        async with SqliteStore(tmp_path / "schedule.sqlite") as store:
            scheduler = open_scheduler(store, config.room_id)
            appointment = await book_visit(scheduler)
            async with Room(config, ble_backend=radio, scheduler=scheduler) as room:
                await room.check_in(appointment.booking_code)
                await room.measure()
                physician_token = booking_service.issue(
                    room=config.room_id,
                    appointment=appointment.id,
                    role="physician",
                    subject="dr-weber",
                    not_before=appointment.slot.start - timedelta(minutes=15),
                    expires_at=appointment.slot.end + timedelta(minutes=15),
                )
                url = room.visit_url(appointment.id)
                assert url.startswith(signaling.ws_url)
                async with PhysicianPeer(url, physician_token, auto_admit=True):
                    await room.wait_for_physician(timeout=30)
                    assert room.state is RoomState.IN_CONSULTATION
                    summary = await room.end_consultation()
                await room.wait_idle()
    assert summary.observations == 1


async def test_a_room_without_any_token_source_names_the_missing_key(tmp_path: Path) -> None:
    async with BumbleBackend() as radio:
        for device in devices_for(["thermometer"]):
            await radio.add(device)
        session = SessionSettings(signaling_url="ws://127.0.0.1:9/")
        config = make_config(tmp_path / "room", ["thermometer"], session=session)
        async with SqliteStore(tmp_path / "schedule.sqlite") as store:
            scheduler = open_scheduler(store, config.room_id)
            async with Room(config, ble_backend=radio, scheduler=scheduler) as room:
                appointment = await room.book_walk_in("pat-3")
                await room.check_in(appointment.booking_code)
                await room.measure()
                with pytest.raises(RoomConfigError) as refused:
                    await room.wait_for_physician(timeout=5)
                assert refused.value.key == "session.token_signing_key_file"
                assert room.state is RoomState.WAITING  # nothing lost: fix the config, or abort
                await room.abort("no join token")
                assert room.state is RoomState.IDLE


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"token_key_id": "clinic-1"}, "session.token_signing_key_file"),
        ({"token_signing_key_file": "KEY"}, "session.token_key_id"),
        ({"token_signing_key_file": "MISSING", "token_key_id": "k"}, "session.token_signing_key_file"),
        ({"token_signing_key_file": "EC", "token_key_id": "k"}, "session.token_signing_key_file"),
    ],
)
async def test_a_join_token_key_that_cannot_be_used_is_refused_when_the_room_opens(
    tmp_path: Path, settings: dict[str, str], key: str
) -> None:
    files = {
        "KEY": write_key(tmp_path / "ok.pem", Ed25519PrivateKey.generate()),
        "EC": write_key(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP384R1())),
        "MISSING": tmp_path / "nowhere.pem",
    }
    values = {name: files.get(value, value) for name, value in settings.items()}
    session = SessionSettings(signaling_url="ws://127.0.0.1:9/", **values)  # type: ignore[arg-type]
    config = make_config(tmp_path / "room", [], session=session)
    with pytest.raises(RoomConfigError) as refused:
        async with Room(config):
            pass
    assert refused.value.key == key
