"""What is scheduled: resources, their availability, services, slots, holds and appointments.

All models are frozen dataclasses: hashable (so expanded availability can be cached per
resource), cheap to build in the thousands while searching slots, and validated in
``__post_init__`` so bad input raises a typed :mod:`telemedroom.errors` error directly.
Instants are timezone-aware and normalised to UTC; wall-clock times (``opens``,
``closes``) are local to the resource's zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule as RRule  # noqa: N812 - the field `rrule` shadows the class
from dateutil.rrule import rrulestr

from telemedroom.errors import (
    InvalidRule,
    InvalidScheduleData,
    InvalidTimeRange,
    NaiveDatetimeError,
    RuleHasNoOccurrences,
)

__all__ = [
    "BLOCKING_STATUSES",
    "TRANSITIONS",
    "Appointment",
    "AppointmentStatus",
    "AvailabilityRule",
    "Closure",
    "Hold",
    "Requirement",
    "Resource",
    "ResourceKind",
    "Service",
    "Slot",
]

ResourceKind = Literal["room", "practitioner", "device"]

# FHIR R4B Appointment.status (http://hl7.org/fhir/R4B/valueset-appointmentstatus.html)
AppointmentStatus = Literal[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
]
APPOINTMENT_STATUSES: frozenset[str] = frozenset(get_args(AppointmentStatus))

# Which status may follow which (FHIR R4B §12.10.1 "Appointment Statuses and Encounter
# Statuses"): check-in at the kiosk, the physician admits (arrived), the encounter ends
# (fulfilled); a booking that nobody attended becomes noshow. Terminal states map to ().
# A visit that did not take place (aborted, or the room crashed) goes from checked-in or
# arrived back to booked (Scheduler.reopen): the booking still stands, nothing was fulfilled.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "proposed": frozenset({"pending", "booked", "cancelled"}),
    "pending": frozenset({"booked", "cancelled"}),
    "booked": frozenset({"checked-in", "arrived", "cancelled", "noshow", "entered-in-error"}),
    "checked-in": frozenset({"arrived", "fulfilled", "booked", "entered-in-error"}),
    "arrived": frozenset({"fulfilled", "booked", "entered-in-error"}),
    "waitlist": frozenset({"booked", "cancelled"}),
    "fulfilled": frozenset(),
    "cancelled": frozenset(),
    "noshow": frozenset(),
    "entered-in-error": frozenset(),
}

# An appointment in one of these statuses keeps its resources blocked; cancelled and
# entered-in-error release them, proposed and waitlist never held them.
BLOCKING_STATUSES: frozenset[str] = frozenset(
    {"pending", "booked", "checked-in", "arrived", "fulfilled", "noshow"}
)

# FHIR R4B §2.24.0.1 id datatype: the ids double as FHIR resource ids.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _check_id(kind: str, value: str) -> None:
    if not _FHIR_ID.fullmatch(value):
        raise InvalidScheduleData(kind, value, "not a FHIR id (1-64 of A-Z a-z 0-9 - .)")


def _utc(name: str, value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise NaiveDatetimeError(name, value)
    return value.astimezone(UTC)


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidTimeRange(start, end)


@lru_cache(maxsize=4096)
def _parse_rrule(text: str, dtstart: datetime) -> RRule:
    try:
        parsed = rrulestr(text, dtstart=dtstart, cache=True)
    except (ValueError, TypeError) as exc:
        raise InvalidRule(text, str(exc)) from exc
    if not isinstance(parsed, RRule):
        # rrulestr returns an rruleset for RDATE/EXDATE or several RRULEs
        raise InvalidRule(text, "give one RRULE; express exceptions as closures")
    return parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class AvailabilityRule:
    """When a resource can be booked: a recurrence (RFC 5545 RRULE) of local opening hours.

    The rule is evaluated on wall-clock time in the resource's zone, so a weekly 09:00
    opening stays 09:00 local in winter and in summer. ``closes`` must be after
    ``opens``; ``time(0)`` as ``closes`` means midnight at the end of the day.

    Attributes:
        rrule: The RRULE value (RFC 5545 §3.3.10) without DTSTART, e.g.
            ``"FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"``.
        starts: The first day the rule may apply (the DTSTART date).
        opens: Local opening time on each day the rule produces.
        closes: Local closing time that day.

    Examples:
        >>> from datetime import date, time
        >>> rule = AvailabilityRule(rrule="FREQ=WEEKLY;BYDAY=MO", starts=date(2026, 3, 2),
        ...                         opens=time(9), closes=time(12))
        >>> rule.occurrences(date(2026, 3, 1), date(2026, 3, 10))
        [datetime.datetime(2026, 3, 2, 9, 0), datetime.datetime(2026, 3, 9, 9, 0)]
    """

    rrule: str
    starts: date
    opens: time
    closes: time

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise InvalidRule(self.rrule, "opens/closes are local wall-clock times; give them without tzinfo")
        if self.closes != time(0) and self.closes <= self.opens:
            raise InvalidRule(self.rrule, f"closes {self.closes} is not after opens {self.opens}")
        if "DTSTART" in self.rrule.upper():
            raise InvalidRule(self.rrule, "give the first day as `starts`, not as DTSTART")
        if self._rule().after(self._dtstart(), inc=True) is None:
            raise RuleHasNoOccurrences(self.rrule, self.starts.isoformat())

    def _dtstart(self) -> datetime:
        return datetime.combine(self.starts, self.opens)

    def _rule(self) -> RRule:
        return _parse_rrule(self.rrule, self._dtstart())

    @property
    def length(self) -> timedelta:
        """The nominal (wall-clock) length of each opening.

        Examples:
            >>> from datetime import date, time
            >>> AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 1, 1),
            ...                  opens=time(22), closes=time(0)).length
            datetime.timedelta(seconds=7200)
        """
        closes = datetime.combine(self.starts + timedelta(days=self.closes == time(0)), self.closes)
        return closes - self._dtstart()

    def occurrences(self, first: date, last: date) -> list[datetime]:
        """Local (naive) opening times on the days from ``first`` to ``last`` inclusive.

        Examples:
            >>> from datetime import date, time
            >>> rule = AvailabilityRule(rrule="FREQ=DAILY;COUNT=2", starts=date(2026, 1, 1),
            ...                         opens=time(8), closes=time(9))
            >>> len(rule.occurrences(date(2025, 1, 1), date(2027, 1, 1)))
            2
        """
        after = datetime.combine(first, time(0))
        before = datetime.combine(last, time.max)
        return list(self._rule().between(after, before, inc=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class Closure:
    """A time a resource is not available despite its rules: a holiday, a closure, sick leave.

    Give either two dates (whole local days, both inclusive) or two aware datetimes.

    Attributes:
        start: First day, or the first instant.
        end: Last day (inclusive), or the instant it ends (exclusive).
        reason: Why, for staff (never shown to patients).

    Examples:
        >>> from datetime import date
        >>> Closure(start=date(2026, 12, 24), end=date(2026, 12, 26), reason="Christmas").reason
        'Christmas'
    """

    start: date | datetime
    end: date | datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.start, datetime) and isinstance(self.end, datetime):
            object.__setattr__(self, "start", _utc("start", self.start))
            object.__setattr__(self, "end", _utc("end", self.end))
            _check_range(self.start, self.end)
        elif isinstance(self.start, datetime) or isinstance(self.end, datetime):
            raise InvalidScheduleData("closure", self, "give two dates or two datetimes, not one of each")
        elif self.end < self.start:
            raise InvalidTimeRange(self.start, self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    """Something that must be free for an appointment: a room, a practitioner, a device kit.

    Attributes:
        id: A FHIR id; it becomes the id of the resource's FHIR Schedule.
        kind: ``"room"``, ``"practitioner"`` or ``"device"``.
        name: For people (calendars, the booking page).
        timezone: IANA zone the rules are evaluated in.
        qualifications: What a practitioner (or kit) can do, matched by :class:`Requirement`.
        availability: When it can be booked.
        closures: When it cannot, despite the rules.

    Examples:
        >>> from datetime import date, time
        >>> room = Resource(id="room-1", kind="room", name="Room 1", availability=(
        ...     AvailabilityRule(rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", starts=date(2026, 1, 5),
        ...                      opens=time(8), closes=time(18)),))
        >>> room.zone
        zoneinfo.ZoneInfo(key='Europe/Berlin')
    """

    id: str
    kind: ResourceKind
    name: str
    timezone: str = "Europe/Berlin"
    qualifications: frozenset[str] = frozenset()
    availability: tuple[AvailabilityRule, ...] = ()
    closures: tuple[Closure, ...] = ()

    def __post_init__(self) -> None:
        _check_id("resource id", self.id)
        if self.kind not in get_args(ResourceKind):
            raise InvalidScheduleData("resource kind", self.kind, f"not one of {get_args(ResourceKind)}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidScheduleData("timezone", self.timezone, "not an IANA time zone") from exc
        object.__setattr__(self, "qualifications", frozenset(self.qualifications))
        object.__setattr__(self, "availability", tuple(self.availability))
        object.__setattr__(self, "closures", tuple(self.closures))

    @property
    def zone(self) -> ZoneInfo:
        """The resource's zone as a :class:`zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """One resource a service needs: its kind and, optionally, a qualification.

    Examples:
        >>> Requirement(kind="practitioner", qualification="neurology").matches(
        ...     Resource(id="dr-a", kind="practitioner", name="Dr A", qualifications={"neurology"}))
        True
    """

    kind: ResourceKind
    qualification: str | None = None

    def matches(self, resource: Resource) -> bool:
        """Whether ``resource`` can fill this requirement."""
        return resource.kind == self.kind and (
            self.qualification is None or self.qualification in resource.qualifications
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """What a patient books: a duration, the resources it needs, buffers around it.

    Attributes:
        id: A FHIR id (it is the ``serviceType`` code in FHIR).
        name: For people.
        duration: How long the appointment is.
        requires: One :class:`Requirement` per resource (all distinct resources).
        buffer_before: Time the resources are blocked before (preparing the room).
        buffer_after: Time they are blocked after (cleaning, device disinfection).
        interval: Step between offered starts within an opening; by default the
            duration plus both buffers, so offered slots sit back to back.

    Examples:
        >>> from datetime import timedelta
        >>> gp = Service(id="gp-20", name="General medicine consultation",
        ...              duration=timedelta(minutes=20), buffer_after=timedelta(minutes=5),
        ...              requires=(Requirement(kind="room"), Requirement(kind="practitioner")))
        >>> gp.step
        datetime.timedelta(seconds=1500)
    """

    id: str
    name: str
    duration: timedelta
    requires: tuple[Requirement, ...]
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    interval: timedelta | None = None

    def __post_init__(self) -> None:
        _check_id("service id", self.id)
        object.__setattr__(self, "requires", tuple(self.requires))
        if self.duration <= timedelta(0):
            raise InvalidScheduleData("duration", self.duration, "must be positive")
        if self.buffer_before < timedelta(0) or self.buffer_after < timedelta(0):
            raise InvalidScheduleData("buffer", (self.buffer_before, self.buffer_after), "cannot be negative")
        if self.interval is not None and self.interval <= timedelta(0):
            raise InvalidScheduleData("interval", self.interval, "must be positive")
        if not self.requires:
            raise InvalidScheduleData("requires", self.requires, "a service needs at least one resource")

    @property
    def step(self) -> timedelta:
        """The step between offered starts."""
        return self.interval or self.duration + self.buffer_before + self.buffer_after


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """A bookable time with the concrete resources that would serve it.

    The resources are blocked from ``start - buffer_before`` to ``end + buffer_after``.

    Examples:
        >>> from datetime import datetime, timedelta
        >>> from zoneinfo import ZoneInfo
        >>> slot = Slot(service_id="gp-20", resource_ids=("room-1", "dr-a"),
        ...             start=datetime(2026, 3, 30, 9, tzinfo=ZoneInfo("Europe/Berlin")),
        ...             end=datetime(2026, 3, 30, 9, 20, tzinfo=ZoneInfo("Europe/Berlin")),
        ...             buffer_after=timedelta(minutes=5))
        >>> slot.start.isoformat(), slot.blocked_end.isoformat()
        ('2026-03-30T07:00:00+00:00', '2026-03-30T07:25:00+00:00')
    """

    service_id: str
    start: datetime
    end: datetime
    resource_ids: tuple[str, ...]
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc("start", self.start))
        object.__setattr__(self, "end", _utc("end", self.end))
        object.__setattr__(self, "resource_ids", tuple(self.resource_ids))
        _check_range(self.start, self.end)
        if not self.resource_ids or len(set(self.resource_ids)) != len(self.resource_ids):
            raise InvalidScheduleData("resource_ids", self.resource_ids, "a slot needs distinct resources")
        if self.buffer_before < timedelta(0) or self.buffer_after < timedelta(0):
            raise InvalidScheduleData("buffer", (self.buffer_before, self.buffer_after), "cannot be negative")

    @property
    def blocked_start(self) -> datetime:
        """When the resources become blocked (start minus the buffer before)."""
        return self.start - self.buffer_before

    @property
    def blocked_end(self) -> datetime:
        """When they are free again (end plus the buffer after)."""
        return self.end + self.buffer_after


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """A temporary reservation of a slot while a patient completes the booking dialog.

    It blocks the slot until ``expires_at`` and then lapses by itself.

    Examples:
        >>> from datetime import datetime, UTC
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1",),
        ...          start=datetime(2026, 3, 30, 7, tzinfo=UTC), end=datetime(2026, 3, 30, 8, tzinfo=UTC))
        >>> Hold(id="h1", slot=s, created_at=datetime(2026, 3, 1, tzinfo=UTC),
        ...      expires_at=datetime(2026, 3, 1, 0, 5, tzinfo=UTC)).slot.resource_ids
        ('room-1',)
    """

    id: str
    slot: Slot
    created_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc("created_at", self.created_at))
        object.__setattr__(self, "expires_at", _utc("expires_at", self.expires_at))
        _check_range(self.created_at, self.expires_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class Appointment:
    """A booked slot for a patient, with its FHIR status and a booking code for the kiosk.

    Attributes:
        id: Unique id (also the FHIR Appointment id).
        slot: What was booked.
        patient: The patient's FHIR id (no name or other personal data).
        status: FHIR Appointment.status.
        booking_code: Short code typed at the kiosk to check in.
        created_at: When it was booked.
        idempotency_key: The client's key; a repeated ``book`` with it returns this.
        rescheduled_from: The appointment this one replaced, if any.

    Examples:
        >>> from datetime import datetime, UTC
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1",),
        ...          start=datetime(2026, 3, 30, 7, tzinfo=UTC), end=datetime(2026, 3, 30, 8, tzinfo=UTC))
        >>> a = Appointment(id="a1", slot=s, patient="pat-1", status="booked",
        ...                 booking_code="ACDE-FGHJ", created_at=datetime(2026, 3, 1, tzinfo=UTC))
        >>> a.blocks_resources
        True
    """

    id: str
    slot: Slot
    patient: str
    status: AppointmentStatus
    booking_code: str
    created_at: datetime
    idempotency_key: str | None = None
    rescheduled_from: str | None = None

    def __post_init__(self) -> None:
        _check_id("appointment id", self.id)
        _check_id("patient id", self.patient)
        if self.status not in APPOINTMENT_STATUSES:
            raise InvalidScheduleData("status", self.status, "not a FHIR Appointment.status")
        object.__setattr__(self, "created_at", _utc("created_at", self.created_at))

    @property
    def blocks_resources(self) -> bool:
        """Whether this appointment keeps its resources blocked (see ``BLOCKING_STATUSES``)."""
        return self.status in BLOCKING_STATUSES
