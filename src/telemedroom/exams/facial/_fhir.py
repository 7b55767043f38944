"""The facial exam in FHIR: score Observations, each step's still as a Media, one exam as one transaction."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.observation import Observation

from telemedroom.errors import GradingError
from telemedroom.exams.facial._grading import HouseBrackmannGrade, SunnybrookGrading, SunnybrookScore
from telemedroom.exams.facial._protocol import FACIAL_CODES, ProtocolStep, step
from telemedroom.exams.facial._questionnaires import house_brackmann_response, sunnybrook_response

if TYPE_CHECKING:
    from telemedroom.devices.media import Clip, Snapshot

__all__ = [
    "Resource",
    "exam_transaction",
    "house_brackmann_observation",
    "step_media",
    "sunnybrook_observation",
]

_OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_MEDIA_TYPE: Final = "http://terminology.hl7.org/CodeSystem/media-type"


# -- FHIR: scores as Observations --------------------------------------------------------


def _observation(
    code: str,
    display: str,
    *,
    patient: str,
    effective: datetime,
    encounter: str | None,
    performer: str | None,
    derived_from: str | None,
    value: dict[str, Any],
    components: list[dict[str, Any]] | None = None,
) -> Observation:
    if effective.utcoffset() is None:
        raise GradingError("effective", effective, "must be timezone-aware")
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": _OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}],
        "code": {"coding": [{"system": FACIAL_CODES, "code": code, "display": display}], "text": display},
        "subject": {"reference": patient},
        "effectiveDateTime": effective.isoformat(),
        **value,
    }
    if encounter:
        data["encounter"] = {"reference": encounter}
    if performer:
        data["performer"] = [{"reference": performer}]
    if derived_from:
        data["derivedFrom"] = [{"reference": derived_from}]
    if components:
        data["component"] = components
    return Observation.model_validate(data)


def sunnybrook_observation(
    score: SunnybrookScore,
    *,
    patient: str,
    effective: datetime,
    encounter: str | None = None,
    performer: str | None = None,
    derived_from: str | None = None,
) -> Observation:
    """The Sunnybrook composite score as an Observation, the three sub-scores as its components.

    Codes (in :data:`FACIAL_CODES`): ``sunnybrook-composite``; components
    ``sunnybrook-resting-symmetry``, ``sunnybrook-voluntary-movement``,
    ``sunnybrook-synkinesis``. ``derived_from`` is the QuestionnaireResponse's reference.

    Examples:
        >>> from datetime import datetime, UTC
        >>> grading = SunnybrookGrading(eye="wide", cheek="absent", mouth="corner-drooped",
        ...                             voluntary=dict.fromkeys(EXPRESSIONS, 1),
        ...                             synkinesis=dict.fromkeys(EXPRESSIONS, 0))
        >>> obs = sunnybrook_observation(grading.score(), patient="Patient/p1",
        ...                              effective=datetime(2026, 11, 25, 10, tzinfo=UTC))
        >>> obs.valueInteger, [c.valueInteger for c in obs.component]
        (0, [20, 20, 0])
    """
    parts = [
        ("sunnybrook-resting-symmetry", "Sunnybrook resting symmetry score", score.resting),
        ("sunnybrook-voluntary-movement", "Sunnybrook voluntary movement score", score.voluntary),
        ("sunnybrook-synkinesis", "Sunnybrook synkinesis score", score.synkinesis),
    ]
    components = [
        {
            "code": {"coding": [{"system": FACIAL_CODES, "code": code, "display": display}]},
            "valueInteger": value,
        }
        for code, display, value in parts
    ]
    return _observation(
        "sunnybrook-composite",
        "Sunnybrook facial grading composite score",
        patient=patient,
        effective=effective,
        encounter=encounter,
        performer=performer,
        derived_from=derived_from,
        value={"valueInteger": score.composite},
        components=components,
    )


def house_brackmann_observation(
    grade: HouseBrackmannGrade,
    *,
    patient: str,
    effective: datetime,
    encounter: str | None = None,
    performer: str | None = None,
    derived_from: str | None = None,
) -> Observation:
    """The House-Brackmann grade as an Observation (code ``house-brackmann-grade``, coded value I-VI).

    Examples:
        >>> from datetime import datetime, UTC
        >>> obs = house_brackmann_observation(house_brackmann(2), patient="Patient/p1",
        ...                                   effective=datetime(2026, 11, 25, 10, tzinfo=UTC))
        >>> obs.valueCodeableConcept.coding[0].display
        'II: Mild dysfunction'
    """
    value = {
        "valueCodeableConcept": {
            "coding": [
                {"system": FACIAL_CODES, "code": grade.roman, "display": f"{grade.roman}: {grade.name}"}
            ],
            "text": f"House-Brackmann grade {grade.roman} ({grade.name})",
        }
    }
    return _observation(
        "house-brackmann-grade",
        "House-Brackmann facial nerve grade",
        patient=patient,
        effective=effective,
        encounter=encounter,
        performer=performer,
        derived_from=derived_from,
        value=value,
    )


# -- FHIR: stills per step ---------------------------------------------------------------


Resource = Literal["Media", "DocumentReference"]
"""How a still (or clip) is kept: FHIR R4B ``Media`` (default) or ``DocumentReference``."""

# LOINC 72170-4 "Photographic image": the document type IHE and US Core use for photos.
_PHOTO_DOCUMENT: Final = {"system": "http://loinc.org", "code": "72170-4", "display": "Photographic image"}


def _attachment(chosen: ProtocolStep, still: Snapshot | Clip) -> dict[str, Any]:
    kind = "clip" if still.media_type.startswith("video/") else "still"
    return {
        "contentType": still.media_type,
        "data": base64.b64encode(still.data).decode("ascii"),
        "size": len(still.data),
        # FHIR R4B Attachment.hash is the base64 of the data's SHA-1
        "hash": base64.b64encode(hashlib.sha1(still.data).digest()).decode("ascii"),
        "title": f"{chosen.title['en']} ({kind}, {still.captured_at:%Y-%m-%d})",
        "creation": still.captured_at.isoformat(),
    }


def _step_coding(chosen: ProtocolStep) -> dict[str, Any]:
    return {
        "coding": [{"system": FACIAL_CODES, "code": chosen.code, "display": chosen.title["en"]}],
        "text": chosen.title["en"],
    }


@overload
def step_media(
    protocol_step: ProtocolStep | str,
    snapshot: Snapshot | Clip,
    *,
    patient: str,
    encounter: str,
    operator: str | None = ...,
    device: str | None = ...,
    resource: Literal["Media"] = ...,
) -> Media: ...
@overload
def step_media(
    protocol_step: ProtocolStep | str,
    snapshot: Snapshot | Clip,
    *,
    patient: str,
    encounter: str,
    operator: str | None = ...,
    device: str | None = ...,
    resource: Literal["DocumentReference"],
) -> DocumentReference: ...
def step_media(
    protocol_step: ProtocolStep | str,
    snapshot: Snapshot | Clip,
    *,
    patient: str,
    encounter: str,
    operator: str | None = None,
    device: str | None = None,
    resource: Resource = "Media",
) -> Media | DocumentReference:
    """A still (or clip) of one protocol step as a FHIR R4B ``Media``, the step as its coded ``view``.

    The image is embedded (``content.data``) with its size and SHA-1 hash, as FHIR's
    ``Attachment`` defines them; ``createdDateTime`` is when the frame arrived. A
    :class:`~telemedroom.devices.media.Clip` (``video/webm``) becomes a Media of type
    ``video`` with its ``duration`` and ``frames``.

    With ``resource="DocumentReference"`` it is a ``DocumentReference`` instead, for
    servers and record systems that keep documents rather than Media (FHIR R5 folds
    Media into DocumentReference): type LOINC 72170-4 "Photographic image" (a clip:
    ``video-clip`` of :data:`FACIAL_CODES`), the step as its ``category``, the
    Encounter in ``context.encounter``, the photographer and the camera as
    ``author``, the same embedded attachment. R4B's ``Attachment`` has no width or
    height; those stay in the Media form only.

    Args:
        protocol_step: The step (or its code).
        snapshot: The still, from ``MediaDevice.snapshot()`` of
            :mod:`telemedroom.devices.media` (or a clip from ``MediaDevice.clip()``).
        patient: Reference of the patient.
        encounter: Reference of the Encounter (the consultation) it belongs to.
        operator: Who took it (a Practitioner reference).
        device: The exam camera (a Device reference).
        resource: ``"Media"`` or ``"DocumentReference"``.

    Raises:
        GradingError: ``protocol_step`` is not a step of :data:`PROTOCOL`.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from types import SimpleNamespace
        >>> still = SimpleNamespace(data=b"...png...", media_type="image/png", width=1920, height=1080,
        ...                         captured_at=datetime(2026, 11, 25, 10, 2, tzinfo=UTC))
        >>> media = step_media("smile-with-teeth", still, patient="Patient/p1", encounter="Encounter/e1")
        >>> media.view.coding[0].code, media.content.contentType, media.width
        ('smile-with-teeth', 'image/png', 1920)
        >>> document = step_media("smile-with-teeth", still, patient="Patient/p1", encounter="Encounter/e1",
        ...                       resource="DocumentReference")
        >>> document.type.coding[0].code, document.category[0].coding[0].code
        ('72170-4', 'smile-with-teeth')
    """
    chosen = step(protocol_step) if isinstance(protocol_step, str) else protocol_step
    video = snapshot.media_type.startswith("video/")
    if resource == "DocumentReference":
        authors = [{"reference": r} for r in (operator, device) if r]
        document: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "status": "current",
            "docStatus": "final",
            "type": (
                {"coding": [{"system": FACIAL_CODES, "code": "video-clip", "display": "Video clip"}]}
                if video
                else {"coding": [_PHOTO_DOCUMENT]}
            ),
            "category": [_step_coding(chosen)],
            "subject": {"reference": patient},
            "date": snapshot.captured_at.isoformat(),
            "description": f"Facial exam: {chosen.title['en']}",
            "content": [{"attachment": _attachment(chosen, snapshot)}],
            "context": {"encounter": [{"reference": encounter}]},
        }
        if authors:
            document["author"] = authors
        return DocumentReference.model_validate(document)
    if resource != "Media":
        raise GradingError("resource", resource, "must be Media or DocumentReference")
    kind = ("video", "Video") if video else ("image", "Image")
    data: dict[str, Any] = {
        "resourceType": "Media",
        "status": "completed",
        "type": {"coding": [{"system": _MEDIA_TYPE, "code": kind[0], "display": kind[1]}]},
        "view": _step_coding(chosen),
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "createdDateTime": snapshot.captured_at.isoformat(),
        "width": snapshot.width,
        "height": snapshot.height,
        "content": _attachment(chosen, snapshot),
    }
    if video:
        data["duration"] = getattr(snapshot, "duration", None)
        data["frames"] = getattr(snapshot, "frames", None)
    if operator:
        data["operator"] = {"reference": operator}
    if device:
        data["device"] = {"reference": device}
    return Media.model_validate(data)


# -- one exam, one transaction -----------------------------------------------------------

_EXAM_NAMESPACE: Final = uuid.UUID("0c5e7d2e-4f0b-4a59-9a57-3f1e2b8c6d41")


def exam_transaction(
    *,
    patient: str,
    encounter: str,
    authored: datetime,
    author: str | None = None,
    stills: Sequence[tuple[ProtocolStep | str, Snapshot | Clip]] = (),
    sunnybrook: SunnybrookGrading | None = None,
    house_brackmann: HouseBrackmannGrade | None = None,
    camera: str | None = None,
    resource: Resource = "Media",
) -> dict[str, Any]:
    """Everything one facial exam produced, as one FHIR transaction Bundle (JSON data).

    The stills as :func:`step_media`, each grading as its QuestionnaireResponse and its
    score Observation (``derivedFrom`` the response). Give it to ``Outbox.put`` (or a
    ``FhirClient``). Every resource is a PUT to an id derived from the encounter, the
    form or step and the time, and its ``fullUrl`` is ``urn:uuid:`` of that same id, so
    sending it again changes nothing, and ``FileSink`` keeps the same ids and references.

    Args:
        patient: Reference of the patient.
        encounter: Reference of the Encounter (the consultation).
        authored: When the physician graded (timezone-aware).
        author: The physician (a Practitioner reference).
        stills: ``(step, snapshot)`` pairs, as taken (a clip as the second item is kept
            the same way, as a video).
        sunnybrook: The Sunnybrook answers, if graded.
        house_brackmann: The House-Brackmann grade, if graded.
        camera: The exam camera (a Device reference), for the stills.
        resource: Keep the stills as ``Media`` (default) or ``DocumentReference``
            (see :func:`step_media`).

    Raises:
        GradingError: A step is unknown or a time is not timezone-aware.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom.exams import exam_transaction, house_brackmann
        >>> bundle = exam_transaction(patient="Patient/p1", encounter="Encounter/e1",
        ...                           authored=datetime(2026, 11, 25, 10, tzinfo=UTC),
        ...                           house_brackmann=house_brackmann("II"))
        >>> [e["request"]["url"].split("/")[0] for e in bundle["entry"]]
        ['QuestionnaireResponse', 'Observation']
    """
    resources: list[tuple[str, Any]] = []
    for chosen, snapshot in stills:
        chosen_step = step(chosen) if isinstance(chosen, str) else chosen
        media = step_media(
            chosen_step,
            snapshot,
            patient=patient,
            encounter=encounter,
            operator=author,
            device=camera,
            resource=resource,
        )
        # a still's key is the one earlier versions used, so a re-sent exam keeps its ids
        kind = "clip" if snapshot.media_type.startswith("video/") else "media"
        resources.append((f"{kind}|{chosen_step.code}|{snapshot.captured_at.isoformat()}", media))
    stamp = authored.isoformat()

    def derived(form: str) -> str:
        return f"QuestionnaireResponse/{uuid.uuid5(_EXAM_NAMESPACE, f'{encounter}|response|{form}|{stamp}')}"

    if sunnybrook is not None:
        answers = sunnybrook_response(
            sunnybrook, patient=patient, authored=authored, encounter=encounter, author=author
        )
        score = sunnybrook_observation(
            sunnybrook.score(),
            patient=patient,
            effective=authored,
            encounter=encounter,
            performer=author,
            derived_from=derived("sunnybrook"),
        )
        resources += [(f"response|sunnybrook|{stamp}", answers), (f"observation|sunnybrook|{stamp}", score)]
    if house_brackmann is not None:
        answers = house_brackmann_response(
            house_brackmann, patient=patient, authored=authored, encounter=encounter, author=author
        )
        grade = house_brackmann_observation(
            house_brackmann,
            patient=patient,
            effective=authored,
            encounter=encounter,
            performer=author,
            derived_from=derived("house-brackmann"),
        )
        resources += [
            (f"response|house-brackmann|{stamp}", answers),
            (f"observation|house-brackmann|{stamp}", grade),
        ]
    entries = []
    for key, written in resources:
        kind = written.get_resource_type()
        rid = str(uuid.uuid5(_EXAM_NAMESPACE, f"{encounter}|{key}"))
        data = json.loads(written.model_dump_json())
        data["id"] = rid
        entries.append(
            {
                "fullUrl": f"urn:uuid:{rid}",
                "resource": data,
                "request": {"method": "PUT", "url": f"{kind}/{rid}"},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    Bundle.model_validate(bundle)
    return bundle
