"""FHIR R4B Schedule/Slot/Appointment mapping: lossless both ways, valid FHIR JSON, typed errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot
from hypothesis import given
from hypothesis import strategies as st
from tests._hypothesis import FHIR_VALIDATION_EXAMPLES, at_most

from telemedroom import errors
from telemedroom.scheduling import (
    TRANSITIONS,
    Appointment,
    AvailabilityRule,
    Closure,
    Resource,
    Slot,
    appointment_from_fhir,
    appointment_to_fhir,
    fhir_slot_id,
    resource_from_fhir,
    schedule_to_fhir,
    slot_from_fhir,
    slot_to_fhir,
)
from telemedroom.scheduling._codes import ALPHABET

from .conftest import RESOURCES

ids = st.from_regex(r"[A-Za-z0-9\-.]{1,24}", fullmatch=True)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
durations = st.integers(1, 8 * 3600).map(lambda s: timedelta(seconds=s))
buffers = st.integers(0, 3600).map(lambda s: timedelta(seconds=s))
pools = st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=4, unique_by=lambda r: r.id)


@st.composite
def slots(draw: st.DrawFn) -> Slot:
    start = draw(instants)
    return Slot(
        service_id=draw(ids),
        start=start,
        end=start + draw(durations),
        resource_ids=tuple(r.id for r in draw(pools)),
        buffer_before=draw(buffers),
        buffer_after=draw(buffers),
    )


@st.composite
def appointments(draw: st.DrawFn) -> Appointment:
    code = draw(st.text(alphabet=ALPHABET, min_size=8, max_size=8))
    return Appointment(
        id=draw(ids),
        slot=draw(slots()),
        patient=draw(ids),
        status=draw(st.sampled_from(sorted(TRANSITIONS))),
        booking_code=f"{code[:4]}-{code[4:]}",
        created_at=draw(instants),
        rescheduled_from=draw(st.none() | ids),
    )


RULES = [
    AvailabilityRule(
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", starts=date(2026, 1, 5), opens=time(9), closes=time(17)
    ),
    AvailabilityRule(
        rrule="FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12",
        starts=date(2027, 1, 1),
        opens=time(8, 30),
        closes=time(0),
    ),
    AvailabilityRule(
        rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        starts=date(2028, 1, 1),
        opens=time(22),
        closes=time(23, 15),
    ),
]
CLOSURES = [
    Closure(start=date(2026, 12, 24), end=date(2026, 12, 26), reason="Christmas"),
    Closure(start=datetime(2026, 5, 4, 12, tzinfo=UTC), end=datetime(2026, 5, 6, tzinfo=UTC)),
]


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    return Resource(
        id=draw(ids),
        kind=draw(st.sampled_from(["room", "practitioner", "device"])),
        name=draw(st.text(min_size=1, max_size=30).filter(str.strip)),
        timezone=draw(st.sampled_from(["Europe/Berlin", "Europe/Vienna", "UTC", "America/New_York"])),
        qualifications=frozenset(
            draw(st.lists(st.sampled_from(["general", "neurology", "ent"]), max_size=3))
        ),
        availability=tuple(draw(st.lists(st.sampled_from(RULES), max_size=3))),
        closures=tuple(draw(st.lists(st.sampled_from(CLOSURES), max_size=2))),
    )


@at_most(FHIR_VALIDATION_EXAMPLES)  # fhir.resources validation per example: see tests/_hypothesis.py
@given(appointments())
def test_appointments_survive_fhir_json_both_ways(appointment: Appointment) -> None:
    fhir = appointment_to_fhir(appointment, RESOURCES)
    parsed = FhirAppointment.model_validate_json(fhir.model_dump_json())
    assert appointment_from_fhir(parsed) == appointment
    assert parsed.status == appointment.status
    assert parsed.slot[0].reference == f"Slot/{fhir_slot_id(appointment.slot)}"


@at_most(FHIR_VALIDATION_EXAMPLES)
@given(slots(), st.sampled_from(["free", "busy"]))
def test_slots_survive_fhir_json_both_ways(slot: Slot, status: str) -> None:
    fhir = slot_to_fhir(slot, status=status)  # type: ignore[arg-type]
    parsed = FhirSlot.model_validate_json(fhir.model_dump_json())
    assert slot_from_fhir(parsed) == slot
    assert (parsed.status, parsed.schedule.reference) == (status, f"Schedule/{slot.resource_ids[0]}")
    assert parsed.id == fhir_slot_id(slot)


@at_most(FHIR_VALIDATION_EXAMPLES)
@given(resources())
def test_resources_survive_fhir_schedule_json_both_ways(resource: Resource) -> None:
    parsed = FhirSchedule.model_validate_json(schedule_to_fhir(resource).model_dump_json())
    assert resource_from_fhir(parsed) == resource


def test_appointment_json_matches_the_fhir_shape() -> None:
    [appointment] = [
        Appointment(
            id="a1",
            slot=Slot(
                service_id="gp-20",
                start=datetime(2026, 3, 2, 8, tzinfo=UTC),
                end=datetime(2026, 3, 2, 8, 20, tzinfo=UTC),
                resource_ids=("room-1", "dr-a"),
                buffer_after=timedelta(minutes=5),
            ),
            patient="pat-1",
            status="booked",
            booking_code="ACEF-GHJK",
            created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        )
    ]
    data = appointment_to_fhir(appointment, RESOURCES).model_dump(mode="json")
    assert data["resourceType"] == "Appointment"
    assert data["start"] == "2026-03-02T08:00:00Z"
    assert data["minutesDuration"] == 20
    assert [p["actor"]["reference"] for p in data["participant"]] == [
        "Patient/pat-1",
        "Location/room-1",
        "Practitioner/dr-a",
    ]
    assert {p["status"] for p in data["participant"]} == {"accepted"}
    assert data["identifier"] == [
        {"system": "https://telemedroom.org/fhir/NamingSystem/booking-code", "value": "ACEF-GHJK"}
    ]


def test_a_foreign_slot_without_our_extensions_maps_to_its_schedule() -> None:
    foreign = FhirSlot.model_validate(
        {
            "resourceType": "Slot",
            "schedule": {"reference": "Schedule/room-1"},
            "status": "free",
            "start": "2026-03-02T09:00:00+01:00",
            "end": "2026-03-02T09:30:00+01:00",
            "serviceType": [
                {"coding": [{"system": "https://telemedroom.org/fhir/CodeSystem/service", "code": "gp"}]}
            ],
        }
    )
    slot = slot_from_fhir(foreign)
    assert (slot.resource_ids, slot.start) == (("room-1",), datetime(2026, 3, 2, 8, tzinfo=UTC))


def test_bad_fhir_input_is_a_typed_error() -> None:
    appointment = FhirAppointment.model_validate(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "participant": [{"actor": {"reference": "RelatedPerson/x"}, "status": "accepted"}],
        }
    )
    with pytest.raises(errors.InvalidScheduleData) as info:
        appointment_from_fhir(appointment)
    assert info.value.field == "Appointment.participant"
    schedule = FhirSchedule.model_validate(
        {"resourceType": "Schedule", "actor": [{"reference": "HealthcareService/h1"}]}
    )
    with pytest.raises(errors.InvalidScheduleData, match="Location, Practitioner or Device"):
        resource_from_fhir(schedule)
    slot = FhirSlot.model_validate(
        {
            "resourceType": "Slot",
            "schedule": {"reference": "Schedule/room-1"},
            "status": "free",
            "start": "2026-03-02T09:00:00Z",
            "end": "2026-03-02T09:30:00Z",
        }
    )
    with pytest.raises(errors.InvalidScheduleData) as missing:
        slot_from_fhir(slot)
    assert missing.value.field == "Slot.serviceType"
    unknown = Appointment(
        id="a1",
        slot=Slot(
            service_id="s",
            start=datetime(2026, 3, 2, 8, tzinfo=UTC),
            end=datetime(2026, 3, 2, 9, tzinfo=UTC),
            resource_ids=("room-9",),
        ),
        patient="p",
        status="booked",
        booking_code="ACEF-GHJK",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    with pytest.raises(errors.InvalidScheduleData) as no_kind:
        appointment_to_fhir(unknown, RESOURCES)
    assert no_kind.value.value == "room-9"
