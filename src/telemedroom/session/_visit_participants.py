"""Who took part in a visit, with which role and when: for the FHIR ``Encounter.participant``.

The room's peer sees every roster the signaling server sends (the admitted participants,
their role and shown name); :class:`VisitParticipants` keeps each one's first and last
appearance. The patient is the Encounter's subject, not a participant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from telemedroom.session import protocol as p

__all__ = ["PARTICIPANT_TYPES", "VisitParticipants"]

_V3: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_TYPE: Final = "http://terminology.hl7.org/CodeSystem/participant-type"

# role -> Encounter.participant.type (FHIR R4 value set encounter-participant-type): the
# first physician is the primary performer, further physicians consultants (a specialist
# called in), an interpreter the translator, a relative or carer an escort.
PARTICIPANT_TYPES: Final[dict[str, tuple[str, str, str]]] = {
    "physician": (_V3, "PPRF", "primary performer"),
    "consultant": (_V3, "CON", "consultant"),
    "interpreter": (_TYPE, "translator", "Translator"),
    "companion": (_V3, "ESC", "escort"),
}


@dataclass
class _Seen:
    role: str
    name: str
    first: datetime
    last: datetime


class VisitParticipants:
    """Everyone the rosters showed as admitted, in order of appearance.

    Examples:
        >>> from datetime import datetime, UTC
        >>> seen = VisitParticipants()
        >>> at = datetime(2026, 11, 25, 9, tzinfo=UTC)
        >>> doctor = p.ParticipantInfo(id="ph-1", role="physician", name="Dr. Weber", state="admitted")
        >>> interpreter = p.ParticipantInfo(id="in-2", role="interpreter", name="A. Yilmaz", state="admitted")
        >>> seen.update([doctor, interpreter], at)
        >>> [x["type"][0]["coding"][0]["code"] for x in seen.encounter_participants()]
        ['PPRF', 'translator']
    """

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def update(self, participants: list[p.ParticipantInfo], at: datetime) -> None:
        """Note the admitted participants of one roster, seen at ``at``."""
        for info in participants:
            if info.state != "admitted" or info.role == "patient":
                continue
            seen = self._seen.get(info.id)
            if seen is None:
                self._seen[info.id] = _Seen(info.role, info.name, at, at)
            else:
                seen.last = at

    def encounter_participants(self) -> list[dict[str, Any]]:
        """``Encounter.participant`` entries: type from the role, the shown name, the period."""
        entries = []
        physicians = 0
        for seen in self._seen.values():
            role = seen.role
            if role == "physician":
                physicians += 1
                role = "physician" if physicians == 1 else "consultant"
            system, code, display = PARTICIPANT_TYPES[role]
            entries.append(
                {
                    "type": [
                        {"coding": [{"system": system, "code": code, "display": display}], "text": seen.role}
                    ],
                    "period": {"start": seen.first.isoformat(), "end": seen.last.isoformat()},
                    "individual": {"display": seen.name or seen.role},
                }
            )
        return entries

    def __len__(self) -> int:
        return len(self._seen)
