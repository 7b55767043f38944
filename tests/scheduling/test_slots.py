"""Slot search against a brute-force model: every feasible start is offered, nothing infeasible is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations

from hypothesis import given
from hypothesis import strategies as st

from telemedroom.scheduling import Requirement, Resource, Service
from telemedroom.scheduling._availability import Interval, merge
from telemedroom.scheduling._slots import candidate_starts, search

T0 = datetime(2026, 3, 2, 7, tzinfo=UTC)
POOL = [
    Resource(id="room-1", kind="room", name="R1"),
    Resource(id="room-2", kind="room", name="R2"),
    Resource(id="dr-a", kind="practitioner", name="A", qualifications=frozenset({"general"})),
    Resource(id="dr-b", kind="practitioner", name="B", qualifications=frozenset({"general", "neurology"})),
]


def minutes(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


intervals = st.lists(
    st.tuples(st.integers(0, 600), st.integers(5, 180)).map(lambda t: (minutes(t[0]), minutes(t[0] + t[1]))),
    max_size=4,
).map(merge)

services = st.builds(
    lambda d, before, after, reqs: Service(
        id="s",
        name="s",
        duration=timedelta(minutes=d),
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        requires=reqs,
    ),
    st.integers(5, 60),
    st.sampled_from([0, 5]),
    st.sampled_from([0, 5, 10]),
    st.sampled_from(
        [
            (Requirement(kind="room"),),
            (Requirement(kind="room"), Requirement(kind="practitioner")),
            (Requirement(kind="practitioner"), Requirement(kind="practitioner", qualification="neurology")),
        ]
    ),
)


def inside(interval: Interval, within: list[Interval]) -> bool:
    return any(s <= interval[0] and interval[1] <= e for s, e in within)


def overlaps(interval: Interval, others: list[Interval]) -> bool:
    return any(interval[0] < e and s < interval[1] for s, e in others)


@given(
    services,
    st.fixed_dictionaries({r.id: intervals for r in POOL}),
    st.fixed_dictionaries({r.id: intervals for r in POOL}),
)
def test_search_offers_exactly_the_feasible_starts(
    service: Service, openings: dict[str, list[Interval]], busy: dict[str, list[Interval]]
) -> None:
    candidates = [[r for r in POOL if req.matches(r)] for req in service.requires]
    start, end = minutes(0), minutes(800)
    slots = search(service, candidates, openings, busy, start, end)
    by_start = {s.start: s for s in slots}
    assert len(by_start) == len(slots)  # one slot per start
    for t in candidate_starts(service, [openings[r.id] for group in candidates for r in group]):
        blocked = (t - service.buffer_before, t + service.duration + service.buffer_after)
        feasible = [
            combo
            for combo in permutations([r.id for r in POOL], len(candidates))
            if all(rid in {r.id for r in group} for rid, group in zip(combo, candidates, strict=True))
            and all(inside(blocked, openings[rid]) and not overlaps(blocked, busy[rid]) for rid in combo)
        ]
        if not start <= t < end:
            assert t not in by_start
        elif feasible:
            # offered, with the first feasible combination in the given order
            assert by_start[t].resource_ids == feasible[0], t
        else:
            assert t not in by_start, t
    for slot in slots:
        assert (slot.blocked_start, slot.blocked_end) == (
            slot.start - service.buffer_before,
            slot.start + service.duration + service.buffer_after,
        )


@given(services, st.lists(intervals, min_size=1, max_size=3), st.integers(-60, 700), st.integers(0, 400))
def test_starts_within_a_window_are_the_full_layout_cut_to_it(
    service: Service, opening_lists: list[list[Interval]], low: int, width: int
) -> None:
    """Laying out only the window gives the same grid as laying out everything and cutting."""
    window = (minutes(low), minutes(low + width))
    full = candidate_starts(service, opening_lists)
    assert candidate_starts(service, opening_lists, window) == [t for t in full if window[0] <= t < window[1]]


def test_an_opening_of_years_is_not_laid_out_minute_by_minute() -> None:
    """A resource open around the clock: its openings merge into one interval of years."""
    walk_in = Service(
        id="w",
        name="w",
        duration=timedelta(minutes=5),
        requires=(Requirement(kind="room"),),
        interval=timedelta(minutes=1),
    )
    years = [[(T0, T0 + timedelta(days=3 * 365))]]
    window = (minutes(90) + timedelta(seconds=20), minutes(93))
    assert candidate_starts(walk_in, years, window) == [minutes(91), minutes(92)]
