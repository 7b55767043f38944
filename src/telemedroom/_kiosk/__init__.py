"""The patient kiosk: the page on the room's screen and the ASGI app that serves it.

Private to telemedroom: :class:`telemedroom.Room` serves it (``Room.asgi_app()``); an
integrator who builds their own room screen uses ``Room.events()`` instead. The app needs
the ``server`` extra, its video the ``video`` extra.

``create_kiosk_app(room, language=config.language)`` already answers under ``/kiosk/``
(serve it as it is, or ``Mount("", app)`` inside another app; a ``Mount("/kiosk", app)``
would put the page at ``/kiosk/kiosk/``), and :func:`close_kiosk` closes its video
connections when the room shuts down.

Examples:
    >>> from telemedroom._kiosk import KioskTracks, create_kiosk_app
    >>> class Empty:
    ...     async def events(self):
    ...         return; yield
    ...     async def check_in(self, booking_code):
    ...         return None
    ...     def kiosk_tracks(self):
    ...         return KioskTracks(self_view=None, physician=None)
    >>> sorted(r.path for r in create_kiosk_app(Empty()).routes)  # doctest: +NORMALIZE_WHITESPACE
    ['/', '/kiosk', '/kiosk/check-in', '/kiosk/events', '/kiosk/texts.json', '/kiosk/video.js',
     '/kiosk/webrtc']
"""

from __future__ import annotations

from telemedroom._kiosk._app import close_kiosk, create_kiosk_app
from telemedroom._kiosk._backend import KioskBackend, KioskTracks
from telemedroom._kiosk._texts import LANGUAGES, TEXTS

__all__ = ["LANGUAGES", "TEXTS", "KioskBackend", "KioskTracks", "close_kiosk", "create_kiosk_app"]
