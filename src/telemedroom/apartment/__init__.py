"""The health apartment as a product: an always-on home gateway, the patient's screen, the ward's line.

A patient recovering at home after a hospital stay lives with a few paired Bluetooth
devices (cuff, scale, pulse oximeter, glucometer) and a tablet. :class:`Apartment` is the
gateway in between: its listener keeps scanning and takes every reading a paired device
holds whenever it advertises (glucose records through the Record Access Control Point),
never the same reading twice (a journal keyed by the readings' deterministic FHIR
identifiers, across restarts and crashes); each reading goes through the care plan
(:class:`~telemedroom.monitoring.Monitor`) and into the encrypted outbox towards the
clinic's FHIR server. Devices that need attention and the gateway itself (disk full,
clock jump, Bluetooth adapter gone) raise ``device`` alerts to the ward and the screen.
:func:`screen_app` serves the patient's page on loopback (German and English), and the
``[ward]`` line lets the patient call the ward by video and the ward call the apartment.

``telemedroom apartment serve --config apartment.toml`` runs it (``docs/apartment.md``).

Examples:
    >>> import base64
    >>> config = ApartmentConfig(apartment_id="apt-2", patient="Patient/p1", care_plan="plan.toml",
    ...     data_dir="/var/lib/apartment", encryption_key=base64.b64encode(bytes(32)).decode(),
    ...     devices=[{"address": "C0:FF:EE:00:00:04", "kind": "scale", "name": "Waage"}])
    >>> config.device("C0:FF:EE:00:00:04").name
    'Waage'
"""

from __future__ import annotations

import typing

from telemedroom.apartment._apartment import Apartment
from telemedroom.apartment._clock import Clock, SystemClock
from telemedroom.apartment._config import (
    ApartmentConfig,
    DeviceHealthSettings,
    HubLinkSettings,
    PairedDevice,
    ScreenSettings,
    WardSettings,
)
from telemedroom.apartment._events import (
    AlertChanged,
    ApartmentEvent,
    CallChanged,
    DeviceChanged,
    NoteAdded,
    ReadingAccepted,
    RecordRefused,
)
from telemedroom.apartment._journal import DeviceState, Journal, StoredReading, reading_key

if typing.TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "AlertChanged",
    "Apartment",
    "ApartmentConfig",
    "ApartmentEvent",
    "CallChanged",
    "Clock",
    "DeviceChanged",
    "DeviceHealthSettings",
    "HubLinkSettings",
    "DeviceState",
    "Journal",
    "NoteAdded",
    "PairedDevice",
    "ReadingAccepted",
    "RecordRefused",
    "ScreenSettings",
    "StoredReading",
    "SystemClock",
    "WardSettings",
    "reading_key",
    "screen_app",
]


def screen_app(apartment: Apartment, *, allow_remote: bool = False) -> Starlette:
    """The patient's screen of ``apartment`` as an ASGI app under ``/screen/`` (extra ``server``).

    Serves the page, ``texts.json``, ``state.json``, the events WebSocket, the call
    button's endpoint and, during a call, the loopback video (the self-view, the ward's
    video and voice), to loopback clients only unless ``allow_remote``. uvicorn's
    lifespan closes the video connections when it stops serving the app.

    Raises:
        MissingExtraError: Starlette is not installed (``pip install 'telemedroom[server]'``).

    Examples:
        >>> import base64
        >>> config = ApartmentConfig(apartment_id="apt-2", patient="Patient/p1", care_plan="plan.toml",
        ...     data_dir="/var/lib/apartment", encryption_key=base64.b64encode(bytes(32)).decode())
        >>> sorted(r.path for r in screen_app(Apartment(config)).routes)  # doctest: +NORMALIZE_WHITESPACE
        ['/', '/screen', '/screen/call', '/screen/events', '/screen/state.json', '/screen/texts.json',
         '/screen/video.js', '/screen/webrtc']
    """
    from telemedroom.apartment._screen import screen_app as create

    return create(apartment, allow_remote=allow_remote)


for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
