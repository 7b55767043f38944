"""``SimulatedClock``: weeks of a health apartment in seconds, or time moved by hand."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

__all__ = ["SimulatedClock"]


class SimulatedClock:
    """A controllable clock for :class:`telemedroom.apartment.Apartment` (and anything taking ``now()``).

    By hand (``speed=None``): time stands still until :meth:`advance` moves it;
    :meth:`sleep` returns once enough has been advanced. Running (``speed=10080``): a
    simulated week passes in one real minute. :meth:`jump` moves only the wall clock
    (an NTP correction, a wrong RTC after a power cut), not the monotonic one, which is
    how the gateway tells a clock jump from time passing.

    Examples:
        >>> from datetime import datetime, timedelta, UTC
        >>> clock = SimulatedClock(datetime(2026, 11, 23, 6, tzinfo=UTC))
        >>> clock.advance(timedelta(hours=2))
        >>> clock.now().hour, clock.monotonic()
        (8, 7200.0)
        >>> clock.jump(timedelta(days=365)); clock.now().year, clock.monotonic()
        (2027, 7200.0)
    """

    def __init__(self, start: datetime, *, speed: float | None = None) -> None:
        if start.utcoffset() is None:
            raise ValueError("the start must be timezone-aware")
        self.speed = speed
        self._start = start
        self._elapsed = 0.0  # simulated seconds advanced by hand
        self._jumped = timedelta(0)
        self._real_start = time.monotonic()
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        """Simulated seconds since the start (jumps excluded)."""
        if self.speed is None:
            return self._elapsed
        return self._elapsed + (time.monotonic() - self._real_start) * self.speed

    def now(self) -> datetime:
        """The simulated wall time."""
        return self._start + timedelta(seconds=self.monotonic()) + self._jumped

    def advance(self, delta: timedelta) -> None:
        """Let ``delta`` pass (wall and monotonic); wakes sleepers whose time has come."""
        self._elapsed += delta.total_seconds()
        now = self.monotonic()
        for waiter in [w for w in self._waiters if w[0] <= now]:
            self._waiters.remove(waiter)
            if not waiter[1].done():
                waiter[1].set_result(None)

    def jump(self, delta: timedelta) -> None:
        """Set the wall clock ``delta`` ahead (negative: back) without time passing."""
        self._jumped += delta

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        if self.speed is not None:
            await asyncio.sleep(max(0.0, seconds) / self.speed)
            return
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self.monotonic() + seconds, waiter))
        await waiter
