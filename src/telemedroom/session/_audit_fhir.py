"""Audit entries as FHIR R4B ``AuditEvent`` (http://hl7.org/fhir/R4B/auditevent.html)."""

from __future__ import annotations

from typing import Final

from fhir.resources.R4B.auditevent import (
    AuditEvent,
    AuditEventAgent,
    AuditEventEntity,
    AuditEventEntityDetail,
    AuditEventSource,
)
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.reference import Reference

from telemedroom.session._audit_entry import AuditAction, AuditEntry

DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
ACTION_SYSTEM: Final = "https://telemedroom.dev/fhir/CodeSystem/session-action"
PARTICIPANT_SYSTEM: Final = "https://telemedroom.dev/fhir/NamingSystem/participant"
ROLE_SYSTEM: Final = "https://telemedroom.dev/fhir/CodeSystem/participant-role"

# action -> (DICOM audit event type, PS3.15 §A.5.3; FHIR AuditEvent.action: C/R/U/D/E).
EVENT_TYPES: Final[dict[AuditAction, tuple[str, str, str]]] = {
    AuditAction.TOKEN_ISSUED: ("110114", "User Authentication", "C"),
    AuditAction.TOKEN_REFUSED: ("110113", "Security Alert", "E"),
    AuditAction.SESSION_STARTED: ("110100", "Application Activity", "E"),
    AuditAction.JOINED: ("110114", "User Authentication", "E"),
    AuditAction.RESUMED: ("110114", "User Authentication", "E"),
    AuditAction.ADMITTED: ("110100", "Application Activity", "E"),
    AuditAction.DENIED: ("110100", "Application Activity", "E"),
    AuditAction.LEFT: ("110114", "User Authentication", "E"),
    AuditAction.TRACK_STARTED: ("110100", "Application Activity", "E"),
    AuditAction.TRACK_STOPPED: ("110100", "Application Activity", "E"),
    AuditAction.SNAPSHOT: ("110100", "Application Activity", "C"),
    AuditAction.CLIP: ("110100", "Application Activity", "C"),
    AuditAction.EXAM_RECORDED: ("110100", "Application Activity", "C"),
    AuditAction.ENDED: ("110100", "Application Activity", "E"),
    # the room's own visit steps (DICOM PS3.16 CID 400 audit event ids)
    AuditAction.CHECKED_IN: ("110110", "Patient Record", "E"),
    AuditAction.CHECK_IN_REFUSED: ("110113", "Security Alert", "E"),
    AuditAction.MEASUREMENT: ("110110", "Patient Record", "C"),
    AuditAction.WRAPPED_UP: ("110106", "Export", "C"),
    AuditAction.ABORTED: ("110100", "Application Activity", "E"),
    AuditAction.APPOINTMENT_REOPENED: ("110100", "Application Activity", "U"),
    AuditAction.ALERT_RAISED: ("110100", "Application Activity", "C"),
    AuditAction.ALERT_ESCALATED: ("110100", "Application Activity", "U"),
    AuditAction.ALERT_ACKNOWLEDGED: ("110100", "Application Activity", "U"),
    AuditAction.ALERT_CLEARED: ("110100", "Application Activity", "U"),
    AuditAction.REMOVED: ("110114", "User Authentication", "E"),
    AuditAction.SFU_STARTED: ("110100", "Application Activity", "E"),
    AuditAction.SFU_FALLBACK: ("110100", "Application Activity", "E"),
    AuditAction.SFU_ENDED: ("110100", "Application Activity", "E"),
    AuditAction.NOTE_ADDED: ("110100", "Application Activity", "C"),
    AuditAction.READING_ACCEPTED: ("110110", "Patient Record", "C"),
    AuditAction.SUMMARY_VIEWED: ("110110", "Patient Record", "R"),
}

_REFUSALS: Final = frozenset({AuditAction.TOKEN_REFUSED, AuditAction.CHECK_IN_REFUSED})


def audit_event(entry: AuditEntry, observer: str) -> AuditEvent:
    """One entry as an ``AuditEvent``; the hashes travel in ``entity.detail``."""
    code, display, action = EVENT_TYPES[entry.action]
    details = [
        AuditEventEntityDetail(type=key, valueString=value)
        for key, value in {
            **entry.detail,
            "room": entry.room,
            "appointment": entry.appointment,
            "index": str(entry.index),
            "previous": entry.previous,
            "hash": entry.hash,
        }.items()
    ]
    return AuditEvent(
        type=Coding(system=DCM, code=code, display=display),
        subtype=[Coding(system=ACTION_SYSTEM, code=entry.action.value)],
        action=action,
        recorded=entry.at,
        outcome="4" if entry.action in _REFUSALS else "0",
        agent=[
            AuditEventAgent(
                who=Reference(identifier=Identifier(system=PARTICIPANT_SYSTEM, value=entry.actor)),
                role=[CodeableConcept(coding=[Coding(system=ROLE_SYSTEM, code=entry.role)])],
                requestor=True,
            )
        ],
        source=AuditEventSource(observer=Reference(reference=observer), site=entry.room),
        entity=[AuditEventEntity(what=Reference(display=f"appointment {entry.appointment}"), detail=details)],
    )
