"""The guided facial exam over a real (loopback) consultation, as the console runs it.

A scripted physician (standing in for the console's Facial exam panel) runs the eight
protocol steps; the room counts each down on its "kiosk" (printed here, in German),
takes a full-resolution still from its (synthetic) exam camera and sends it back. The
physician grades; the room writes the exam to its encrypted outbox as one FHIR
transaction (drained to NDJSON files here) and pairs the stills with a previous visit's.
The countdown runs 20 times faster than in a room.
Needs ``pip install 'telemedroom[server,video]'``.
"""

import asyncio
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telemedroom.devices.media import MediaDevice, MediaSource, Role
from telemedroom.exams import SunnybrookGrading, step, step_media
from telemedroom.fhir import FileSink, Outbox
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.peer import FacialExamContext, PhysicianPeer, RoomPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app


async def kiosk(code: str, index: int, total: int, countdown: int, phase: str) -> None:
    """What the room's kiosk shows (the Room turns these calls into ExamStep events)."""
    if phase == "instruct" and countdown == step(code).countdown_s:
        print(f"kiosk {index + 1}/{total}: {step(code).instruction['de']}")


async def main(folder: Path) -> None:
    issuer, now = TokenIssuer.generate("2026-11"), datetime.now(UTC)

    def token(role: str) -> str:
        return issuer.issue(room="quarter-1", appointment="apt-7", role=role, subject=role,
                            not_before=now, expires_at=now + timedelta(minutes=30))  # fmt: skip

    # the previous visit's stills, as the FHIR server would return them (a smaller camera then)
    async with MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=640, height=480)) as old_camera:
        previous = [
            step_media(code, await old_camera.snapshot("jpeg"), patient="Patient/facial-0815",
                       encounter="Encounter/follow-up-1")
            for code in ("rest", "smile-with-teeth")
        ]  # fmt: skip

    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    async with (
        LocalServer(app) as server,
        Outbox(folder / "outbox.sqlite", key=os.urandom(32)) as outbox,
    ):
        url = f"{server.ws_url}/ws/quarter-1/apt-7"
        exam = FacialExamContext(
            patient="Patient/facial-0815", encounter="Encounter/follow-up-2", record=outbox.put,
            author="Practitioner/dr-weber", camera="Device/exam-camera-1", previous=previous,
        )  # fmt: skip
        async with (
            PhysicianPeer(url, token("physician"), auto_admit=True) as doctor,
            RoomPeer(url, token("patient"), on_exam_step=kiosk, exam=exam, countdown_tick=0.05) as room,
        ):
            await room.wait_connected(timeout=30)
            stills = await doctor.run_facial_protocol()
            sizes = {f"{s.snapshot.width}x{s.snapshot.height}" for s in stills}
            print(f"console: {len(stills)} stills at {', '.join(sorted(sizes))}")
            grading = SunnybrookGrading(
                eye="narrow", cheek="less-pronounced", mouth="normal",
                voluntary={"brow-lift": 3, "gentle-eye-closure": 4, "open-mouth-smile": 2, "snarl": 3,
                           "lip-pucker": 3},
                synkinesis={"brow-lift": 1, "gentle-eye-closure": 1, "open-mouth-smile": 2, "snarl": 0,
                            "lip-pucker": 1},
            )  # fmt: skip
            answer = await doctor.record_exam(sunnybrook=grading, house_brackmann="III")
            resources, scores = answer.resources or [], answer.scores or {}
            print(f"room wrote {len(resources)} resources; composite {scores['composite']}")
            for pair in await doctor.compare_visits():
                before = f"{pair.before.width}x{pair.before.height}" if pair.before else "-"
                after = f"{pair.after.width}x{pair.after.height}" if pair.after else "-"
                print(f"compare {pair.step.code:<19} previous {before:<8} now {after}")
        await outbox.drain(FileSink(folder / "fhir"))
    for file in sorted((folder / "fhir").glob("*.ndjson")):
        print(f"{file.name}: {len(file.read_text().splitlines())}")


with tempfile.TemporaryDirectory() as temporary:
    asyncio.run(main(Path(temporary)))
