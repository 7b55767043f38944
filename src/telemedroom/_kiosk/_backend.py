"""What the kiosk page needs from a room: :class:`KioskBackend` and :class:`KioskTracks`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiortc import MediaStreamTrack

    from telemedroom.room import RoomEvent

__all__ = ["KioskBackend", "KioskTracks"]


@dataclass(frozen=True)
class KioskTracks:
    """The video the kiosk page shows, for one kiosk connection.

    Attributes:
        self_view: The room camera as the patient sees themself, or ``None`` (no camera).
        physician: The physician's camera, or ``None`` before the physician is admitted.

    Each track belongs to the connection it is handed to (give a fresh
    ``MediaDevice.subscribe()`` or ``MediaRelay().subscribe(track)`` proxy per call):
    the kiosk stops it when the page's connection closes.

    Examples:
        >>> KioskTracks(self_view=None, physician=None)
        KioskTracks(self_view=None, physician=None)
    """

    self_view: MediaStreamTrack | None
    physician: MediaStreamTrack | None


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
        """Fresh tracks for one kiosk connection."""
        ...
