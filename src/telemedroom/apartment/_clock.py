"""What the gateway reads the time from: the system, or a simulation (``telemedroom.testing``)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Wall time (aware), monotonic seconds and sleeping, from one source.

    The gateway compares the two to tell time passing from the wall clock being set
    (a clock jump); a simulation (:class:`telemedroom.testing.SimulatedClock`) runs a
    week in seconds or moves by hand.
    """

    def now(self) -> datetime:
        """The wall time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds that only ever grow at the pace of real time passing."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The host's clock.

    Examples:
        >>> SystemClock().now().tzinfo is not None
        True
    """

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)
