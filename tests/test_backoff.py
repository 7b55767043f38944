"""The shared backoff: exponential, capped, jittered upwards only, and the server's wait wins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telemedroom._backoff import backoff_delay

attempts = st.integers(min_value=0, max_value=40)
bases = st.floats(min_value=0.001, max_value=10.0)
caps = st.floats(min_value=0.0, max_value=600.0)


@given(attempts, bases, caps, st.floats(min_value=0.0, max_value=1.0))
def test_backoff_doubles_is_capped_and_jitter_only_adds(
    attempt: int, base: float, cap: float, jitter: float
) -> None:
    plain = backoff_delay(attempt, base=base, cap=cap)
    assert plain == min(base * 2**attempt, cap)
    jittered = backoff_delay(attempt, base=base, cap=cap, jitter=jitter)
    assert plain <= jittered <= min(base * 2**attempt * (1 + jitter), cap)


@given(attempts, bases, caps, st.floats(min_value=0.0, max_value=10_000.0))
def test_the_servers_wait_wins_but_not_beyond_the_cap(
    attempt: int, base: float, cap: float, wait: float
) -> None:
    assert backoff_delay(attempt, base=base, cap=cap, retry_after=wait, jitter=0.5) == min(wait, cap)
