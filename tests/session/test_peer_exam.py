"""The guided facial protocol over the control channel: real aiortc peers on loopback.

The exam camera is synthetic (colour bars at 1280x960, so the stills' size is the
source's and not the 640x360 of the main video); the FHIR sink is a list the room's
``record`` callable appends to (the outbox is tested on its own).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference

from telemedroom.devices.media import MediaSource, Role
from telemedroom.errors import PeerError
from telemedroom.exams import PROTOCOL, SunnybrookGrading, step_media
from telemedroom.session import AuditAction, AuditLog, channels
from telemedroom.session.peer import ExamStill, FacialExamContext, PhysicianPeer, RoomPeer

from .conftest import Signaling

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WEBM_MAGIC = bytes.fromhex("1a45dfa3")
EXAM_CAMERA = MediaSource.synthetic(Role.EXAM_CAMERA, width=1280, height=960)

# The worked example of the Sunnybrook sheet used throughout (resting 10, voluntary 60,
# synkinesis 5, composite 45).
GRADING = SunnybrookGrading(
    eye="narrow",
    cheek="less-pronounced",
    mouth="normal",
    voluntary={"brow-lift": 3, "gentle-eye-closure": 4, "open-mouth-smile": 2, "snarl": 3, "lip-pucker": 3},
    synkinesis={"brow-lift": 1, "gentle-eye-closure": 1, "open-mouth-smile": 2, "snarl": 0, "lip-pucker": 1},
)


class Kiosk:
    """Records what the room asks the kiosk to show (the ``on_exam_step`` callable)."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, int, int, int, str]] = []

    async def __call__(self, step: str, index: int, total: int, countdown: int, phase: str) -> None:
        self.shown.append((step, index, total, countdown, phase))


def previous_visit() -> list[Any]:
    """Two stills of an earlier visit, as the FHIR server would return them."""
    from types import SimpleNamespace

    still = SimpleNamespace(
        data=PNG_MAGIC + b"old",
        media_type="image/png",
        width=640,
        height=480,
        captured_at=datetime(2026, 10, 14, 9, tzinfo=UTC),
    )
    return [
        step_media("rest", still, patient="Patient/p1", encounter="Encounter/visit-1"),
        step_media("smile-with-teeth", still, patient="Patient/p1", encounter="Encounter/visit-1",
                   resource="DocumentReference"),  # a server that keeps documents
    ]  # fmt: skip


async def test_the_console_runs_the_eight_steps_and_the_room_records_the_exam(signaling: Signaling) -> None:
    kiosk, written, audit = Kiosk(), [], AuditLog()

    async def record(bundle: dict[str, Any]) -> list[int]:
        written.append(bundle)
        return [len(written)]

    context = FacialExamContext(
        patient="Patient/p1",
        encounter="Encounter/visit-2",
        record=record,
        author="Practitioner/dr-weber",
        camera="Device/exam-camera-1",
        previous=previous_visit(),
    )
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(
            signaling.url(),
            signaling.token("patient"),
            exam_camera=EXAM_CAMERA,
            audit=audit,
            on_exam_step=kiosk,
            exam=context,
            countdown_tick=0.01,
        ) as room,
    ):
        await room.wait_connected(timeout=20)
        forms = await doctor.exam_forms()
        assert [s["code"] for s in forms["protocol"]] == [s.code for s in PROTOCOL]
        assert forms["sunnybrook"]["resourceType"] == "Questionnaire"

        progress: list[channels.ExamProgress] = []
        stills = await doctor.run_facial_protocol(on_progress=progress.append)

        assert [s.step for s in stills] == [s.code for s in PROTOCOL]
        for still in stills:
            assert (still.snapshot.width, still.snapshot.height) == (1280, 960)
            assert still.snapshot.data.startswith(PNG_MAGIC)
            assert still.clip is None
        assert [s.snapshot.data for s in room.exam_stills] == [s.snapshot.data for s in stills]
        assert room.snapshots == []  # the Snapshot button's list: the protocol's stills are not in it

        # the kiosk saw every tick: 3, 2, 1, capture, done per step, in order
        expected = [
            (s.code, i, 8, countdown, phase)
            for i, s in enumerate(PROTOCOL)
            for countdown, phase in [
                (3, "instruct"),
                (2, "instruct"),
                (1, "instruct"),
                (0, "capture"),
                (0, "done"),
            ]
        ]
        assert kiosk.shown == expected
        assert [(p.step, p.index, p.total, p.countdown, p.phase) for p in progress] == expected

        answer = await doctor.record_exam(sunnybrook=GRADING, house_brackmann="III")
        assert answer.scores == {"resting": 10, "voluntary": 60, "synkinesis": 5, "composite": 45}
        [bundle] = written
        Bundle.model_validate(bundle)
        kinds = [entry["request"]["url"].split("/")[0] for entry in bundle["entry"]]
        assert kinds == ["Media"] * 8 + ["QuestionnaireResponse", "Observation"] * 2
        assert answer.resources == [entry["request"]["url"] for entry in bundle["entry"]]
        for entry in bundle["entry"][:8]:
            assert entry["resource"]["encounter"] == {"reference": "Encounter/visit-2"}
            assert (entry["resource"]["width"], entry["resource"]["height"]) == (1280, 960)
        composite = bundle["entry"][9]["resource"]
        assert composite["valueInteger"] == 45

        pairs = await doctor.compare_visits()
        assert [(p.step.code, p.before is not None, p.after is not None) for p in pairs] == [
            (s.code, s.code in ("rest", "smile-with-teeth"), True) for s in PROTOCOL
        ]
        assert pairs[0].before is not None
        assert pairs[0].before.encounter.reference == "Encounter/visit-1"  # type: ignore[union-attr]
        assert pairs[0].after is not None
        assert pairs[0].after.width == 1280  # type: ignore[union-attr]
        smile = pairs[5].before
        assert isinstance(smile, DocumentReference)
        assert smile.content[0].attachment.data == PNG_MAGIC + b"old"

    snapshots = [e for e in audit if e.action is AuditAction.SNAPSHOT]
    assert [e.detail["step"] for e in snapshots] == [s.code for s in PROTOCOL]
    assert [e.detail for e in audit if e.action is AuditAction.EXAM_RECORDED] == [{"resources": "12"}]
    audit.verify()


async def test_a_step_with_a_clip_sends_a_webm_after_the_still(signaling: Signaling) -> None:
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(
            signaling.url(),
            signaling.token("patient"),
            exam_camera=MediaSource.synthetic(Role.EXAM_CAMERA, width=640, height=480),
            countdown_tick=0.01,
            clip_seconds=0.5,
        ) as room,
    ):
        await room.wait_connected(timeout=20)
        still = await doctor.exam_step("smile-with-teeth", clip=True)
    assert isinstance(still, ExamStill)
    assert still.clip is not None
    assert still.clip.data.startswith(WEBM_MAGIC)
    assert (still.clip.width, still.clip.height) == (640, 480)
    assert still.clip.frames >= 10  # 0.5 s of a 30 fps source, first and last frame included
    [kept] = room.exam_stills
    assert kept.clip is not None
    assert kept.clip.data == still.clip.data


async def test_unknown_steps_and_a_room_without_exam_context_are_refused(signaling: Signaling) -> None:
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient"), countdown_tick=0.01) as room,
    ):
        await room.wait_connected(timeout=20)
        with pytest.raises(PeerError, match=r"protocol\.step"):
            await doctor.exam_step("frown")
        with pytest.raises(PeerError, match="no facial exam context"):
            await doctor.record_exam(house_brackmann="II")
        with pytest.raises(PeerError, match="no facial exam context"):
            await doctor.compare_visits()
        assert room.exam_stills == []


async def test_a_room_whose_wrap_up_keeps_the_stills_records_only_the_grading(signaling: Signaling) -> None:
    written: list[dict[str, Any]] = []

    async def record(bundle: dict[str, Any]) -> None:
        written.append(bundle)

    context = FacialExamContext(
        patient="Patient/p1", encounter="Encounter/e", record=record, include_stills=False
    )
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient"), exam=context, countdown_tick=0.01) as room,
    ):
        await room.wait_connected(timeout=20)
        await doctor.run_facial_protocol(steps=["rest", "smile-with-teeth"])
        answer = await doctor.record_exam(house_brackmann="II")
    assert [url.split("/")[0] for url in answer.resources or []] == ["QuestionnaireResponse", "Observation"]
    assert [s.step for s in room.exam_stills] == ["rest", "smile-with-teeth"]
    assert len(written) == 1


async def test_incomplete_grading_is_refused_naming_the_item(signaling: Signaling) -> None:
    written: list[dict[str, Any]] = []

    async def record(bundle: dict[str, Any]) -> None:
        written.append(bundle)

    context = FacialExamContext(patient="Patient/p1", encounter="Encounter/e", record=record)
    async with (
        PhysicianPeer(signaling.url(), signaling.token("physician"), auto_admit=True) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient"), exam=context, countdown_tick=0.01) as room,
    ):
        await room.wait_connected(timeout=20)
        answers = GRADING.model_dump()
        del answers["voluntary"]["snarl"]
        with pytest.raises(PeerError, match=r"sunnybrook\.voluntary"):
            await doctor.record_exam(sunnybrook=answers)
        with pytest.raises(PeerError, match=r"house-brackmann\.grade"):
            await doctor.record_exam(house_brackmann="VII")
    assert written == []
