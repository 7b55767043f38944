"""One entry of the audit log: what was done (:class:`AuditAction`), by whom, where, and its hash link.

The lowest part of the audit: :mod:`telemedroom.session.audit` (the chain) and its FHIR
``AuditEvent`` export both build on it; it imports neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["GENESIS", "AuditAction", "AuditEntry"]

GENESIS: Final = "0" * 64
"""The ``previous`` hash of the first entry."""


class AuditAction(StrEnum):
    """What happened in a session.

    Examples:
        >>> AuditAction("admitted")
        <AuditAction.ADMITTED: 'admitted'>
    """

    TOKEN_ISSUED = "token_issued"
    TOKEN_REFUSED = "token_refused"
    SESSION_STARTED = "session_started"
    JOINED = "joined"
    RESUMED = "resumed"
    ADMITTED = "admitted"
    DENIED = "denied"
    LEFT = "left"
    TRACK_STARTED = "track_started"
    TRACK_STOPPED = "track_stopped"
    SNAPSHOT = "snapshot"
    CLIP = "clip"
    EXAM_RECORDED = "exam_recorded"
    ENDED = "ended"
    CHECKED_IN = "checked_in"
    CHECK_IN_REFUSED = "check_in_refused"
    MEASUREMENT = "measurement"
    WRAPPED_UP = "wrapped_up"
    ABORTED = "aborted"
    # the appointment of a visit that did not take place is booked again (detail: reason)
    APPOINTMENT_REOPENED = "appointment_reopened"
    # health-apartment monitoring (telemedroom.monitoring, through audit_log_sink)
    ALERT_RAISED = "alert_raised"
    ALERT_ESCALATED = "alert_escalated"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_CLEARED = "alert_cleared"
    # the clinic's FHIR server refused a record for good (telemedroom.room.RecordRejected)
    RECORD_REJECTED = "record_rejected"
    # multi-party visits through the Janus SFU (telemedroom.session.sfu)
    REMOVED = "removed"
    SFU_STARTED = "sfu_started"
    SFU_FALLBACK = "sfu_fallback"
    SFU_ENDED = "sfu_ended"
    # the health apartment (telemedroom.apartment)
    NOTE_ADDED = "note_added"
    READING_ACCEPTED = "reading_accepted"
    # the clinic hub (telemedroom.hub): staff logins and sessions, refused requests, room reports
    LOGIN = "login"
    LOGIN_REFUSED = "login_refused"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session_expired"
    REQUEST_REFUSED = "request_refused"
    HEARTBEAT_REFUSED = "heartbeat_refused"
    SUMMARY_VIEWED = "summary_viewed"  # a health-apartment daily summary read through the hub


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    return value


class AuditEntry(BaseModel):
    """One link of the chain.

    Attributes:
        index: Position in the log, from 0.
        at: When it happened (timezone-aware).
        action: What happened.
        actor: Participant id (the token's subject) or ``"system"``.
        role: The actor's role (``patient``, ``physician``, ``companion``, ``system``).
        room: The telemedicine room.
        appointment: The appointment.
        detail: More facts, as short strings (the admitted participant, a track's kind...).
        previous: SHA-256 (hex) of the entry before, :data:`GENESIS` for the first.
        hash: SHA-256 (hex) of this entry's content and ``previous``.

    Examples:
        >>> from telemedroom.session.audit import GENESIS, AuditAction, AuditLog
        >>> entry = AuditLog().append(AuditAction.JOINED, actor="p-7", role="patient",
        ...                           room="r", appointment="a")
        >>> entry.index, entry.previous == GENESIS, entry.hash == entry.computed_hash()
        (0, True, True)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: Annotated[int, Field(ge=0)]
    at: Annotated[datetime, AfterValidator(_aware)]
    action: AuditAction
    actor: str
    role: str
    room: str
    appointment: str
    detail: dict[str, str] = Field(default_factory=dict)
    previous: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    def computed_hash(self) -> str:
        """SHA-256 over the canonical JSON of every field but ``hash`` (``previous`` included)."""
        return _hash(self.model_dump(mode="json", exclude={"hash"}))


def _hash(content: Mapping[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
