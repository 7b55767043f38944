"""Availability rules on German time: DST transitions, leap days, closures."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from telemedroom.scheduling import (
    AvailabilityRule,
    Closure,
    Requirement,
    Resource,
    Scheduler,
    Service,
    SqliteStore,
    local_to_utc,
)
from telemedroom.scheduling._availability import merge, openings, subtract

from .conftest import FakeClock

BERLIN = ZoneInfo("Europe/Berlin")
SPRING_FORWARD = date(2026, 3, 29)  # 02:00 CET -> 03:00 CEST
FALL_BACK = date(2026, 10, 25)  # 03:00 CEST -> 02:00 CET


def resource(*rules: AvailabilityRule, closures: tuple[Closure, ...] = ()) -> Resource:
    return Resource(id="room-1", kind="room", name="Room 1", availability=rules, closures=closures)


def day(d: date) -> tuple[datetime, datetime]:
    start = datetime.combine(d, time(0), BERLIN)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def test_a_weekly_0900_rule_stays_0900_local_all_year() -> None:
    rule = AvailabilityRule(
        rrule="FREQ=WEEKLY;BYDAY=MO", starts=date(2026, 1, 5), opens=time(9), closes=time(10)
    )
    found = openings(resource(rule), datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert len(found) == 52
    assert {start.astimezone(BERLIN).time() for start, _ in found} == {time(9)}
    assert {end - start for start, end in found} == {timedelta(hours=1)}
    offsets = {start.astimezone(UTC).hour for start, _ in found}
    assert offsets == {7, 8}  # 08:00Z in winter (CET), 07:00Z in summer (CEST)


def test_spring_forward_night_opening_loses_no_real_time_and_doubles_none() -> None:
    rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 3, 1), opens=time(1), closes=time(4))
    [(start, end)] = openings(resource(rule), *day(SPRING_FORWARD))
    # 01:00 CET = 00:00Z to 04:00 CEST = 02:00Z: the night is one hour short
    assert (start, end) == (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, tzinfo=UTC))


def test_fall_back_night_opening_has_its_extra_hour() -> None:
    rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 10, 1), opens=time(1), closes=time(4))
    [(start, end)] = openings(resource(rule), *day(FALL_BACK))
    # 01:00 CEST = 23:00Z to 04:00 CET = 03:00Z: four real hours
    assert (start, end) == (datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 3, tzinfo=UTC))


async def test_slots_across_both_transitions_are_contiguous_and_unique() -> None:
    rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 1, 1), opens=time(1), closes=time(4))
    night = resource(rule)
    service = Service(
        id="tele-30",
        name="Night consultation",
        duration=timedelta(minutes=30),
        requires=(Requirement(kind="room"),),
    )
    async with SqliteStore(":memory:") as store:
        scheduler = Scheduler(store, [night], clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
        for d, real_hours in ((SPRING_FORWARD, 2), (FALL_BACK, 4), (date(2026, 7, 1), 3)):
            slots = await scheduler.find_slots(service, *day(d))
            starts = [s.start for s in slots]
            assert len(starts) == len(set(starts)) == real_hours * 2
            assert all(b.start - a.start == timedelta(minutes=30) for a, b in itertools.pairwise(slots))
            assert slots[-1].end - slots[0].start == timedelta(hours=real_hours)
        # on the fall-back night the wall clock shows 02:00 and 02:30 twice, as two real slots each
        fall = await scheduler.find_slots(service, *day(FALL_BACK))
        local = [s.start.astimezone(BERLIN).strftime("%H:%M%z") for s in fall]
        assert local == [
            "01:00+0200",
            "01:30+0200",
            "02:00+0200",
            "02:30+0200",
            "02:00+0100",
            "02:30+0100",
            "03:00+0100",
            "03:30+0100",
        ]


def test_nonexistent_and_ambiguous_local_times_follow_rfc5545() -> None:
    # RFC 5545 §3.3.5: a time in the gap takes the offset before the gap; an ambiguous one
    # means the first occurrence
    assert local_to_utc(datetime(2026, 3, 29, 2, 30), BERLIN) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # an opening that starts in the gap starts when the wall clock would have shown it (03:30 CEST)
    rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 3, 1), opens=time(2, 30), closes=time(5))
    [(start, end)] = openings(resource(rule), *day(SPRING_FORWARD))
    assert start.astimezone(BERLIN).strftime("%H:%M%z") == "03:30+0200"
    assert end.astimezone(BERLIN).strftime("%H:%M%z") == "05:00+0200"


@given(
    st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=24 * 4 - 1),
)
def test_local_to_utc_keeps_every_existing_wall_clock_time(d: date, quarter: int) -> None:
    local = datetime.combine(d, time(quarter // 4, quarter % 4 * 15))
    back = local_to_utc(local, BERLIN).astimezone(BERLIN).replace(tzinfo=None)
    in_gap = local.replace(tzinfo=BERLIN).astimezone(UTC).astimezone(BERLIN).replace(tzinfo=None) != local
    if in_gap:
        assert back - local == timedelta(hours=1)  # moved forward by the gap
    else:
        assert back == local


def test_leap_days() -> None:
    leap = AvailabilityRule(
        rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", starts=date(2024, 2, 29), opens=time(9), closes=time(10)
    )
    found = openings(resource(leap), datetime(2024, 1, 1, tzinfo=UTC), datetime(2033, 1, 1, tzinfo=UTC))
    assert [s.astimezone(BERLIN).date() for s, _ in found] == [
        date(2024, 2, 29),
        date(2028, 2, 29),
        date(2032, 2, 29),
    ]
    last_day = AvailabilityRule(
        rrule="FREQ=MONTHLY;BYMONTHDAY=-1", starts=date(2027, 1, 1), opens=time(9), closes=time(10)
    )
    found = openings(resource(last_day), datetime(2027, 12, 1, tzinfo=UTC), datetime(2028, 4, 1, tzinfo=UTC))
    assert [s.astimezone(BERLIN).date() for s, _ in found] == [
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]
    daily = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2028, 1, 1), opens=time(9), closes=time(10))
    february = openings(resource(daily), datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC))
    assert len(february) == 29


def test_closures_remove_days_and_hours() -> None:
    rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 12, 1), opens=time(9), closes=time(17))
    holidays = Closure(start=date(2026, 12, 24), end=date(2026, 12, 26), reason="Christmas")
    sick = Closure(
        start=datetime(2026, 12, 28, 12, tzinfo=BERLIN),
        end=datetime(2026, 12, 29, 11, tzinfo=BERLIN),
        reason="sick",
    )
    found = openings(
        resource(rule, closures=(holidays, sick)),
        datetime(2026, 12, 23, tzinfo=BERLIN),
        datetime(2026, 12, 30, tzinfo=BERLIN),
    )
    local = [
        (s.astimezone(BERLIN).strftime("%d %H"), e.astimezone(BERLIN).strftime("%d %H")) for s, e in found
    ]
    assert local == [("23 09", "23 17"), ("27 09", "27 17"), ("28 09", "28 12"), ("29 11", "29 17")]


def test_openings_across_new_year_and_at_midnight() -> None:
    late = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 12, 30), opens=time(22), closes=time(0))
    found = openings(
        resource(late), datetime(2026, 12, 31, 22, 30, tzinfo=UTC), datetime(2027, 1, 1, 23, tzinfo=UTC)
    )
    local = [(s.astimezone(BERLIN).isoformat(), e.astimezone(BERLIN).isoformat()) for s, e in found]
    assert local == [
        ("2026-12-31T23:30:00+01:00", "2027-01-01T00:00:00+01:00"),
        ("2027-01-01T22:00:00+01:00", "2027-01-02T00:00:00+01:00"),
    ]


interval_lists = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 30)).map(lambda t: (t[0], t[0] + t[1])), max_size=12
)


@given(interval_lists, interval_lists)
def test_subtract_matches_a_minute_by_minute_model(
    base: list[tuple[int, int]], holes: list[tuple[int, int]]
) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(m: int) -> datetime:
        return t0 + timedelta(minutes=m)

    merged = merge((at(a), at(b)) for a, b in base)
    result = subtract(merged, merge((at(a), at(b)) for a, b in holes))
    covered = {m for a, b in base for m in range(a, b)} - {m for a, b in holes for m in range(a, b)}
    got = {
        m
        for s, e in result
        for m in range((s - t0) // timedelta(minutes=1), (e - t0) // timedelta(minutes=1))
    }
    assert got == covered
    assert all(s < e for s, e in result)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(result))
