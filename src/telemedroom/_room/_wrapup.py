"""The visit's record: one FHIR transaction with the Encounter, Observations, Media and Provenance.

Every id is derived from the room and the visit (uuid5), and every Observation and
Device create is conditional on its identifier (``telemedroom.fhir.mapping``), so a
wrap-up sent twice (a crash between "queued" and "journal cleared", then a replay)
leaves each resource once on the server.

Every reference in it resolves on the clinic's server: the patient through
:mod:`telemedroom._room._patient` (a resource id the server holds, or a conditional
create by a business identifier), the booking through a logical reference
(``Encounter.appointment.identifier``, system :data:`APPOINTMENT_SYSTEM`): the
appointment lives in the room's schedule, not necessarily on the FHIR server.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from telemedroom._room._models import Visit
from telemedroom._room._patient import patient_identity, replace_references
from telemedroom.measurements import Measurement

__all__ = ["APPOINTMENT_SYSTEM", "KeptSnapshot", "VISIT_SYSTEM", "encounter_id", "media_id", "wrap_up_bundle"]

Json = dict[str, Any]
# A fixed namespace: the same room and visit always give the same resource ids.
_NAMESPACE: Final = uuid.UUID("a3f0c9e2-6a41-5b8e-9d0c-2b7f4e1d8c53")
VISIT_SYSTEM: Final = "urn:telemedroom:visit"
# The appointment's id in the room's schedule (scheduling's FHIR Appointment carries it too).
APPOINTMENT_SYSTEM: Final = "urn:telemedroom:appointment"
# HL7 v3 ActCode "VR" (virtual): the Encounter class of a remote consultation (FHIR R4 Encounter.class).
_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# FHIR R4 Media.type: http://terminology.hl7.org/CodeSystem/media-type
_MEDIA_TYPE: Final = "http://terminology.hl7.org/CodeSystem/media-type"
_EXAM_STEP_SYSTEM: Final = "urn:telemedroom:exam-step"


@dataclass(frozen=True)
class KeptSnapshot:
    """A still kept for the record: the image and where it came from."""

    media_id: str
    camera: str
    step: str | None
    data: bytes
    media_type: str
    width: int
    height: int
    captured_at: datetime


def encounter_id(room_id: str, visit_id: str) -> str:
    """The Encounter's id: the same for the same room and visit.

    Examples:
        >>> encounter_id("nord-1", "v1") == encounter_id("nord-1", "v1") != encounter_id("nord-1", "v2")
        True
    """
    return str(uuid.uuid5(_NAMESPACE, f"Encounter|{room_id}|{visit_id}"))


def media_id(room_id: str, visit_id: str, index: int) -> str:
    """The id of the visit's ``index``-th snapshot (a FHIR Media id)."""
    return str(uuid.uuid5(_NAMESPACE, f"Media|{room_id}|{visit_id}|{index}"))


def _put(kind: str, rid: str, resource: Json) -> Json:
    return {
        "fullUrl": f"urn:uuid:{rid}",
        "resource": {"resourceType": kind, "id": rid, **resource},
        "request": {"method": "PUT", "url": f"{kind}/{rid}"},
    }


def _encounter(
    room_id: str, room_name: str, visit: Visit, ended: datetime, participants: Sequence[Json] = ()
) -> Json:
    encounter: Json = {
        "identifier": [{"system": VISIT_SYSTEM, "value": f"{room_id}/{visit.visit_id}"}],
        "status": "finished",
        "class": {"system": _ACT_CODE, "code": "VR", "display": "virtual"},
        "subject": {"reference": visit.patient_reference},
        "appointment": [{"identifier": {"system": APPOINTMENT_SYSTEM, "value": visit.appointment_id}}],
        "period": {"start": visit.checked_in_at.isoformat(), "end": ended.isoformat()},
        "location": [{"location": {"display": room_name}}],
    }
    if participants:  # who took part, with their role (session/_visit_participants.py)
        encounter["participant"] = list(participants)
    return encounter


def _media(shot: KeptSnapshot, visit: Visit, encounter: str, gateway: str | None) -> Json:
    media: Json = {
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{shot.media_id}"}],
        "status": "completed",
        "type": {"coding": [{"system": _MEDIA_TYPE, "code": "image", "display": "Image"}]},
        "subject": {"reference": visit.patient_reference},
        "encounter": {"reference": encounter},
        "createdDateTime": shot.captured_at.isoformat(),
        "height": shot.height,
        "width": shot.width,
        "content": {
            "contentType": shot.media_type,
            "data": base64.b64encode(shot.data).decode(),
            "creation": shot.captured_at.isoformat(),
            "title": f"{shot.camera} camera",
        },
    }
    if shot.step is not None:
        media["view"] = {"coding": [{"system": _EXAM_STEP_SYSTEM, "code": shot.step}]}
    if gateway is not None:
        media["device"] = {"reference": gateway}
    return media


def wrap_up_bundle(
    *,
    room_id: str,
    room_name: str,
    visit: Visit,
    measurements: Sequence[Measurement],
    snapshots: Sequence[KeptSnapshot],
    ended: datetime,
    extra_entries: Sequence[Json] = (),
    patient_system: str | None = None,
    participants: Sequence[Json] = (),
) -> tuple[bytes, str, int]:
    """The visit's transaction Bundle as bytes, the Encounter id and the number of Observations.

    Observations come from :func:`telemedroom.fhir.mapping.transaction_json` (vital-signs and
    PHD profiles, the room as gateway Device), each pointing at the Encounter; the
    Provenance names the room as assembler of every Observation, Media and the Encounter.
    ``extra_entries`` (the facial exam's grading, scores) join the same transaction;
    ``participants`` become ``Encounter.participant`` (physicians, interpreter, companions).
    ``patient_system`` (``[fhir] patient_identifier_system``) makes the patient a business
    identifier: the bundle then creates the Patient conditionally and references it.
    """
    # imported here: fhir.resources takes a while to load, and `import telemedroom` must not wait
    from telemedroom.fhir._json import dumps
    from telemedroom.fhir.mapping import _provenance_json, gateway_device, transaction_json

    enc_id = encounter_id(room_id, visit.visit_id)
    encounter_ref = f"Encounter/{enc_id}"
    gateway = gateway_device(room_name, identifier=room_id)
    entries: list[Json] = []
    gateway_ref: str | None = None
    if measurements:
        body = transaction_json(
            measurements,
            patient=visit.patient_reference,
            encounter=encounter_ref,
            gateway=gateway,
            received_at=visit.checked_in_at,
            provenance=False,
        )
        entries = list(body["entry"])
        gateway_ref = entries[0]["fullUrl"]  # transaction_json puts the gateway Device first
    observations = sum(1 for e in entries if e["resource"]["resourceType"] == "Observation")
    entries.insert(0, _put("Encounter", enc_id, _encounter(room_id, room_name, visit, ended, participants)))
    entries += [
        _put("Media", shot.media_id, _media(shot, visit, encounter_ref, gateway_ref)) for shot in snapshots
    ]
    entries += list(extra_entries)
    targets = [
        e["fullUrl"] if e["request"]["method"] == "POST" and "fullUrl" in e else e["request"]["url"]
        for e in entries
        if e["resource"]["resourceType"] in ("Encounter", "Observation", "Media")
    ]
    prov_id = str(uuid.uuid5(_NAMESPACE, f"Provenance|{room_id}|{visit.visit_id}"))
    provenance = _provenance_json(targets, gateway_ref, ended, display=room_name)
    entries.append(_put("Provenance", prov_id, provenance))
    identity = patient_identity(visit.patient, patient_system)
    patient_entry = identity.entry()
    if patient_entry is not None:
        entries = json.loads(dumps(entries))  # a copy: extra_entries belong to the caller
        replace_references(entries, identity.local_reference, identity.reference)
        entries.insert(0, patient_entry)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return dumps(bundle), enc_id, observations
