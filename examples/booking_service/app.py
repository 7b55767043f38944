"""The booking API of telemedroom.booking, configured for a practice with two rooms.

The API itself (routes, OpenAPI at /openapi.json, problem documents) is
``telemedroom.booking.create_booking_api``; this file only says what can be booked, where
the schedule lives and how join tokens are signed. The schedule lives in a
SQLite file by default (BOOKING_DB, default ./booking.db); set BOOKING_DSN to a
postgresql:// URL to share one schedule between several servers.

With a join-token issuer (JOIN_TOKEN_KEY_FILE: an Ed25519 private key in PEM,
JOIN_TOKEN_KID: its key id) the service issues the consultation's join tokens through
the scheduler's join-token hook: on booking, each physician's console link goes to
``deliver`` (e-mail, the practice software...); on check-in, the room gets the patient
token with which its peer joins the signaling server.

Run:  python examples/booking_service/app.py   (needs telemedroom[booking])
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from telemedroom.booking import create_booking_api
from telemedroom.scheduling import (
    Appointment,
    AvailabilityRule,
    Closure,
    PostgresStore,
    Requirement,
    Resource,
    Scheduler,
    ScheduleStore,
    Service,
    SqliteStore,
)
from telemedroom.scheduling import ParticipantRole as BookingRole
from telemedroom.session import TokenIssuer
from telemedroom.session.tokens import ParticipantRole as SessionRole

# -- the room's configuration: two rooms, two physicians, two services -----------------------------

WEEKDAYS = AvailabilityRule(
    rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", starts=date(2026, 1, 5), opens=time(8), closes=time(18)
)
HOLIDAYS = (
    Closure(start=date(2026, 12, 24), end=date(2026, 12, 26), reason="Christmas"),
    Closure(start=date(2026, 10, 3), end=date(2026, 10, 3), reason="German Unity Day"),
)
RESOURCES = (
    Resource(
        id="room-1", kind="room", name="Telemedicine room 1", availability=(WEEKDAYS,), closures=HOLIDAYS
    ),
    Resource(
        id="room-2", kind="room", name="Telemedicine room 2", availability=(WEEKDAYS,), closures=HOLIDAYS
    ),
    Resource(
        id="dr-weber",
        kind="practitioner",
        name="Dr. Weber",
        qualifications=frozenset({"general"}),
        availability=(WEEKDAYS,),
    ),
    Resource(
        id="dr-yilmaz",
        kind="practitioner",
        name="Dr. Yilmaz",
        qualifications=frozenset({"general", "neurology"}),
        availability=(WEEKDAYS,),
    ),
)
SERVICES = {
    s.id: s
    for s in (
        Service(
            id="gp-20",
            name="General medicine consultation",
            duration=timedelta(minutes=20),
            buffer_after=timedelta(minutes=5),
            requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="general")),
        ),
        Service(
            id="fp-30",
            name="Facial paralysis follow-up",
            duration=timedelta(minutes=30),
            buffer_after=timedelta(minutes=10),
            requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="neurology")),
        ),
    )
}

# -- join tokens -----------------------------------------------------------------------------------------

RESOURCES_BY_ID = {r.id: r for r in RESOURCES}

# The scheduler speaks of practitioners; the signaling server admits physicians.
SESSION_ROLE: dict[BookingRole, SessionRole] = {"patient": "patient", "practitioner": "physician"}

# Sends a physician the console link of a booked consultation (e-mail, practice software...).
Deliver = Callable[[str, str], Awaitable[None]]


def join_token_hook(issuer: TokenIssuer, store: ScheduleStore) -> Callable[..., Awaitable[str]]:
    """The scheduler's ``JoinTokenIssuer``: one signed token per participant of an appointment.

    The token is bound to the appointment's room resource, the appointment id and the
    role, and valid in the window the scheduler gives (from 15 minutes before the slot
    until 30 minutes after it). The patient's token carries the room's name, not the
    patient's: the physician's waiting room shows where the patient sits.
    """

    async def issue(
        *,
        appointment_id: str,
        participant: str,
        role: BookingRole,
        not_before: datetime,
        not_after: datetime,
    ) -> str:
        booked = await store.get(appointment_id)
        room = room_of(booked)
        shown = RESOURCES_BY_ID[participant].name if role == "practitioner" else RESOURCES_BY_ID[room].name
        return issuer.issue(
            room=room,
            appointment=appointment_id,
            role=SESSION_ROLE[role],
            subject=participant,
            name=shown,
            not_before=not_before,
            expires_at=not_after,
        )

    return issue


def room_of(booked: Appointment) -> str:
    return next(rid for rid in booked.slot.resource_ids if RESOURCES_BY_ID[rid].kind == "room")


def issuer_from_env() -> TokenIssuer | None:
    """``JOIN_TOKEN_KEY_FILE`` (Ed25519 PEM) and ``JOIN_TOKEN_KID``, or no issuer."""
    path = os.environ.get("JOIN_TOKEN_KEY_FILE")
    if not path:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"{path}: the join-token key must be an Ed25519 private key")
    return TokenIssuer(key, os.environ.get("JOIN_TOKEN_KID", "booking-1"))


async def log_link(participant: str, link: str) -> None:  # pragma: no cover - manual use
    print(f"console link for {participant}: {link.split('#')[0]}#token=...")  # never log a token


# -- the app -------------------------------------------------------------------------------------------------


def default_store() -> ScheduleStore:
    dsn = os.environ.get("BOOKING_DSN")
    if dsn:
        return PostgresStore(dsn)
    return SqliteStore(os.environ.get("BOOKING_DB", "booking.db"))


def create_app(
    store: ScheduleStore | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    issuer: TokenIssuer | None = None,
    deliver: Deliver | None = None,
    session_url: str = os.environ.get("SESSION_URL", "https://session.clinic.example"),
) -> Any:
    """The booking API; with ``issuer`` it also issues join tokens (see the module docstring).

    Args:
        store: The schedule store (default: from ``BOOKING_DSN`` / ``BOOKING_DB``).
        clock: Returns now.
        issuer: Signs join tokens; the signaling server trusts its public key.
        deliver: Gets ``(practitioner id, console link)`` for each physician on booking.
        session_url: The signaling server (it also serves the physician console).
    """
    schedule_store = store if store is not None else default_store()
    scheduler = Scheduler(
        schedule_store,
        RESOURCES,
        clock=clock,
        join_tokens=join_token_hook(issuer, schedule_store) if issuer is not None else None,
    )
    return create_booking_api(
        scheduler, SERVICES, deliver=deliver, session_url=session_url, manage_store=True
    )


if __name__ == "__main__":  # pragma: no cover - manual use
    import uvicorn

    uvicorn.run(create_app(issuer=issuer_from_env(), deliver=log_link), host="127.0.0.1", port=8000)
