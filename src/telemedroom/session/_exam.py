"""The room's side of the guided facial protocol: what it keeps, and its JSON answers to the console."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.media import Media

from telemedroom.devices.media import Clip, Snapshot
from telemedroom.errors import PeerError
from telemedroom.exams import facial
from telemedroom.session.channels import ExamPhase

ExamStepCallback = Callable[[str, int, int, int, ExamPhase], Awaitable[object]]
"""``on_exam_step(step, index, total, countdown, phase)``: show the step on the kiosk."""


@dataclass(frozen=True)
class ExamStill:
    """What one protocol step produced.

    Attributes:
        step: The protocol step's code (:data:`telemedroom.exams.PROTOCOL`).
        snapshot: The full-resolution still.
        clip: The short WebM clip, if one was asked for.
    """

    step: str
    snapshot: Snapshot
    clip: Clip | None = None


@dataclass(frozen=True)
class FacialExamContext:
    """What the room knows for writing a facial exam to the record.

    Attributes:
        patient: Reference of the patient (``Patient/...``).
        encounter: Reference of this consultation's Encounter: every still, answer and
            score is linked to it.
        record: Takes the exam's FHIR transaction Bundle (JSON data): ``Outbox.put``.
        author: The physician (a Practitioner reference), if the room knows it.
        camera: The exam camera (a Device reference).
        previous: An earlier visit's stills (``Media`` or ``DocumentReference``, as the
            FHIR server returns them), for the side-by-side view.
        resource: Keep the stills as ``Media`` (default) or ``DocumentReference``.
        include_stills: Write the protocol's stills (and clips) with the grading. A room
            whose wrap-up writes ``RoomPeer.exam_stills`` itself sets it ``False``.
        detector: A :class:`~telemedroom.exams.FaceMeshDetector`: the console then shows
            each still's landmarks and measurements (``exam_measure``) and their trend
            across visits (``exam_compare``). A measurement aid, not a diagnosis; off
            (``None``) unless the operator turns it on.

    Examples:
        >>> async def record(bundle):
        ...     return [1]
        >>> FacialExamContext(patient="Patient/p1", encounter="Encounter/e2", record=record).resource
        'Media'
    """

    patient: str
    encounter: str
    record: Callable[[dict[str, Any]], Awaitable[object]]
    author: str | None = None
    camera: str | None = None
    previous: Sequence[Media | DocumentReference] = field(default_factory=tuple)
    resource: Literal["Media", "DocumentReference"] = "Media"
    include_stills: bool = True
    detector: Any | None = None


def forms_json() -> str:
    """The ``exam_forms`` answer: the protocol steps and both grading Questionnaires."""
    protocol = [s.model_dump(mode="json") for s in facial.PROTOCOL]
    return json.dumps(
        {
            "protocol": protocol,
            "sunnybrook": json.loads(facial.sunnybrook_questionnaire().model_dump_json()),
            "house_brackmann": json.loads(facial.house_brackmann_questionnaire().model_dump_json()),
        },
        separators=(",", ":"),
    )


def compare_json(context: FacialExamContext, stills: Sequence[ExamStill]) -> str:
    """The ``exam_compare`` answer: ``compare_visits`` of the previous visit's stills and this one's."""
    current = [
        facial.step_media(
            s.step, s.snapshot, patient=context.patient, encounter=context.encounter, device=context.camera
        )
        for s in stills
    ]
    pairs = facial.compare_visits(list(context.previous), current)
    return json.dumps(
        {
            "trend": trend_json(context, current),
            "pairs": [
                {
                    "step": pair.step.code,
                    "title": pair.step.title,
                    "before": json.loads(pair.before.model_dump_json()) if pair.before else None,
                    "after": json.loads(pair.after.model_dump_json()) if pair.after else None,
                }
                for pair in pairs
            ],
        },
        separators=(",", ":"),
    )


def exam_bundle(
    context: FacialExamContext,
    stills: Sequence[ExamStill],
    *,
    sunnybrook: dict[str, Any] | None,
    house_brackmann: str | None,
    authored: datetime | None = None,
) -> tuple[dict[str, Any], facial.SunnybrookScore | None]:
    """The exam's transaction Bundle (``exam_transaction``) and the Sunnybrook scores, if graded.

    Raises:
        GradingError: The answers are incomplete or out of range.
    """
    grading = facial.SunnybrookGrading.parse(sunnybrook) if sunnybrook is not None else None
    grade = facial.house_brackmann(house_brackmann) if house_brackmann is not None else None
    media: list[tuple[str, Snapshot | Clip]] = []
    for still in stills if context.include_stills else ():
        media.append((still.step, still.snapshot))
        if still.clip is not None:
            media.append((still.step, still.clip))
    bundle = facial.exam_transaction(
        patient=context.patient,
        encounter=context.encounter,
        authored=authored or datetime.now(UTC),
        author=context.author,
        stills=media,
        sunnybrook=grading,
        house_brackmann=grade,
        camera=context.camera,
        resource=context.resource,
    )
    return bundle, grading.score() if grading else None


# -- facial measurements (a measurement aid, not a diagnosis) ------------------------------


def measure_json(context: FacialExamContext, stills: Sequence[ExamStill], step: str) -> str:
    """The ``exam_measure`` answer: the landmarks and measures of the step's latest still.

    Runs the detector (tens of milliseconds a still): call it off the event loop. A still
    that cannot be measured answers why (``problem``), never a guess.

    Raises:
        PeerError: No still of this step was taken yet.
    """
    from telemedroom.exams import NOT_A_DIAGNOSIS, measure_images

    if context.detector is None:
        return json.dumps(
            {"step": step, "available": False, "reason": "facial measurements are off in this room"}
        )
    latest = {still.step: still.snapshot for still in stills}
    if step not in latest:
        raise PeerError(f"no still of {step!r} was taken yet")
    images = [("rest", latest["rest"].data)] if "rest" in latest and step != "rest" else []
    images.append((step, latest[step].data))
    results, problems = measure_images(images, detector=context.detector)
    measured = results.get(step)
    rest_problem = problems.get("rest") if step != "rest" else None
    return json.dumps(
        {
            "step": step,
            "available": True,
            "note": NOT_A_DIAGNOSIS,
            "width": latest[step].width,
            "height": latest[step].height,
            "points": measured.points if measured else None,
            "ipd_px": measured.ipd_px if measured else None,
            "measures": [m.model_dump(mode="json") for m in measured.measures] if measured else [],
            "problem": str(problems[step]) if step in problems else None,
            "rest_problem": str(rest_problem) if rest_problem else None,
            "model": context.detector.model.version,
        },
        separators=(",", ":"),
    )


def trend_json(
    context: FacialExamContext, current: Sequence[Media | DocumentReference]
) -> list[dict[str, Any]]:
    """Each measure across the earlier visits and this one (``exam_compare``'s ``trend``)."""
    if context.detector is None:
        return []
    from telemedroom.exams._trend import measurement_trend

    trends = measurement_trend([*context.previous, *current], detector=context.detector)
    return [trend.model_dump(mode="json") for trend in trends]
