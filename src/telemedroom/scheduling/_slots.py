"""Slot search: where a service fits into the free time of the resources it needs.

Pure functions over UTC intervals; the :class:`~telemedroom.scheduling.Scheduler` feeds
them the openings (from the availability rules) and the busy intervals (from the store).

Candidate starts come from each candidate resource's openings: the first start sits
``buffer_before`` after the opening, the next ones follow at the service's ``step`` on
the UTC time line, and a start is offered only if the whole blocked interval (buffers
included) fits in that opening. For each candidate start the first free combination of
distinct resources, one per requirement in the given order, is chosen.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime

from telemedroom.scheduling._availability import Interval, subtract
from telemedroom.scheduling._models import Resource, Service, Slot

__all__ = ["candidate_starts", "fits", "search"]


def candidate_starts(
    service: Service, opening_lists: Sequence[Sequence[Interval]], within: Interval | None = None
) -> list[datetime]:
    """All starts the service could have in any of these openings, sorted, without repeats.

    With ``within`` only the starts in ``[within[0], within[1])``, on the same grid: an
    opening open around the clock is one interval of a year or more, and a query for
    the next free minute must not lay out every minute of it.

    Examples:
        >>> from datetime import UTC, timedelta
        >>> from telemedroom.scheduling import Requirement
        >>> s = Service(id="s", name="s", duration=timedelta(minutes=30),
        ...             requires=(Requirement(kind="room"),))
        >>> t0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
        >>> [t.strftime("%H:%M") for t in candidate_starts(s, [[(t0, t0 + timedelta(hours=1, minutes=20))]])]
        ['09:00', '09:30']
    """
    starts: set[datetime] = set()
    step, before = service.step, service.buffer_before
    tail = service.duration + service.buffer_after
    # resources often share opening hours: lay out each distinct opening once
    distinct = {interval for openings in opening_lists for interval in openings}
    low, high = within if within is not None else (None, None)
    for open_, close in distinct:
        t = open_ + before
        if low is not None and t < low:
            t += -((t - low) // step) * step  # the first grid point at or after `low`
        while t + tail <= close and (high is None or t < high):
            starts.add(t)
            t += step
    return sorted(starts)


def fits(free: tuple[list[datetime], list[datetime]], start: datetime, end: datetime) -> bool:
    """Whether ``[start, end)`` lies inside one of the sorted disjoint free intervals.

    Examples:
        >>> from datetime import UTC
        >>> t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(5)]
        >>> fits(([t[0], t[3]], [t[2], t[4]]), t[1], t[2]), fits(([t[0]], [t[2]]), t[1], t[3])
        (True, False)
    """
    starts, ends = free
    i = bisect_right(starts, start) - 1
    return i >= 0 and ends[i] >= end


def search(
    service: Service,
    candidates: Sequence[Sequence[Resource]],
    openings: Mapping[str, list[Interval]],
    busy: Mapping[str, list[Interval]],
    start: datetime,
    end: datetime,
    *,
    limit: int | None = None,
) -> list[Slot]:
    """Slots for ``service`` starting in ``[start, end)``.

    Args:
        service: What is booked.
        candidates: For each requirement of the service, the resources that may fill it.
        openings: Open intervals per resource id (sorted, disjoint).
        busy: Blocked intervals per resource id (sorted, merged).
        start: Earliest slot start.
        end: Latest slot start (exclusive).
        limit: Stop after this many slots.

    Returns:
        One slot per feasible start, with the first free distinct resources per requirement.

    Examples:
        >>> from datetime import UTC, timedelta
        >>> from telemedroom.scheduling import Requirement
        >>> room = Resource(id="r1", kind="room", name="Room 1")
        >>> s = Service(id="s", name="s", duration=timedelta(hours=1), requires=(Requirement(kind="room"),))
        >>> t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(12)]
        >>> [x.start.hour for x in search(s, [[room]], {"r1": [(t[8], t[11])]}, {"r1": [(t[9], t[10])]},
        ...                               t[0], t[11])]
        [8, 10]
    """
    free: dict[str, tuple[list[datetime], list[datetime]]] = {}
    for resources in candidates:
        for resource in resources:
            if resource.id not in free:
                intervals = subtract(openings.get(resource.id, []), busy.get(resource.id, []))
                free[resource.id] = ([s for s, _ in intervals], [e for _, e in intervals])
    starts = candidate_starts(
        service, [openings.get(r.id, []) for resources in candidates for r in resources], (start, end)
    )
    slots: list[Slot] = []
    for t in starts:
        if t < start or t >= end:
            continue
        blocked_start, blocked_end = t - service.buffer_before, t + service.duration + service.buffer_after
        chosen = _assign(candidates, free, blocked_start, blocked_end, 0, [])
        if chosen is None:
            continue
        slots.append(
            Slot(
                service_id=service.id,
                start=t,
                end=t + service.duration,
                resource_ids=tuple(chosen),
                buffer_before=service.buffer_before,
                buffer_after=service.buffer_after,
            )
        )
        if limit is not None and len(slots) >= limit:
            break
    return slots


def _assign(
    candidates: Sequence[Sequence[Resource]],
    free: Mapping[str, tuple[list[datetime], list[datetime]]],
    start: datetime,
    end: datetime,
    index: int,
    chosen: list[str],
) -> list[str] | None:
    # backtracking: a resource qualified for two requirements must not be used for both
    if index == len(candidates):
        return list(chosen)
    for resource in candidates[index]:
        if resource.id in chosen or not fits(free[resource.id], start, end):
            continue
        chosen.append(resource.id)
        found = _assign(candidates, free, start, end, index + 1, chosen)
        chosen.pop()
        if found is not None:
            return found
    return None
