"""The residents' booking page: choose a service and a time, no account, an accessible page.

A product part on :mod:`telemedroom.scheduling` (and nothing beside it): served on its
own by ``telemedroom booking serve --config booking.toml``, or mounted by a larger app
(``Mount("", create_booking_app(service))``: it answers under ``/booking/``).

Needs the ``booking`` extra (starlette, jinja2, segno): ``pip install 'telemedroom[booking]'``.

- :class:`BookingConfig`: ``booking.toml`` (schedule, store, fields, retention, SMTP, limits).
- :func:`open_booking` opens a :class:`BookingService` (schedule store, residents'
  records, FHIR outbox) from it; :func:`create_booking_app` is its ASGI app.
- :class:`ResidentRecords`: the residents' details, sealed at rest, purged after retention.
- :func:`create_booking_api`: the JSON booking API (services, slots, holds,
  appointments, check-in, SMART Scheduling Links) for the practice software.
- :class:`SmtpMailer` sends the confirmation e-mail; an SMS hook is any
  ``async (phone, text)`` callable.

Examples:
    >>> from telemedroom.booking import pick_language
    >>> pick_language("en-GB,en;q=0.9,de;q=0.8")
    'en'
"""

from __future__ import annotations

from telemedroom.booking._api import create_booking_api
from telemedroom.booking._app import create_booking_app
from telemedroom.booking._config import BookingConfig, LimitSettings, SmtpSettings
from telemedroom.booking._fhir import KVNR_SYSTEM, booking_bundle, patient_resource
from telemedroom.booking._forms import kvnr_valid
from telemedroom.booking._mail import Mailer, SmsSender, SmtpMailer
from telemedroom.booking._records import ResidentDetails, ResidentRecord, ResidentRecords
from telemedroom.booking._service import Booked, BookingService, open_booking
from telemedroom.booking._texts import LANGUAGES, TEXTS, pick_language

__all__ = [
    "KVNR_SYSTEM",
    "LANGUAGES",
    "TEXTS",
    "Booked",
    "BookingConfig",
    "BookingService",
    "LimitSettings",
    "Mailer",
    "ResidentDetails",
    "ResidentRecord",
    "ResidentRecords",
    "SmsSender",
    "SmtpMailer",
    "SmtpSettings",
    "booking_bundle",
    "create_booking_api",
    "create_booking_app",
    "kvnr_valid",
    "open_booking",
    "patient_resource",
    "pick_language",
]


# Show the short public path in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
