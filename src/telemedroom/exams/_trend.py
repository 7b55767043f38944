"""Facial measurements across visits: each measure's values visit by visit, from the stills in the record."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.media import Media
from pydantic import BaseModel, ConfigDict

from telemedroom.exams._measures import MEASURES, StillMeasurements

__all__ = ["MeasureTrend", "TrendPoint", "measurement_trend"]

_FACIAL_CODES = "https://telemedroom.org/fhir/CodeSystem/facial-exam"  # = facial.FACIAL_CODES
_STEPS = {spec.step for spec in MEASURES}


class TrendPoint(BaseModel):
    """One visit's value of a measure.

    Attributes:
        encounter: The visit's Encounter reference (``None`` when the still names none).
        date: When the visit's latest still of this step was taken.
        left: The patient's left side.
        right: The patient's right side.
        percent_of_normal: Movement of the weaker (or affected) side in % of the other.
    """

    model_config = ConfigDict(frozen=True)

    encounter: str | None
    date: datetime
    left: float
    right: float
    percent_of_normal: float | None


class MeasureTrend(BaseModel):
    """A measure across visits, oldest first.

    Attributes:
        code: The measure (:data:`~telemedroom.exams.MEASURES`).
        title: What it is.
        unit: ``%`` or ``deg``.
        points: One per visit that has it.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    title: str
    unit: str
    points: list[TrendPoint]


def _step(media: Media | DocumentReference) -> str | None:
    concepts = list(media.category or []) if isinstance(media, DocumentReference) else [media.view]
    for concept in concepts:
        for coding in (concept.coding or []) if concept else []:
            if coding.system == _FACIAL_CODES and coding.code in _STEPS:
                return str(coding.code)
    return None


def _visit(media: Media | DocumentReference) -> tuple[str | None, datetime, Any]:
    if isinstance(media, DocumentReference):
        encounters = media.context.encounter if media.context and media.context.encounter else []
        encounter = encounters[0].reference if encounters else None
        attachment = media.content[0].attachment if media.content else None
        taken = media.date
    else:
        encounter = media.encounter.reference if media.encounter else None
        attachment = media.content
        taken = media.createdDateTime
    when = taken if isinstance(taken, datetime) else datetime.min.replace(tzinfo=UTC)
    return encounter, when, attachment


def measurement_trend(stills: Sequence[Media | DocumentReference], *, detector: Any) -> list[MeasureTrend]:
    """Each measure's values visit by visit, from protocol stills as the record keeps them.

    The stills are grouped by their Encounter; in each visit the latest still of a step
    is measured (movements against that visit's rest still). A still that cannot be
    measured (no face, not an image) leaves its measures out for that visit.

    Args:
        stills: ``Media`` or ``DocumentReference`` of the protocol steps
            (:func:`~telemedroom.exams.step_media`), of any number of visits.
        detector: A :class:`~telemedroom.exams.FaceMeshDetector`.

    Examples:
        >>> measurement_trend([], detector=None)
        []
    """
    from telemedroom.exams._facemesh import measure_images

    visits: dict[str | None, dict[str, tuple[datetime, bytes]]] = {}
    for media in stills:
        step = _step(media)
        encounter, when, attachment = _visit(media)
        if step is None or attachment is None or not str(attachment.contentType or "").startswith("image/"):
            continue
        data = attachment.data or b""
        if isinstance(data, str):  # fhir.resources gives the decoded bytes; plain JSON the base64
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                continue
        kept = visits.setdefault(encounter, {})
        if step not in kept or when >= kept[step][0]:
            kept[step] = (when, data)
    measured: list[tuple[str | None, dict[str, datetime], dict[str, StillMeasurements]]] = []
    for encounter, steps in visits.items():
        results, _problems = measure_images([(s, d) for s, (_, d) in steps.items()], detector=detector)
        measured.append((encounter, {s: w for s, (w, _) in steps.items()}, results))
    trends = []
    for spec in MEASURES:
        points = [
            TrendPoint(
                encounter=encounter,
                date=dates[spec.step],
                left=m.left,
                right=m.right,
                percent_of_normal=m.percent_of_normal,
            )
            for encounter, dates, results in measured
            if spec.step in results
            for m in results[spec.step].measures
            if m.code == spec.code
        ]
        if points:
            unit = "deg" if spec.kind == "angle" else "%"
            points.sort(key=lambda p: p.date)
            trends.append(MeasureTrend(code=spec.code, title=spec.title, unit=unit, points=points))
    return trends
