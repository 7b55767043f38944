"""What the kiosk page needs from a room: :class:`KioskBackend` (and the room's ``KioskTracks``).

The kiosk is the lower layer: it names only this protocol and the room's event and track
models, never ``Room``; the room checks (for mypy) that it satisfies the protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

# One class for the room and the kiosk: Room.kiosk_tracks() returns it.
from telemedroom._loopback import KioskTracks

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from telemedroom._room._events import RoomEvent

__all__ = ["KioskBackend", "KioskTracks"]


class KioskBackend(Protocol):
    """What the kiosk page needs from a room; :class:`telemedroom.Room` is one.

    Examples:
        >>> from telemedroom.room import Room
        >>> all(hasattr(Room, name) for name in ("events", "check_in", "kiosk_tracks"))
        True
    """

    def events(self) -> AsyncIterator[RoomEvent]:
        """Subscribe to the room's events, starting with its current state."""
        ...

    async def check_in(self, booking_code: str) -> object:
        """Check a patient in; raises ``CheckInRefused`` with a ``reason``."""
        ...

    def kiosk_tracks(self) -> KioskTracks:
        """Fresh tracks for one kiosk connection, which the kiosk stops when it closes.

        Give each call its own tracks (``MediaDevice.subscribe()``, or a
        ``MediaRelay().subscribe(track)`` of the physician's): stopping them must not end
        the camera or the physician's video for anyone else.
        """
        ...
