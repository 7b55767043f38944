"""Facial measurements as FHIR R4B: one Observation per measure, the software and model as a Device.

Each :class:`~telemedroom.exams.FacialMeasure` becomes an ``Observation`` (category
``exam``, code from :data:`~telemedroom.exams.FACIAL_CODES`) whose components are the
patient's left and right side (UCUM ``%`` or ``deg``; ``mm`` for the
millimetre-equivalents), the percentage of normal and the weaker side (SNOMED CT
laterality). Its ``method`` is automated image analysis, its ``device`` the measuring
software with its model's version and hash, ``derivedFrom`` the still's ``Media`` (and
the rest still's, for a movement), ``encounter`` the visit, and a note says it is a
measurement aid, not a diagnosis.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation

from telemedroom._version import __version__
from telemedroom.errors import GradingError
from telemedroom.exams._landmarks import NOT_A_DIAGNOSIS
from telemedroom.exams._measures import MEASURES, FacialMeasure, StillMeasurements

__all__ = ["measurement_device", "measurement_entries", "measurement_observation"]

_FACIAL_CODES: Final = "https://telemedroom.org/fhir/CodeSystem/facial-exam"  # = facial.FACIAL_CODES
_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_UCUM: Final = "http://unitsofmeasure.org"
_SNOMED: Final = "http://snomed.info/sct"
_LATERALITY: Final = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}  # SNOMED CT qualifiers
_UNITS: Final = {"%": "%", "deg": "deg", "mm": "mm"}
_KINDS: Final = {spec.code: spec.kind for spec in MEASURES}
_NAMESPACE: Final = uuid.UUID("5d1f3c8a-2b47-4e0f-9a6c-7e2d41b9c0aa")
METHOD: Final = {
    "coding": [
        {"system": _FACIAL_CODES, "code": "automated-image-analysis", "display": "Automated image analysis"}
    ],
    "text": "Automated image analysis: facial landmarks (MediaPipe face mesh) measured by telemedroom",
}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": _UCUM, "code": _UNITS[unit]}


def _component(code: str, display: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": {"coding": [{"system": _FACIAL_CODES, "code": code, "display": display}]}, **value}


def measurement_device(model: Any) -> Device:
    """The measuring software as a FHIR ``Device``: telemedroom's version and the model's.

    Args:
        model: The detector's :class:`~telemedroom.exams.ModelInfo` (name, version, sha256).

    Examples:
        >>> from telemedroom.exams import ModelInfo
        >>> device = measurement_device(ModelInfo("MediaPipe face mesh", "0.10.14", "ab12"))
        >>> [v.value for v in device.version][1:]
        ['MediaPipe face mesh 0.10.14', 'ab12']
    """
    versions = [
        ("software", f"telemedroom {__version__}"),
        ("model", f"{model.name} {model.version}"),
        ("model-sha256", model.sha256),
    ]
    rid = str(uuid.uuid5(_NAMESPACE, "|".join(v for _, v in versions)))
    return Device.model_validate(
        {
            "resourceType": "Device",
            "id": rid,
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{rid}"}],
            "status": "active",
            "manufacturer": "The telemedroom developers",
            "deviceName": [{"name": "telemedroom facial measurements", "type": "user-friendly-name"}],
            "type": {"text": "Facial landmark measurement software (a measurement aid, not a diagnosis)"},
            "version": [{"type": {"text": kind}, "value": value} for kind, value in versions],
        }
    )


def measurement_observation(
    measure: FacialMeasure,
    *,
    patient: str,
    encounter: str,
    effective: datetime,
    media: str,
    device: str,
    rest_media: str | None = None,
) -> Observation:
    """One measure as a FHIR ``Observation``, derived from its still's ``Media``.

    Args:
        measure: The measure.
        patient: Reference of the patient.
        encounter: Reference of the Encounter (the visit).
        effective: When the still was taken (timezone-aware).
        media: Reference of the still's Media.
        device: Reference of :func:`measurement_device`.
        rest_media: Reference of the rest still's Media, for a movement or a closure.

    Raises:
        GradingError: ``effective`` has no time zone.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom.exams import FacialMeasure
        >>> smile = FacialMeasure(code="commissure-excursion", step="smile-with-teeth", title="Smile",
        ...                       unit="%", left=4.0, right=16.0, percent_of_normal=25.0, weaker="left")
        >>> obs = measurement_observation(smile, patient="Patient/p1", encounter="Encounter/e1",
        ...                               effective=datetime(2026, 11, 25, 10, tzinfo=UTC),
        ...                               media="Media/m6", device="Device/d1", rest_media="Media/m1")
        >>> [(c.code.coding[0].code, c.valueQuantity and float(c.valueQuantity.value)) for c in obs.component]
        [('left-side', 4.0), ('right-side', 16.0), ('percent-of-normal', 25.0), ('weaker-side', None)]
    """
    if effective.tzinfo is None:
        raise GradingError("effective", effective.isoformat(), "must be timezone-aware")
    components = [
        _component(
            "left-side", "Patient's left side", {"valueQuantity": _quantity(measure.left, measure.unit)}
        ),
        _component(
            "right-side", "Patient's right side", {"valueQuantity": _quantity(measure.right, measure.unit)}
        ),
    ]
    if measure.left_mm is not None and measure.right_mm is not None:
        components += [
            _component("left-side-mm", "Patient's left side, mm-equivalent",
                       {"valueQuantity": _quantity(measure.left_mm, "mm")}),
            _component("right-side-mm", "Patient's right side, mm-equivalent",
                       {"valueQuantity": _quantity(measure.right_mm, "mm")}),
        ]  # fmt: skip
    if measure.percent_of_normal is not None:
        components.append(
            _component(
                "percent-of-normal",
                "Affected side's movement in % of the other side",
                {"valueQuantity": _quantity(measure.percent_of_normal, "%")},
            )
        )
    if measure.weaker is not None:
        code, display = _LATERALITY[measure.weaker]
        components.append(
            _component(
                "weaker-side",
                "Side that moved less",
                {"valueCodeableConcept": {"coding": [{"system": _SNOMED, "code": code, "display": display}]}},
            )
        )
    derived = [{"reference": media}] + ([{"reference": rest_media}] if rest_media else [])
    return Observation.model_validate(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": _CATEGORY, "code": "exam", "display": "Exam"}]}],
            "code": {
                "coding": [{"system": _FACIAL_CODES, "code": measure.code, "display": measure.title}],
                "text": measure.title,
            },
            "subject": {"reference": patient},
            "encounter": {"reference": encounter},
            "effectiveDateTime": effective.isoformat(),
            "method": METHOD,
            "device": {"reference": device},
            "derivedFrom": derived,
            "note": [{"text": NOT_A_DIAGNOSIS}],
            "component": components,
        }
    )


def measurement_entries(
    results: Mapping[str, StillMeasurements],
    *,
    model: Any,
    patient: str,
    encounter: str,
    media: Mapping[str, tuple[str, datetime]],
) -> list[dict[str, Any]]:
    """Transaction entries (PUT, deterministic ids) for a visit's measures and their Device.

    Args:
        results: The measures per step (:func:`~telemedroom.exams.measure_images`).
        model: The detector's :class:`~telemedroom.exams.ModelInfo`.
        patient: Reference of the patient.
        encounter: Reference of the Encounter.
        media: Per step, the still's Media reference and when it was taken.

    Returns:
        The Device entry first, then one Observation entry per measure (none without measures).

    Examples:
        >>> measurement_entries({}, model=None, patient="Patient/p1", encounter="Encounter/e1", media={})
        []
    """
    observations: list[tuple[str, Observation]] = []
    device = measurement_device(model) if any(r.measures for r in results.values()) else None
    if device is None:
        return []
    device_ref = f"Device/{device.id}"
    rest = media.get("rest")
    for step, measured in results.items():
        if step not in media:
            raise GradingError("media", step, "no Media reference for this step's still")
        reference, taken = media[step]
        for measure in measured.measures:
            obs = measurement_observation(
                measure,
                patient=patient,
                encounter=encounter,
                effective=taken,
                media=reference,
                device=device_ref,
                rest_media=rest[0] if rest and _KINDS[measure.code] in ("movement", "closure") else None,
            )
            observations.append((f"{encounter}|measure|{measure.code}|{reference}", obs))
    entries = [_put(str(device.id), device)]
    for key, obs in observations:
        obs.id = str(uuid.uuid5(_NAMESPACE, key))
        entries.append(_put(obs.id, obs))
    return entries


def _put(rid: str, resource: Device | Observation) -> dict[str, Any]:
    kind = resource.get_resource_type()
    data = json.loads(resource.model_dump_json())
    data["id"] = rid
    return {
        "fullUrl": f"urn:uuid:{rid}",
        "resource": data,
        "request": {"method": "PUT", "url": f"{kind}/{rid}"},
    }
