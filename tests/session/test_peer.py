"""RoomPeer and PhysicianPeer: real aiortc peers on loopback, through the real signaling server.

The blood-pressure cuff is virtual (a bumble GATT server on an in-memory radio: a fake
radio only); everything above the radio is the production path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemedroom import BloodPressure, HeartRate, Measurement
from telemedroom.devices import DeviceManager
from telemedroom.errors import PeerError, SignalingError, TokenError, TokenRefusal
from telemedroom.session import AuditAction, AuditLog
from telemedroom.session.peer import PhysicianPeer, RoomPeer, fingerprint_of
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

from .conftest import Signaling

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def test_a_cuff_reading_reaches_the_physician_with_video_and_matching_fingerprints(
    signaling: Signaling, radio: BumbleBackend
) -> None:
    reading = BloodPressure(
        systolic=131, diastolic=84, pulse_rate=71, measured_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    )
    cuff = await radio.add(VirtualBloodPressureCuff([reading]))
    sent: list[Measurement] = []

    async def recorded(readings: AsyncIterator[Measurement]) -> AsyncIterator[Measurement]:
        async for measurement in readings:
            sent.append(measurement)
            yield measurement

    audit = AuditLog()
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient"), audit=audit) as room,
    ):
        await room.wait_admitted(timeout=10)
        await room.wait_connected(timeout=20)
        async with DeviceManager(backend=radio) as manager, await manager.connect(cuff.address) as connection:
            forwarding = asyncio.create_task(room.forward(recorded(connection.measurements())))
            async with asyncio.timeout(10):
                received = await anext(doctor.measurements())
            forwarding.cancel()
        assert received == sent[0]
        assert (received.systolic, received.diastolic, received.pulse_rate) == (131, 84, 71)  # type: ignore[attr-defined]
        frame = await doctor.first_video_frame(timeout=20)
        assert (frame.width, frame.height) == (640, 360)
        assert room.fingerprint is not None
        assert room.fingerprint.startswith("sha-256 ")
        assert room.fingerprint == doctor.remote_fingerprint
        assert doctor.fingerprint == room.remote_fingerprint
        assert room.fingerprint != doctor.fingerprint
    assert [e.detail.get("track") for e in audit if e.action is AuditAction.TRACK_STARTED] == [
        "room_camera",
        "microphone",
    ]
    audit.verify()


async def test_physician_requests_snapshot_camera_switch_and_stethoscope(signaling: Signaling) -> None:
    audit = AuditLog()
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient"), audit=audit) as room,
    ):
        await room.wait_connected(timeout=20)
        shot = await doctor.snapshot("png")
        assert (shot.media_type, shot.width, shot.height) == ("image/png", 1920, 1080)
        assert shot.data.startswith(PNG_MAGIC)
        assert len(shot.data) > 1000
        assert [s.data for s in room.snapshots] == [shot.data]  # kept for the record
        jpeg = await doctor.snapshot("jpeg")
        assert jpeg.data[:2] == b"\xff\xd8"

        await doctor.switch_camera("exam")
        assert room.camera == "exam"
        await doctor.first_video_frame(timeout=20)
        assert doctor.video is not None
        async with asyncio.timeout(20):
            while (await doctor.video.recv()).width != 1920:  # type: ignore[union-attr]
                pass  # frames encoded before the switch are still arriving

        await doctor.stethoscope(True)
        assert room.stethoscope_on
        await doctor.stethoscope(False)
        assert not room.stethoscope_on
    tracks = [(e.action, e.detail.get("track")) for e in audit if e.action is not AuditAction.SNAPSHOT]
    assert (AuditAction.TRACK_STARTED, "exam_camera") in tracks
    assert (AuditAction.TRACK_STARTED, "stethoscope") in tracks
    assert (AuditAction.TRACK_STOPPED, "stethoscope") in tracks
    assert [e.detail["size"] for e in audit if e.action is AuditAction.SNAPSHOT] == ["1920x1080", "1920x1080"]
    audit.verify()


async def test_vitals_sent_before_the_channel_opens_are_delivered_in_order(signaling: Signaling) -> None:
    async with RoomPeer(signaling.url(), signaling.token("patient")) as room:
        for bpm in (70, 71, 72):
            await room.send_measurement(HeartRate(bpm=bpm))
        async with PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor:
            readings = doctor.measurements()
            async with asyncio.timeout(20):
                got = [(await anext(readings)).bpm for _ in range(3)]  # type: ignore[attr-defined]
    assert got == [70, 71, 72]


async def test_a_denied_room_is_told_why(signaling: Signaling) -> None:
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician")) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient")) as room,
    ):
        waiting = await doctor.next_waiting(timeout=10)
        assert waiting.id == room.participant_id
        await doctor.deny(waiting.id, "please call the practice")
        with pytest.raises(PeerError, match="denied: please call the practice"):
            await room.wait_admitted(timeout=10)


async def test_ending_the_visit_reaches_the_room(signaling: Signaling) -> None:
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient")) as room,
    ):
        await room.wait_connected(timeout=20)
        await doctor.end()
        async with asyncio.timeout(10):
            await room.ended.wait()


async def test_a_refused_token_is_a_token_error(signaling: Signaling) -> None:
    with pytest.raises(TokenError) as info:
        async with RoomPeer(signaling.url(), signaling.token("patient", room="elsewhere")):
            pass
    assert info.value.reason is TokenRefusal.WRONG_ROOM


async def test_an_unreachable_server_is_a_signaling_error() -> None:
    with pytest.raises(SignalingError, match="cannot join"):
        async with RoomPeer("ws://127.0.0.1:9/ws/r/a", "token"):
            pass


def test_fingerprint_of_reads_the_sdp_attribute() -> None:
    sdp = "v=0\r\na=setup:actpass\r\na=fingerprint:SHA-256 ab:cd:ef\r\n"
    assert fingerprint_of(sdp) == "sha-256 AB:CD:EF"
    assert fingerprint_of("v=0\r\n") is None


async def test_a_dropped_signaling_connection_resumes_and_the_call_goes_on(signaling: Signaling) -> None:
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient")) as room,
    ):
        await room.wait_connected(timeout=20)
        me = room.participant_id
        socket = room._client._ws
        assert socket is not None
        socket.transport.abort()  # the network drops the room's WebSocket, no close handshake
        async with asyncio.timeout(15):
            await room._client.resumed.wait()
        assert room.participant_id == me  # same place in the visit, still admitted
        assert room.welcome.state == "admitted"
        assert room.connected.is_set()  # the media link never depended on the WebSocket
        await room.send_measurement(HeartRate(bpm=88))
        async with asyncio.timeout(10):
            assert (await anext(doctor.measurements())).bpm == 88  # type: ignore[attr-defined]
        await doctor.end()  # and signaling works again: the end reaches the room
        async with asyncio.timeout(10):
            await room.ended.wait()
    assert AuditAction.RESUMED in [entry.action for entry in signaling.audit]


async def test_signaling_over_tls_with_the_clinics_own_ca(tmp_path: Path) -> None:
    """uvicorn serves wss:// with a certificate from a private CA; the peers trust that CA only."""
    import ssl

    from telemedroom.session import TokenIssuer, TokenVerifier
    from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app

    cert, key = self_signed_certificate(tmp_path)
    issuer = TokenIssuer.generate("k1")
    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    trust = ssl.create_default_context(cafile=str(cert))
    now = datetime.now(UTC)

    def join_token(role: str) -> str:
        return issuer.issue(
            room="r", appointment="a", role=role, subject=role,  # type: ignore[arg-type]
            not_before=now, expires_at=now + timedelta(hours=1),
        )  # fmt: skip

    async with LocalServer(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        url = f"{server.ws_url}/ws/r/a"
        assert url.startswith("wss://127.0.0.1:")
        with pytest.raises(SignalingError, match="CERTIFICATE_VERIFY_FAILED"):
            async with RoomPeer(url, join_token("patient")):  # the system store does not know our CA
                pass
        async with (
            PhysicianPeer(url, join_token("physician"), auto_admit=True, ssl=trust) as doctor,
            RoomPeer(url, join_token("patient"), ssl=trust) as room,
        ):
            await room.wait_connected(timeout=20)
            assert room.admitted.is_set()
            assert doctor.remote_fingerprint == room.fingerprint


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA), as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telemedroom test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
