"""A multi-party visit through a real Janus: the room, a physician and an interpreter.

Starts Debian's Janus on loopback (``apt-get install janus``) with a generated config,
runs the signaling server with ``SignalingConfig(sfu=...)`` in this process, and joins
the room (synthetic camera and microphone), the physician (who owns the visit and admits
the others) and an interpreter. The room publishes each track once; Janus fans it out.
The interpreter sees the room camera but Janus refuses it the clinical room; vitals go
to the physician only; the room sees who speaks (the interpreter's microphone plays a
tone: what the kiosk shows); the physician removes the interpreter and Janus cuts its media.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from telemedroom import HeartRate
from telemedroom.devices.media import MediaSource, Role
from telemedroom.errors import SfuError
from telemedroom.session import AuditLog, TokenIssuer, TokenVerifier
from telemedroom.session._janus import JanusSession
from telemedroom.session.participant import SfuParticipant
from telemedroom.session.peer import RoomPeer
from telemedroom.session.sfu import SfuConfig
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
from telemedroom.testing import LocalJanus

ROOM, APPOINTMENT = "quarter-1", "apt-42"


async def main() -> None:
    issuer = TokenIssuer.generate("2026-11")  # in production: the booking system's key
    now = datetime.now(UTC)

    def token(role: str, name: str) -> str:
        return issuer.issue(
            room=ROOM, appointment=APPOINTMENT, role=role, subject=name.lower().replace(" ", "-"),
            name=name, not_before=now - timedelta(minutes=1), expires_at=now + timedelta(hours=1),
        )  # fmt: skip

    audit = AuditLog()
    async with LocalJanus() as janus:
        sfu = SfuConfig(
            url=janus.url,
            admin_url=janus.admin_url,
            admin_secret=janus.admin_secret,
            room_admin_key=janus.room_admin_key,
        )
        app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys()), audit=audit, sfu=sfu))
        try:
            async with LocalServer(app) as server:
                url = f"{server.ws_url}/ws/{ROOM}/{APPOINTMENT}"
                async with (
                    SfuParticipant(url, token("physician", "Dr Weber"), auto_admit=True) as doctor,
                    RoomPeer(url, token("patient", "Room Quarter 1")) as room,
                ):
                    await room.wait_admitted()
                    frame = await doctor.first_frame(role="patient")
                    print(f"physician sees the room camera through Janus: {frame.width}x{frame.height}")
                    speaking = asyncio.Event()

                    def shown(speakers: list) -> None:  # what the kiosk shows (ParticipantsChanged)
                        if not speaking.is_set() and any(s.speaking for s in speakers):
                            said = [
                                f"{s.name} ({s.role}{', speaking' if s.speaking else ''})" for s in speakers
                            ]
                            print("the room shows:", "; ".join(said))
                            speaking.set()

                    room.sfu.speakers.on_change = shown
                    microphone = MediaSource.synthetic(Role.MICROPHONE)  # a 440 Hz tone
                    async with SfuParticipant(
                        url, token("interpreter", "Ayse Yilmaz"), microphone=microphone
                    ) as interpreter:
                        await interpreter.wait_admitted()
                        media = await interpreter.wait_media()
                        frame = await interpreter.first_frame(role="patient")
                        print(f"interpreter sees the room camera: {frame.width}x{frame.height}")
                        print(f"interpreter's rooms: {', '.join(r.kind for r in media.grant.rooms)}")
                        doctors_rooms = (await doctor.wait_media()).grant.rooms
                        clinical = next(r for r in doctors_rooms if r.kind == "clinical")
                        async with JanusSession(media.grant.url, media.grant.token) as session:
                            handle = await session.attach()
                            try:
                                await handle.message(
                                    {"request": "join", "ptype": "publisher", "room": clinical.room,
                                     "pin": clinical.pin, "token": media.grant.token}
                                )  # fmt: skip
                            except SfuError as exc:
                                print(f"interpreter in the clinical room: refused by Janus ({exc.code})")
                        await room.send_measurement(HeartRate(bpm=72))
                        reading = await anext(doctor.measurements())
                        others = interpreter.pending_vitals()
                        print(f"vitals: physician got {reading.bpm}/min, interpreter got {others}")
                        await asyncio.wait_for(speaking.wait(), 60)
                        await doctor.remove(interpreter.participant_id)
                        await interpreter.removed.wait()
                        session = interpreter.media.session if interpreter.media else None
                        if session is not None:
                            await session.closed.wait()
                        print("removed the interpreter: Janus closed its session")
                    await doctor.end()
        finally:
            await app.state.hub.sfu.aclose()
    audit.verify()
    print("audit:", ", ".join(f"{e.action.value}({e.role})" for e in audit))


if __name__ == "__main__":
    asyncio.run(main())
