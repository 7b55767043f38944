"""A whole consultation on one machine: signaling, the room's peer, a scripted physician.

The signaling server runs in this process on a free loopback port. The room joins
with its token and waits; the physician (a script standing in for the browser
console) admits it, receives the room's video and every reading of a (virtual)
blood-pressure cuff on the `vitals` data channel, asks for a snapshot from the exam
camera and ends the visit. The audit log records who did what and verifies.
"""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.session import AuditLog, TokenIssuer, TokenVerifier
from telemedroom.session.peer import PhysicianPeer, RoomPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

ROOM, APPOINTMENT = "quarter-1", "apt-42"


async def main() -> None:
    issuer = TokenIssuer.generate("2026-11")  # in production: the booking system's key
    now = datetime.now(UTC)

    def token(role: str, name: str) -> str:
        return issuer.issue(
            room=ROOM, appointment=APPOINTMENT, role=role, subject=name.lower().replace(" ", "-"),
            name=name, not_before=now, expires_at=now + timedelta(minutes=30),
        )  # fmt: skip

    audit = AuditLog()
    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys()), audit=audit))
    cuff_script = [
        BloodPressure(systolic=150, diastolic=None, intermediate=True),
        BloodPressure(systolic=131, diastolic=84, mean_arterial=100, pulse_rate=71, measured_at=now),
    ]
    async with LocalServer(app) as server, BumbleBackend() as radio:
        url = f"{server.ws_url}/ws/{ROOM}/{APPOINTMENT}"
        cuff = await radio.add(VirtualBloodPressureCuff(cuff_script))
        async with PhysicianPeer(url, token("physician", "Dr Weber")) as doctor:
            print("physician joined; waiting room is empty")
            async with RoomPeer(url, token("patient", "Room Quarter 1")) as room:
                waiting = await doctor.next_waiting(timeout=10)
                print(f"waiting: {waiting.name} ({waiting.role})")
                await doctor.admit(waiting.id)
                await room.wait_admitted(timeout=10)
                await room.wait_connected(timeout=30)
                same = room.fingerprint == doctor.remote_fingerprint
                print(f"media connected; DTLS fingerprint the physician sees is the room's: {same}")
                frame = await doctor.first_video_frame()
                print(f"first video frame: {frame.width}x{frame.height}")
                async with (
                    DeviceManager(backend=radio) as manager,
                    await manager.connect(cuff.address) as cuff_link,
                ):
                    forwarding = asyncio.create_task(room.forward(cuff_link.measurements()))
                    async for reading in doctor.measurements():
                        assert isinstance(reading, BloodPressure)
                        if reading.intermediate:
                            print(f"vitals: cuff inflating, {reading.systolic:g} {reading.unit}")
                            continue
                        pressure = f"{reading.systolic:g}/{reading.diastolic:g} {reading.unit}"
                        print(f"vitals: blood pressure {pressure}, pulse {reading.pulse_rate:g}/min")
                        break
                    forwarding.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await forwarding
                shot = await doctor.snapshot("png")
                print(f"snapshot: {shot.media_type} {shot.width}x{shot.height}, kept: {len(room.snapshots)}")
                await doctor.end()
                await asyncio.wait_for(room.ended.wait(), 10)
    audit.verify()
    print(f"visit ended; audit log verified ({', '.join(entry.action.value for entry in audit)})")


asyncio.run(main())
