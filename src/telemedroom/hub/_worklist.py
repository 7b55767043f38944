"""The physicians' worklist: today's appointments of the shared schedule with each room's live state.

The appointments come from the shared schedule's PostgreSQL database (the table of
:class:`~telemedroom.scheduling.PostgresStore`, read only); the live state (checked in,
measuring with the readings so far, waiting, in consultation) from the latest heartbeat
of the room whose visit is that appointment. Patients who wait come first, the longest
waiting at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from telemedroom.hub._store import RoomStatus

__all__ = ["RANKS", "WorklistItem", "fetch_appointments", "worklist"]

# How the rows are ordered, lower first: the rooms by their live state, the health
# apartments (hub/_apartment_worklist.py) by why they are on the worklist.
RANKS: Final = {
    "waiting": 0,  # a room's patient waits for the physician
    "calling": 0,  # an apartment's patient called the ward and waits to be admitted
    "alert_high": 1,
    "in_consultation": 2,
    "measuring": 3,
    "checked_in": 4,
    "alert_moderate": 5,
    "offline": 6,
    "alert_low": 7,
    "": 9,  # a visit of today the room is not on (yet), or a state not listed here
}


@dataclass(frozen=True)
class WorklistItem:
    """One appointment on the worklist.

    Attributes:
        appointment: The appointment id.
        start: Its start.
        service: The service id (``gp-20``, ``facial-followup``...).
        room: The room among its resources, if the hub knows it.
        practitioners: Its other resources (the physicians).
        status: The schedule's FHIR Appointment status.
        live: The room's live state for this visit, or ``""`` if the room is not on it.
        readings: The readings so far.
        waiting_since: When the patient began waiting.
    """

    appointment: str
    start: datetime
    service: str
    room: str | None
    practitioners: list[str]
    status: str
    live: str = ""
    readings: list[str] = field(default_factory=list)
    waiting_since: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """The row as JSON-ready data (``/api/worklist``)."""
        return {
            "kind": "appointment",
            "appointment": self.appointment,
            "start": self.start.isoformat(),
            "service": self.service,
            "room": self.room,
            "practitioners": self.practitioners,
            "status": self.status,
            "live": self.live,
            "readings": self.readings,
            "waiting_since": self.waiting_since.isoformat() if self.waiting_since else None,
        }


async def fetch_appointments(pool: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The schedule's appointments starting in ``[start, end)`` (none if it has no table yet)."""
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    try:
        rows = await pool.fetch(
            "SELECT id, service_id, start_at, resource_ids, status FROM appointments"
            " WHERE start_at >= $1 AND start_at < $2 AND status NOT IN ('cancelled', 'entered-in-error')"
            " ORDER BY start_at",
            start,
            end,
        )
    except asyncpg.UndefinedTableError:
        return []
    return [dict(row) for row in rows]


def worklist(
    appointments: list[dict[str, Any]],
    rooms: set[str],
    statuses: dict[str, RoomStatus],
    *,
    service: str | None = None,
    practitioner: str | None = None,
) -> list[WorklistItem]:
    """Join appointments and live room states; filter; most urgent first.

    Examples:
        >>> from datetime import datetime, UTC
        >>> rows = [{"id": "a1", "service_id": "gp-20", "start_at": datetime(2026, 3, 2, 9, tzinfo=UTC),
        ...          "resource_ids": ["nord-1", "dr-a"], "status": "booked"}]
        >>> [(item.room, item.practitioners, item.live) for item in worklist(rows, {"nord-1"}, {})]
        [('nord-1', ['dr-a'], '')]
    """
    live = {
        status.report.appointment_id: status.report
        for status in statuses.values()
        if status.report.appointment_id is not None
    }
    items = []
    for row in appointments:
        resources = list(row["resource_ids"])
        room = next((resource for resource in resources if resource in rooms), None)
        others = [resource for resource in resources if resource != room]
        if service is not None and row["service_id"] != service:
            continue
        if practitioner is not None and practitioner not in others:
            continue
        report = live.get(row["id"])
        items.append(
            WorklistItem(
                appointment=row["id"],
                start=row["start_at"],
                service=row["service_id"],
                room=room,
                practitioners=others,
                status=row["status"],
                live=report.state if report else "",
                readings=list(report.readings) if report else [],
                waiting_since=report.waiting_since if report else None,
            )
        )

    def urgency(item: WorklistItem) -> tuple[int, datetime, datetime]:
        return (RANKS.get(item.live, RANKS[""]), item.waiting_since or item.start, item.start)

    return sorted(items, key=urgency)
