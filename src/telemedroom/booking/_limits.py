"""Abuse limits kept in memory: sliding-window counters and the holds of each client.

One process keeps its own counts; behind several replicas, put the same limits at the
reverse proxy too (a resident who is refused here is told when to try again).
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

from telemedroom.errors import BookingRefused

__all__ = ["HoldLedger", "SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` events per key within ``window``.

    Examples:
        >>> from datetime import UTC, datetime, timedelta
        >>> window = SlidingWindow(2, timedelta(minutes=1))
        >>> now = datetime(2026, 3, 2, tzinfo=UTC)
        >>> window.hit("1.2.3.4", now); window.hit("1.2.3.4", now)
        >>> window.hit("1.2.3.4", now)
        Traceback (most recent call last):
        ...
        telemedroom.BookingRefused: booking request refused: rate_limited (retry after 60 s)
        >>> window.hit("1.2.3.4", now + timedelta(minutes=1))
    """

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._events: defaultdict[str, deque[datetime]] = defaultdict(deque)

    def _trim(self, key: str, now: datetime) -> deque[datetime]:
        events = self._events[key]
        while events and now - events[0] >= self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return self._events[key]
        return events

    def check(self, key: str, now: datetime) -> None:
        """Raise ``BookingRefused("rate_limited")`` if ``key`` used up its events."""
        events = self._trim(key, now)
        if len(events) >= self.limit:
            retry = (events[0] + self.window - now).total_seconds()
            raise BookingRefused("rate_limited", retry_after=max(1, round(retry)))

    def hit(self, key: str, now: datetime) -> None:
        """Count one event for ``key`` (after :meth:`check`)."""
        self.check(key, now)
        self._events[key].append(now)

    def __len__(self) -> int:
        return len(self._events)


class HoldLedger:
    """Which holds each client has, so that one client (a bot) cannot hold every slot.

    Examples:
        >>> from datetime import UTC, datetime, timedelta
        >>> ledger = HoldLedger(per_client=1)
        >>> now = datetime(2026, 3, 2, tzinfo=UTC)
        >>> ledger.add("client-a", "h1", now + timedelta(minutes=5), now)
        >>> ledger.owner("h1")
        'client-a'
        >>> ledger.add("client-a", "h2", now + timedelta(minutes=5), now)
        Traceback (most recent call last):
        ...
        telemedroom.BookingRefused: booking request refused: hold_limit
    """

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._holds: dict[str, tuple[str, datetime]] = {}  # hold id -> (client, expires)

    def _sweep(self, now: datetime) -> None:
        for hold_id in [h for h, (_, expires) in self._holds.items() if expires <= now]:
            del self._holds[hold_id]

    def live(self, client: str, now: datetime) -> list[str]:
        """The client's holds still live at ``now``."""
        self._sweep(now)
        return [h for h, (owner, _) in self._holds.items() if owner == client]

    def check(self, client: str, now: datetime) -> None:
        """Raise ``BookingRefused("hold_limit")`` if the client holds its maximum."""
        if len(self.live(client, now)) >= self.per_client:
            raise BookingRefused("hold_limit")

    def add(self, client: str, hold_id: str, expires: datetime, now: datetime) -> None:
        """Record a new hold of ``client``."""
        self.check(client, now)
        self._holds[hold_id] = (client, expires)

    def owner(self, hold_id: str) -> str | None:
        """Who holds ``hold_id`` (``None``: unknown or lapsed and swept)."""
        entry = self._holds.get(hold_id)
        return entry[0] if entry else None

    def replace(self, old: str, new: str, expires: datetime) -> None:
        """An extended hold: the same client keeps it under a new id."""
        client, _ = self._holds.pop(old)
        self._holds[new] = (client, expires)

    def drop(self, hold_id: str) -> None:
        """Forget a hold (booked or released)."""
        self._holds.pop(hold_id, None)
