"""Health apartments on the physicians' worklist, ranked with the rooms' visits.

An apartment is a row a physician must act on when, by its latest heartbeat:

- its patient **calls the ward** and waits to be admitted (``waiting_since`` set while
  the apartment is online): it ranks with a room's waiting patient, the longest wait
  first;
- it has **open alerts nobody acknowledged yet** (the care plan's, and the gateway's own
  such as ``storage-full``): ranked by the highest severity among them, a ``high`` one
  just after the waiting patients;
- it has **gone offline** (no heartbeat for ``alerts.offline_after_s``): the ward no
  longer knows how the patient is.

An apartment that never reported, or whose alerts are all acknowledged, is not on the
worklist (the fleet view and ``/ward/apartments`` still show it). The rows carry what
the hub already keeps: rule ids and severities, never the values that raised an alert.

The whole order, rooms and apartments together, is one table
(:data:`~telemedroom.hub._worklist.RANKS`): lower ranks first, then the oldest ``since``
(when the wait, the alert or the silence began), then the start of the appointment, then
the appointment or apartment id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from telemedroom.hub._config import SEVERITY_ORDER, AlertSettings, RoomKey
from telemedroom.hub._store import RoomStatus
from telemedroom.hub._worklist import RANKS, WorklistItem

__all__ = ["ApartmentItem", "apartment_items", "merge", "rank"]

WARD_VISIT: Final = "ward"  # the apartment's standing visit at the signaling server (apartment/_ward.py)


@dataclass(frozen=True)
class ApartmentItem:
    """One health apartment on the worklist.

    Attributes:
        apartment: The apartment id.
        name: Its name from the hub configuration.
        reasons: Why it is there, most urgent first: ``calling``, ``alert``, ``offline``.
        state: Its latest reported state (``calling``, ``watching``, ``storage_full``...).
        calling_since: When its patient called the ward (while waiting to be admitted).
        alerts: The open alerts nobody acknowledged yet, as ``(rule, severity, raised_at)``.
        highest: The highest severity among them.
        offline_since: When the hub last heard of it, if it is offline now.
        last_contact: When its latest heartbeat arrived.

    Examples:
        >>> ApartmentItem("apartment-2", "Wohnung 2", ("offline",), "watching").rank
        6
    """

    apartment: str
    name: str
    reasons: tuple[str, ...]
    state: str
    calling_since: datetime | None = None
    alerts: list[tuple[str, str, datetime]] = field(default_factory=list)
    highest: str | None = None
    offline_since: datetime | None = None
    last_contact: datetime | None = None

    @property
    def rank(self) -> int:
        """Its place in the worklist's ``RANKS`` (its most urgent reason)."""
        return min((_place(reason, self.highest) for reason in self.reasons), default=RANKS[""])

    @property
    def since(self) -> datetime | None:
        """When its most urgent reason began (the call, the oldest such alert, the silence)."""
        first = min(self.reasons, key=lambda reason: _place(reason, self.highest), default=None)
        if first == "calling":
            return self.calling_since
        if first == "alert":
            return min(at for _rule, severity, at in self.alerts if severity == self.highest)
        return self.offline_since

    @property
    def link(self) -> str:
        """Its entry on ``/ward/apartments`` (acknowledge, write a note)."""
        return f"/ward/apartments#apartment-{self.apartment}"

    def as_dict(self) -> dict[str, object]:
        """The row as JSON-ready data (``/api/worklist``, ``kind`` ``"apartment"``)."""
        return {
            "kind": "apartment",
            "apartment": self.apartment,
            "name": self.name,
            "reasons": list(self.reasons),
            "state": self.state,
            "calling_since": self.calling_since.isoformat() if self.calling_since else None,
            "open_alerts": len(self.alerts),
            "highest_severity": self.highest,
            "alerts": [
                {"rule": rule, "severity": severity, "raised_at": at.isoformat()}
                for rule, severity, at in self.alerts
            ],
            "offline_since": self.offline_since.isoformat() if self.offline_since else None,
            "last_contact": self.last_contact.isoformat() if self.last_contact else None,
            "link": self.link,
        }


def apartment_items(
    apartments: list[RoomKey], statuses: dict[str, RoomStatus], settings: AlertSettings, now: datetime
) -> list[ApartmentItem]:
    """The apartments a physician must act on (see the module docstring), most urgent first.

    Examples:
        >>> from datetime import datetime, UTC
        >>> apartment_items([RoomKey(id="apt-7", public_key_file="k.pem")], {}, AlertSettings(),
        ...                 datetime.now(UTC))
        []
    """
    items = []
    for apartment in apartments:
        status = statuses.get(apartment.id)
        if status is None:
            continue  # never reported: set up, not yet in use (the fleet view says so)
        report = status.report
        online = settings.online(status.received_at, now)
        reasons = []
        # an offline apartment's last call state is stale: it is offline, not calling
        calling = report.waiting_since if online else None
        if calling is not None:
            reasons.append("calling")
        unseen: list[tuple[str, str, datetime]] = [
            (a.rule, a.severity, a.raised_at) for a in report.alerts if not a.acknowledged
        ]
        highest = max((severity for _r, severity, _a in unseen), key=SEVERITY_ORDER.__getitem__, default=None)
        if unseen:
            reasons.append("alert")
        if not online:
            reasons.append("offline")
        if reasons:
            items.append(
                ApartmentItem(
                    apartment=apartment.id,
                    name=apartment.name or apartment.id,
                    reasons=tuple(sorted(reasons, key=lambda reason: _place(reason, highest))),
                    state=report.state,
                    calling_since=calling,
                    alerts=unseen,
                    highest=highest,
                    offline_since=None if online else status.received_at,
                    last_contact=status.received_at,
                )
            )
    return sorted(items, key=_key)


def rank(row: WorklistItem | ApartmentItem) -> int:
    """A row's place in :data:`RANKS`.

    Examples:
        >>> rank(ApartmentItem("apt-7", "Wohnung 7", ("calling",), "calling"))
        0
    """
    if isinstance(row, ApartmentItem):
        return row.rank
    return RANKS.get(row.live, RANKS[""])


def _place(reason: str, highest: str | None) -> int:
    return RANKS[f"alert_{highest}" if reason == "alert" else reason]


def _key(row: WorklistItem | ApartmentItem) -> tuple[int, float, float, str]:
    """Rank, then the oldest ``since`` (as an instant; none first), then the start, then the id."""
    if isinstance(row, ApartmentItem):
        since, start, name = row.since, None, row.apartment
    else:
        since, start, name = row.waiting_since or row.start, row.start, row.appointment
    return (
        rank(row),
        since.timestamp() if since is not None else float("-inf"),
        start.timestamp() if start is not None else float("-inf"),
        name,
    )


def merge(visits: list[WorklistItem], apartments: list[ApartmentItem]) -> list[WorklistItem | ApartmentItem]:
    """Rooms' visits and apartments in one order: rank, then the oldest ``since``.

    Examples:
        >>> from datetime import datetime, UTC
        >>> visit = WorklistItem("a1", datetime(2026, 3, 2, 9, tzinfo=UTC), "gp-20", "nord-1", [],
        ...                      "arrived", live="measuring")
        >>> calling = ApartmentItem("apt-7", "Wohnung 7", ("calling",), "calling",
        ...                         calling_since=datetime(2026, 3, 2, 9, 5, tzinfo=UTC))
        >>> [rank(row) for row in merge([visit], [calling])]
        [0, 3]
    """
    return sorted([*visits, *apartments], key=_key)
