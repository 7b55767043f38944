"""Record a facial-paralysis follow-up: eight stills, Sunnybrook and House-Brackmann, as FHIR.

The exam camera is synthetic (colour bars) and the grading is typed in, as the physician
would enter it in the console; everything else is what a room stores: a Media per
protocol step linked to the Encounter, the answers as QuestionnaireResponses, the scores
as Observations, all in one transaction through the encrypted outbox, drained here into
NDJSON files. Needs ``pip install 'telemedroom[video]'``.
"""

import asyncio
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from telemedroom.devices.media import MediaDevice, MediaSource, Role
from telemedroom.exams import PROTOCOL, SunnybrookGrading, exam_transaction, house_brackmann
from telemedroom.fhir import FileSink, Outbox


async def main(folder: Path) -> None:
    stills = []
    async with MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=1920, height=1080)) as camera:
        for step in PROTOCOL:
            print(f"kiosk: {step.instruction['de']}  ({step.instruction['en']})")
            stills.append((step, await camera.snapshot("jpeg")))
    print(f"stills: {len(stills)} at {stills[0][1].width}x{stills[0][1].height}")

    # What the physician entered for the left side of the face, six weeks after onset.
    grading = SunnybrookGrading(
        eye="narrow",
        cheek="less-pronounced",
        mouth="normal",
        voluntary={
            "brow-lift": 3,
            "gentle-eye-closure": 4,
            "open-mouth-smile": 2,
            "snarl": 3,
            "lip-pucker": 3,
        },
        synkinesis={
            "brow-lift": 1,
            "gentle-eye-closure": 1,
            "open-mouth-smile": 2,
            "snarl": 0,
            "lip-pucker": 1,
        },
    )
    score = grading.score()
    print(
        f"Sunnybrook: resting {score.resting}, voluntary {score.voluntary}, "
        f"synkinesis {score.synkinesis}, composite {score.composite}"
    )
    grade = house_brackmann("III")
    print(f"House-Brackmann: {grade.roman} ({grade.name})")

    bundle = exam_transaction(
        patient="Patient/facial-0815",
        encounter="Encounter/follow-up-2",
        authored=datetime(2026, 11, 25, 10, 30, tzinfo=UTC),
        author="Practitioner/dr-weber",
        stills=stills,
        sunnybrook=grading,
        house_brackmann=grade,
        camera="Device/exam-camera-1",
    )
    async with Outbox(folder / "outbox.sqlite", key=os.urandom(32)) as outbox:
        await outbox.put(bundle)
        await outbox.drain(FileSink(folder / "fhir"))
    for file in sorted((folder / "fhir").glob("*.ndjson")):
        resources = [json.loads(line) for line in file.read_text().splitlines()]
        print(f"{file.name}: {len(resources)}")
    lines = (folder / "fhir" / "Media.ndjson").read_text().splitlines()
    views = [json.loads(line)["view"]["coding"][0]["code"] for line in lines]
    print(f"views: {', '.join(views)}")


with tempfile.TemporaryDirectory() as temporary:
    asyncio.run(main(Path(temporary)))
