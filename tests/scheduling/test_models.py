"""The models refuse bad input with typed errors that carry the input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from telemedroom import errors
from telemedroom.scheduling import (
    BLOCKING_STATUSES,
    TRANSITIONS,
    Appointment,
    AvailabilityRule,
    Closure,
    Hold,
    Requirement,
    Resource,
    Service,
    Slot,
)

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def test_rules_without_occurrences_are_refused() -> None:
    with pytest.raises(errors.RuleHasNoOccurrences) as info:
        AvailabilityRule(
            rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            starts=date(2026, 1, 1),
            opens=time(9),
            closes=time(10),
        )
    assert info.value.rule == "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"
    with pytest.raises(errors.RuleHasNoOccurrences):
        AvailabilityRule(
            rrule="FREQ=DAILY;UNTIL=20251231T000000", starts=date(2026, 1, 1), opens=time(9), closes=time(10)
        )


@pytest.mark.parametrize(
    ("rrule", "opens", "closes", "reason"),
    [
        ("FREQ=SOMETIMES", time(9), time(10), "FREQ"),
        ("FREQ=DAILY", time(10), time(9), "not after opens"),
        ("DTSTART:20260101T090000\nRRULE:FREQ=DAILY", time(9), time(10), "starts"),
        ("FREQ=DAILY", time(9, tzinfo=UTC), time(10), "wall-clock"),
    ],
)
def test_malformed_rules_are_refused(rrule: str, opens: time, closes: time, reason: str) -> None:
    with pytest.raises(errors.InvalidRule) as info:
        AvailabilityRule(rrule=rrule, starts=date(2026, 1, 1), opens=opens, closes=closes)
    assert reason in str(info.value)
    assert info.value.rule == rrule
    assert isinstance(info.value, ValueError)


def test_naive_datetimes_are_refused_everywhere() -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(errors.NaiveDatetimeError) as info:
        Slot(service_id="s", start=naive, end=T0, resource_ids=("r",))
    assert (info.value.name, info.value.value) == ("start", naive)
    with pytest.raises(errors.NaiveDatetimeError):
        Closure(start=T0, end=naive)


def test_ranges_must_run_forward() -> None:
    with pytest.raises(errors.InvalidTimeRange) as info:
        Slot(service_id="s", start=T0, end=T0, resource_ids=("r",))
    assert (info.value.start, info.value.end) == (T0, T0)
    with pytest.raises(errors.InvalidTimeRange):
        Closure(start=date(2026, 1, 2), end=date(2026, 1, 1))
    with pytest.raises(errors.InvalidScheduleData):
        Closure(start=date(2026, 1, 2), end=T0)


def test_instants_are_normalised_to_utc() -> None:
    from zoneinfo import ZoneInfo

    berlin = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    slot = Slot(service_id="s", start=berlin, end=berlin + timedelta(hours=1), resource_ids=("r",))
    assert slot.start.tzinfo is UTC
    assert slot.start == T0
    hold = Hold(id="h", slot=slot, created_at=berlin - timedelta(days=1), expires_at=berlin)
    assert hold.expires_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Resource(id="room 1", kind="room", name="x"), "resource id"),
        (lambda: Resource(id="r", kind="robot", name="x"), "resource kind"),  # type: ignore[arg-type]
        (lambda: Resource(id="r", kind="room", name="x", timezone="Mars/Olympus"), "timezone"),
        (
            lambda: Service(id="s", name="s", duration=timedelta(0), requires=(Requirement(kind="room"),)),
            "duration",
        ),
        (lambda: Service(id="s", name="s", duration=timedelta(minutes=5), requires=()), "requires"),
        (
            lambda: Service(
                id="s",
                name="s",
                duration=timedelta(minutes=5),
                buffer_after=-timedelta(minutes=1),
                requires=(Requirement(kind="room"),),
            ),
            "buffer",
        ),
        (
            lambda: Slot(service_id="s", start=T0, end=T0 + timedelta(hours=1), resource_ids=("r", "r")),
            "resource_ids",
        ),
        (
            lambda: Appointment(
                id="a",
                slot=Slot(service_id="s", start=T0, end=T0 + timedelta(hours=1), resource_ids=("r",)),
                patient="Jane Doe",
                status="booked",
                booking_code="ACEF-GHJK",
                created_at=T0,
            ),
            "patient id",
        ),
    ],
)
def test_invalid_fields_name_the_field(build: object, field: str) -> None:
    with pytest.raises(errors.InvalidScheduleData) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field


def test_the_status_table_covers_every_fhir_status() -> None:
    from typing import get_args

    from telemedroom.scheduling import AppointmentStatus

    assert set(TRANSITIONS) == set(get_args(AppointmentStatus))
    for targets in TRANSITIONS.values():
        assert targets <= set(TRANSITIONS)
    assert set(TRANSITIONS) >= BLOCKING_STATUSES
    assert "cancelled" not in BLOCKING_STATUSES


def test_service_step_defaults_to_duration_plus_buffers() -> None:
    s = Service(
        id="fp-30",
        name="Facial paralysis follow-up",
        duration=timedelta(minutes=30),
        buffer_before=timedelta(minutes=5),
        buffer_after=timedelta(minutes=10),
        requires=(Requirement(kind="room"),),
    )
    assert s.step == timedelta(minutes=45)
    assert Service(
        id="x", name="x", duration=timedelta(minutes=30), interval=timedelta(minutes=15), requires=s.requires
    ).step == timedelta(minutes=15)
