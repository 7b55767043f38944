"""iCalendar (RFC 5545) export of appointments and per-resource busy feeds.

Calendars leave the clinic (phones, mail servers, calendar clouds), so by default the
text carries no health data and nothing that identifies the patient: the summary is a
neutral "Telemedicine appointment", the location is the room's name, and neither the
service (which can reveal a diagnosis), the patient id nor the booking code (a check-in
credential) appear. ``include_details=True`` adds service and booking code for a
calendar the patient keeps for themselves.

Times are written in the zone of the appointment's first resource with its VTIMEZONE
(RFC 5545 §3.6.5), so clients show 09:00 as 09:00 on both sides of a DST change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING

from telemedroom.scheduling._models import Appointment, Resource

if TYPE_CHECKING:
    from icalendar import Calendar, Event

__all__ = ["appointments_to_ical", "resource_feed"]

PRODID = "-//telemedroom//scheduling//EN"

# FHIR Appointment.status -> iCalendar VEVENT STATUS (RFC 5545 §3.8.1.11)
_EVENT_STATUS: Mapping[str, str] = {
    "proposed": "TENTATIVE",
    "pending": "TENTATIVE",
    "waitlist": "TENTATIVE",
    "booked": "CONFIRMED",
    "checked-in": "CONFIRMED",
    "arrived": "CONFIRMED",
    "fulfilled": "CONFIRMED",
    "noshow": "CONFIRMED",
    "cancelled": "CANCELLED",
    "entered-in-error": "CANCELLED",
}


def _resources(resources: Iterable[Resource] | Mapping[str, Resource]) -> dict[str, Resource]:
    values = resources.values() if isinstance(resources, Mapping) else resources
    return {r.id: r for r in values}


def _calendar(name: str | None) -> Calendar:
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("x-wr-calname", name)
    return calendar


def _event(appointment: Appointment, known: Mapping[str, Resource], summary: str) -> Event:
    from icalendar import Event

    slot = appointment.slot
    first = known.get(slot.resource_ids[0])
    zone = first.zone if first is not None else None
    event = Event()
    event.add("uid", f"{appointment.id}@telemedroom")
    event.add("dtstamp", appointment.created_at)
    event.add("dtstart", slot.start.astimezone(zone) if zone else slot.start)
    event.add("dtend", slot.end.astimezone(zone) if zone else slot.end)
    event.add("summary", summary)
    event.add("status", _EVENT_STATUS[appointment.status])
    rooms = [known[rid].name for rid in slot.resource_ids if rid in known and known[rid].kind == "room"]
    if rooms:
        event.add("location", ", ".join(rooms))
    return event


def appointments_to_ical(
    appointments: Iterable[Appointment],
    resources: Iterable[Resource] | Mapping[str, Resource],
    *,
    include_details: bool = False,
    name: str | None = None,
) -> bytes:
    """An iCalendar file of appointments, with the VTIMEZONE of every zone used.

    Args:
        appointments: What to export (e.g. one patient's appointments).
        resources: The resources they use (room names and time zones come from here).
        include_details: Also write the service and the booking code (only for a
            calendar that stays with the patient).
        name: The calendar's display name (``X-WR-CALNAME``).

    Examples:
        >>> from datetime import UTC, datetime
        >>> from telemedroom.scheduling import Appointment, Resource, Slot
        >>> room = Resource(id="room-1", kind="room", name="Room 1")
        >>> at = datetime(2026, 3, 30, 7, tzinfo=UTC)
        >>> slot = Slot(service_id="fp-30", resource_ids=("room-1",), start=at, end=at.replace(minute=30))
        >>> a = Appointment(id="a1", slot=slot, patient="pat-1", status="booked",
        ...                 booking_code="ACEF-GHJK", created_at=datetime(2026, 3, 1, tzinfo=UTC))
        >>> text = appointments_to_ical([a], [room]).decode()
        >>> "DTSTART;TZID=Europe/Berlin:20260330T090000" in text, "BEGIN:VTIMEZONE" in text
        (True, True)
        >>> "fp-30" in text or "pat-1" in text or "ACEF" in text
        False
    """
    known = _resources(resources)
    calendar = _calendar(name)
    appointments_list = list(appointments)
    for appointment in appointments_list:
        event = _event(appointment, known, "Telemedicine appointment")
        if include_details:
            event.add(
                "description",
                f"Service: {appointment.slot.service_id}\nBooking code: {appointment.booking_code}",
            )
        calendar.add_component(event)
    return _finish(calendar, appointments_list)


def resource_feed(appointments: Iterable[Appointment], resource: Resource) -> bytes:
    """A busy feed for one room, practitioner or kit: when it is booked, nothing else.

    Only appointments that block the resource are listed, each as "Booked".

    Examples:
        >>> from datetime import UTC, datetime
        >>> from telemedroom.scheduling import Appointment, Resource, Slot
        >>> dr = Resource(id="dr-a", kind="practitioner", name="Dr A")
        >>> at = datetime(2026, 3, 30, 7, tzinfo=UTC)
        >>> slot = Slot(service_id="gp-20", resource_ids=("dr-a",), start=at, end=at.replace(minute=20))
        >>> a = Appointment(id="a1", slot=slot, patient="pat-1", status="booked",
        ...                 booking_code="ACEF-GHJK", created_at=datetime(2026, 3, 1, tzinfo=UTC))
        >>> resource_feed([a], dr).decode().count("SUMMARY:Booked")
        1
    """
    calendar = _calendar(resource.name)
    listed = [a for a in appointments if a.blocks_resources and resource.id in a.slot.resource_ids]
    for appointment in listed:
        calendar.add_component(_event(appointment, {resource.id: resource}, "Booked"))
    return _finish(calendar, listed)


def _finish(calendar: Calendar, appointments: list[Appointment]) -> bytes:
    if appointments:
        # VTIMEZONE rules only for the years the events span: small files, quick to build
        first = min(a.slot.start for a in appointments).date() - timedelta(days=1)
        last = max(a.slot.end for a in appointments).date() + timedelta(days=1)
        calendar.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=date(last.year, 12, 31))
    return bytes(calendar.to_ical())
