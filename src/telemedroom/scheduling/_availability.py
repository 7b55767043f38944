"""Availability rules to UTC intervals, with one policy for daylight-saving transitions.

Rules are expanded on local wall-clock time (so 09:00 stays 09:00 all year) and each
opening is then converted to UTC. Local times that do not exist or exist twice are
resolved as RFC 5545 §3.3.5 prescribes for DATE-TIME with TZID:

- a time in the spring-forward gap (02:30 on the last Sunday of March in Berlin) is
  interpreted with the offset *before* the gap, i.e. it moves forward by the gap
  (02:30 CET = 03:30 CEST);
- an ambiguous time in the fall-back overlap (02:30 on the last Sunday of October)
  means its *first* occurrence (02:30 CEST).

Both are what :mod:`zoneinfo` does with ``fold=0``. Slots are then laid out on the UTC
time line inside each opening, so an opening across a transition offers exactly as
many slots as it has real minutes: none is lost, none duplicated.

Expanded openings are cached per resource and local year: a query for one week after
the first one is a binary search, not a fresh rule expansion.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from telemedroom.scheduling._models import AvailabilityRule, Closure, Resource

__all__ = ["local_to_utc", "merge", "openings", "subtract"]

Interval = tuple[datetime, datetime]


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Convert a naive local wall-clock time to UTC with the RFC 5545 §3.3.5 policy.

    Examples:
        >>> from zoneinfo import ZoneInfo
        >>> berlin = ZoneInfo("Europe/Berlin")
        >>> local_to_utc(datetime(2026, 3, 29, 2, 30), berlin).isoformat()  # in the gap
        '2026-03-29T01:30:00+00:00'
        >>> local_to_utc(datetime(2026, 10, 25, 2, 30), berlin).isoformat()  # first of two
        '2026-10-25T00:30:00+00:00'
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort intervals and join those that overlap or touch.

    Examples:
        >>> t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(6)]
        >>> merge([(t[3], t[5]), (t[0], t[1]), (t[1], t[2])]) == [(t[0], t[2]), (t[3], t[5])]
        True
    """
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(intervals: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """Remove ``holes`` from sorted, disjoint ``intervals`` (holes sorted and merged too).

    Examples:
        >>> t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(6)]
        >>> subtract([(t[0], t[5])], [(t[1], t[2]), (t[3], t[4])]) == [
        ...     (t[0], t[1]), (t[2], t[3]), (t[4], t[5])]
        True
    """
    result: list[Interval] = []
    j = 0
    for start, end in intervals:
        while j < len(holes) and holes[j][1] <= start:
            j += 1
        k = j
        cursor = start
        while k < len(holes) and holes[k][0] < end:
            if holes[k][0] > cursor:
                result.append((cursor, holes[k][0]))
            cursor = max(cursor, holes[k][1])
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def _closure_interval(closure: Closure, zone: ZoneInfo) -> Interval:
    if isinstance(closure.start, datetime) and isinstance(closure.end, datetime):
        return closure.start, closure.end
    first = datetime.combine(closure.start, time(0))
    after_last = datetime.combine(closure.end + timedelta(days=1), time(0))
    return local_to_utc(first, zone), local_to_utc(after_last, zone)


def _rule_openings(rule: AvailabilityRule, zone: ZoneInfo, first: date, last: date) -> list[Interval]:
    openings = []
    for local_open in rule.occurrences(first, last):
        local_close = datetime.combine(
            local_open.date() + timedelta(days=rule.closes == time(0)), rule.closes
        )
        start, end = local_to_utc(local_open, zone), local_to_utc(local_close, zone)
        if end > start:  # an opening entirely inside a spring-forward gap has no real time
            openings.append((start, end))
    return openings


@lru_cache(maxsize=16384)
def _year(resource: Resource, year: int) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
    """Openings starting in one local year, closures removed, as parallel start/end tuples."""
    zone = resource.zone
    first, last = date(year, 1, 1), date(year, 12, 31)
    raw = [interval for rule in resource.availability for interval in _rule_openings(rule, zone, first, last)]
    closed = merge(_closure_interval(c, zone) for c in resource.closures)
    intervals = subtract(merge(raw), closed)
    return tuple(s for s, _ in intervals), tuple(e for _, e in intervals)


def openings(resource: Resource, start: datetime, end: datetime, *, clip: bool = True) -> list[Interval]:
    """The resource's open intervals overlapping ``[start, end)``, in UTC.

    With ``clip`` (the default) they are cut to ``[start, end)``; without, whole
    openings are returned, so slots can be laid out from the opening's real start.

    Examples:
        >>> from datetime import date, time
        >>> room = Resource(id="r", kind="room", name="R", availability=(AvailabilityRule(
        ...     rrule="FREQ=WEEKLY;BYDAY=MO", starts=date(2026, 3, 2), opens=time(9), closes=time(12)),))
        >>> [(s.isoformat(), e.isoformat()) for s, e in openings(
        ...     room, datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))]
        [('2026-03-23T08:00:00+00:00', '2026-03-23T11:00:00+00:00'),
         ('2026-03-30T07:00:00+00:00', '2026-03-30T10:00:00+00:00')]
    """
    zone = resource.zone
    # an opening is at most a day long, so one that overlaps may have started the day before
    first_year = (start.astimezone(zone) - timedelta(days=1)).year
    last_year = end.astimezone(zone).year
    result: list[Interval] = []
    for year in range(first_year, last_year + 1):
        starts, ends = _year(resource, year)
        i = bisect_right(ends, start)
        stop = bisect_left(starts, end)
        for k in range(i, stop):
            result.append((max(starts[k], start), min(ends[k], end)) if clip else (starts[k], ends[k]))
    # openings from two rules may straddle a year boundary and touch; join them
    return merge(result)
