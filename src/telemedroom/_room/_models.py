"""What the room hands back: the visit, its summary, the kiosk's tracks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from telemedroom._loopback import KioskTracks
from telemedroom._room._events import DeviceKind, Language
from telemedroom.measurements import Measurement

__all__ = ["KioskTracks", "Visit", "VisitSummary"]


@dataclass(frozen=True)
class Visit:
    """A checked-in visit: who (a FHIR patient id, no name), which appointment, which devices.

    Examples:
        >>> from datetime import datetime, UTC
        >>> Visit(visit_id="v1", appointment_id="a1", patient="pat-1", language="de",
        ...       devices=("scale",), checked_in_at=datetime(2026, 11, 25, tzinfo=UTC)).patient_reference
        'Patient/pat-1'
    """

    visit_id: str
    appointment_id: str
    patient: str
    language: Language
    devices: tuple[DeviceKind, ...]
    checked_in_at: datetime

    @property
    def patient_reference(self) -> str:
        """The FHIR reference of the patient."""
        return f"Patient/{self.patient}"


@dataclass(frozen=True)
class VisitSummary:
    """What a finished visit left behind: the readings, what was skipped, where the record went.

    Examples:
        >>> from datetime import datetime, UTC
        >>> at = datetime(2026, 11, 25, tzinfo=UTC)
        >>> VisitSummary(visit_id="v1", appointment_id="a1", encounter_id="e1", started=at, ended=at,
        ...              observations=0, media=0, outbox_ids=(3,)).skipped
        ()
    """

    visit_id: str
    appointment_id: str
    encounter_id: str
    started: datetime
    ended: datetime
    observations: int
    media: int
    outbox_ids: tuple[int, ...]
    measurements: tuple[Measurement, ...] = ()
    skipped: tuple[DeviceKind, ...] = ()
    audit_head: str = ""
