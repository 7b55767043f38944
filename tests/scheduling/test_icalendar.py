"""iCalendar export: valid RFC 5545 with VTIMEZONE, local times across DST, no health data by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from telemedroom.scheduling import Appointment, Slot, appointments_to_ical, resource_feed

from .conftest import DR_A, RESOURCES, ROOM

BERLIN = ZoneInfo("Europe/Berlin")


def appointment(
    start: datetime, *, patient: str = "pat-1", status: str = "booked", ident: str = "a1"
) -> Appointment:
    return Appointment(
        id=ident,
        slot=Slot(
            service_id="facial-paralysis-30",
            start=start,
            end=start + timedelta(minutes=30),
            resource_ids=("room-1", "dr-a"),
        ),
        patient=patient,
        status=status,  # type: ignore[arg-type]
        booking_code="ACEF-GHJK",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_events_keep_local_time_on_both_sides_of_dst() -> None:
    winter = appointment(datetime(2026, 3, 27, 9, tzinfo=BERLIN), ident="winter")
    summer = appointment(datetime(2026, 3, 30, 9, tzinfo=BERLIN), ident="summer")
    calendar = Calendar.from_ical(appointments_to_ical([winter, summer], RESOURCES, name="My appointments"))
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Berlin"]
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {"winter@telemedroom", "summer@telemedroom"}
    for event in events.values():
        start = event.decoded("dtstart")
        assert (start.hour, start.minute) == (9, 0)
        assert event["dtstart"].params["TZID"] == "Europe/Berlin"
        assert str(event["location"]) == "Room 1"
        assert str(event["status"]) == "CONFIRMED"
    assert events["winter@telemedroom"].decoded("dtstart").utcoffset() == timedelta(hours=1)
    assert events["summer@telemedroom"].decoded("dtstart").utcoffset() == timedelta(hours=2)
    assert str(calendar["x-wr-calname"]) == "My appointments"


@given(
    st.from_regex(r"pat-[a-z0-9]{8}", fullmatch=True),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
)
def test_no_health_data_or_identifiers_by_default(patient: str, start: datetime) -> None:
    text = appointments_to_ical([appointment(start, patient=patient)], RESOURCES).decode()
    for secret in (patient, "facial", "paralysis", "ACEF", "GHJK"):
        assert secret not in text
    assert "SUMMARY:Telemedicine appointment" in text
    detailed = appointments_to_ical(
        [appointment(start, patient=patient)], RESOURCES, include_details=True
    ).decode()
    assert "facial-paralysis-30" in detailed
    assert "ACEF-GHJK" in detailed
    assert patient not in detailed


def test_cancelled_appointments_are_marked_and_feeds_list_only_blocking_ones() -> None:
    booked = appointment(datetime(2026, 3, 30, 9, tzinfo=BERLIN), ident="kept")
    cancelled = appointment(datetime(2026, 3, 30, 10, tzinfo=BERLIN), status="cancelled", ident="gone")
    patient_calendar = Calendar.from_ical(appointments_to_ical([booked, cancelled], RESOURCES))
    assert {str(e["uid"]): str(e["status"]) for e in patient_calendar.walk("VEVENT")} == {
        "kept@telemedroom": "CONFIRMED",
        "gone@telemedroom": "CANCELLED",
    }
    feed = Calendar.from_ical(resource_feed([booked, cancelled], DR_A))
    [event] = feed.walk("VEVENT")
    assert (str(event["uid"]), str(event["summary"])) == ("kept@telemedroom", "Booked")
    assert "location" not in event  # the feed of a practitioner names no room
    assert str(feed["x-wr-calname"]) == "Dr A"
    room_feed = resource_feed([booked], ROOM).decode()
    assert "pat-1" not in room_feed
    assert "LOCATION:Room 1" in room_feed


def test_an_empty_calendar_is_still_valid() -> None:
    calendar = Calendar.from_ical(resource_feed([], ROOM))
    assert calendar.walk("VEVENT") == []
    assert str(calendar["version"]) == "2.0"
