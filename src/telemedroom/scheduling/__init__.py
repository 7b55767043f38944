"""Scheduling: bookable rooms, practitioners and device kits, conflict-free under concurrency.

- Models: :class:`Resource` with :class:`AvailabilityRule` (RFC 5545 RRULE on local time)
  and :class:`Closure`, :class:`Service` with its :class:`Requirement` and buffers,
  :class:`Slot`, :class:`Hold` and :class:`Appointment` (FHIR statuses).
- :class:`Scheduler`: ``find_slots``, ``hold``, ``book``, ``reschedule``, ``cancel``,
  ``check_in``, ``mark_no_show``, ``complete``.
- Stores behind :class:`ScheduleStore`: :class:`SqliteStore` (embedded default) and
  :class:`PostgresStore` (several servers, one schedule; ``telemedroom[postgres]``).
- FHIR R4B: :func:`schedule_to_fhir`, :func:`slot_to_fhir`, :func:`appointment_to_fhir`
  and their inverses.
- iCalendar: :func:`appointments_to_ical` and :func:`resource_feed` (no health data by default).
- SMART Scheduling Links: :func:`bulk_publish` (``$bulk-publish`` manifest and NDJSON).

Examples:
    >>> from datetime import date, time
    >>> from telemedroom.scheduling import AvailabilityRule, Resource
    >>> Resource(id="dr-a", kind="practitioner", name="Dr A", availability=(AvailabilityRule(
    ...     rrule="FREQ=WEEKLY;BYDAY=TU", starts=date(2026, 1, 6), opens=time(14), closes=time(18)),)).kind
    'practitioner'
"""

from __future__ import annotations

from telemedroom.scheduling._availability import local_to_utc
from telemedroom.scheduling._bulk_publish import BulkPublication, bulk_publish
from telemedroom.scheduling._codes import new_booking_code, normalize_booking_code
from telemedroom.scheduling._fhir import (
    BOOKING_CODE_SYSTEM,
    EXTENSION_BASE,
    SERVICE_SYSTEM,
    appointment_from_fhir,
    appointment_to_fhir,
    fhir_slot_id,
    resource_from_fhir,
    schedule_to_fhir,
    slot_from_fhir,
    slot_to_fhir,
)
from telemedroom.scheduling._file import ScheduleFile, load_schedule
from telemedroom.scheduling._hooks import Clock, JoinTokenIssuer, ParticipantRole, system_clock
from telemedroom.scheduling._icalendar import appointments_to_ical, resource_feed
from telemedroom.scheduling._models import (
    BLOCKING_STATUSES,
    TRANSITIONS,
    Appointment,
    AppointmentStatus,
    AvailabilityRule,
    Closure,
    Hold,
    Requirement,
    Resource,
    ResourceKind,
    Service,
    Slot,
)
from telemedroom.scheduling._postgres_store import PostgresStore
from telemedroom.scheduling._scheduler import Scheduler
from telemedroom.scheduling._sqlite_store import SqliteStore
from telemedroom.scheduling._store import Busy, ScheduleStore

__all__ = [
    "BLOCKING_STATUSES",
    "BOOKING_CODE_SYSTEM",
    "EXTENSION_BASE",
    "SERVICE_SYSTEM",
    "TRANSITIONS",
    "Appointment",
    "AppointmentStatus",
    "AvailabilityRule",
    "BulkPublication",
    "Busy",
    "Clock",
    "Closure",
    "Hold",
    "JoinTokenIssuer",
    "ParticipantRole",
    "PostgresStore",
    "Requirement",
    "Resource",
    "ResourceKind",
    "ScheduleStore",
    "ScheduleFile",
    "Scheduler",
    "Service",
    "Slot",
    "SqliteStore",
    "appointment_from_fhir",
    "appointment_to_fhir",
    "appointments_to_ical",
    "bulk_publish",
    "fhir_slot_id",
    "load_schedule",
    "local_to_utc",
    "new_booking_code",
    "normalize_booking_code",
    "resource_feed",
    "resource_from_fhir",
    "schedule_to_fhir",
    "slot_from_fhir",
    "slot_to_fhir",
    "system_clock",
]

# Show the short public path in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
