"""A small HTTP booking API for a telemedicine room, on telemedroom.scheduling.

Starlette app with an OpenAPI description at /openapi.json. The schedule lives in a
SQLite file by default (BOOKING_DB, default ./booking.db); set BOOKING_DSN to a
postgresql:// URL to share one schedule between several servers.

With a join-token issuer (JOIN_TOKEN_KEY_FILE: an Ed25519 private key in PEM,
JOIN_TOKEN_KID: its key id) the service issues the consultation's join tokens through
the scheduler's join-token hook: on booking, each physician's console link goes to
``deliver`` (e-mail, the practice software...); on check-in, the room gets the patient
token with which its peer joins the signaling server.

Run:  python examples/booking_service/app.py   (needs telemedroom[server])
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from openapi import OPENAPI  # next to this file (the script's directory is on sys.path)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from telemedroom import errors
from telemedroom.scheduling import (
    Appointment,
    AvailabilityRule,
    Closure,
    Hold,
    PostgresStore,
    Requirement,
    Resource,
    Scheduler,
    ScheduleStore,
    Service,
    Slot,
    SqliteStore,
    appointment_to_fhir,
    appointments_to_ical,
    bulk_publish,
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

# -- JSON in and out -----------------------------------------------------------------------------------


def slot_json(slot: Slot) -> dict[str, Any]:
    return {
        "service_id": slot.service_id,
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "resource_ids": list(slot.resource_ids),
        "buffer_before_s": slot.buffer_before.total_seconds(),
        "buffer_after_s": slot.buffer_after.total_seconds(),
    }


def slot_from_json(data: Any) -> Slot:
    try:
        return Slot(
            service_id=str(data["service_id"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            resource_ids=tuple(str(r) for r in data["resource_ids"]),
            buffer_before=timedelta(seconds=float(data.get("buffer_before_s", 0))),
            buffer_after=timedelta(seconds=float(data.get("buffer_after_s", 0))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, errors.TelemedroomError):
            raise
        raise errors.InvalidScheduleData("slot", data, f"malformed slot: {exc!r}") from exc


def appointment_json(a: Appointment) -> dict[str, Any]:
    return {
        "id": a.id,
        "status": a.status,
        "booking_code": a.booking_code,
        "patient": a.patient,
        "slot": slot_json(a.slot),
        "rescheduled_from": a.rescheduled_from,
    }


def hold_json(h: Hold) -> dict[str, Any]:
    return {"id": h.id, "expires_at": h.expires_at.isoformat(), "slot": slot_json(h.slot)}


# One table from our errors to HTTP answers (RFC 9457 problem details).
STATUS_OF_ERROR: list[tuple[type[errors.TelemedroomError], int]] = [
    (errors.SlotUnavailable, 409),
    (errors.InvalidTransition, 409),
    (errors.IdempotencyKeyReused, 422),
    (errors.HoldExpired, 410),
    (errors.UnknownBookingCode, 404),
    (errors.UnknownAppointment, 404),
    (errors.InvalidScheduleData, 422),
]


def problem(exc: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS_OF_ERROR if isinstance(exc, kind)), 500)
    body = {"type": "about:blank", "title": type(exc).__name__, "status": status, "detail": str(exc)}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def body_of(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise errors.InvalidScheduleData("body", None, "not JSON") from exc
    if not isinstance(data, dict):
        raise errors.InvalidScheduleData("body", data, "expected a JSON object")
    return data


def instant(request: Request, name: str) -> datetime:
    raw = request.query_params.get(name)
    if raw is None:
        raise errors.InvalidScheduleData(name, None, "missing query parameter")
    try:
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise errors.InvalidScheduleData(name, raw, "not an ISO 8601 date-time") from exc


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
) -> Starlette:
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
    websocket_base = session_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)

    def handled(endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def wrapper(request: Request) -> Response:
            try:
                return await endpoint(request)  # type: ignore[no-any-return]
            except errors.SchedulingError as exc:
                return problem(exc)

        return wrapper

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def list_services(request: Request) -> Response:
        return JSONResponse(
            [
                {"id": s.id, "name": s.name, "minutes": s.duration // timedelta(minutes=1)}
                for s in SERVICES.values()
            ]
        )

    async def find_slots(request: Request) -> Response:
        service_id = request.query_params.get("service", "")
        if service_id not in SERVICES:
            raise errors.InvalidScheduleData("service", service_id, f"one of {sorted(SERVICES)}")
        limit = request.query_params.get("limit")
        slots = await scheduler.find_slots(
            SERVICES[service_id],
            instant(request, "from"),
            instant(request, "to"),
            limit=int(limit) if limit and limit.isdigit() else None,
        )
        return JSONResponse([slot_json(s) for s in slots])

    async def create_hold(request: Request) -> Response:
        held = await scheduler.hold(slot_from_json((await body_of(request)).get("slot")))
        return JSONResponse(hold_json(held), status_code=201)

    async def book(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if not key:
            raise errors.InvalidScheduleData("Idempotency-Key", None, "send an Idempotency-Key header")
        data = await body_of(request)
        target: Slot | Hold
        if "hold_id" in data:
            # a used hold is still found, so a retry with the same key gets its appointment
            target = await schedule_store.get_hold(str(data["hold_id"]))
        else:
            target = slot_from_json(data.get("slot"))
        booked = await scheduler.book(target, str(data.get("patient", "")), idempotency_key=key)
        if issuer is not None and deliver is not None:
            # A retried request delivers again: fresh tokens for the same window.
            tokens = await scheduler.issue_join_tokens(booked)
            for participant, token in tokens.items():
                if participant != booked.patient:
                    await deliver(participant, f"{session_url}/console/#token={token}")
        return JSONResponse(appointment_json(booked), status_code=201)

    async def get_appointment(request: Request) -> Response:
        return JSONResponse(appointment_json(await scheduler.get(request.path_params["id"])))

    async def get_fhir(request: Request) -> Response:
        found = await scheduler.get(request.path_params["id"])
        return JSONResponse(
            appointment_to_fhir(found, RESOURCES).model_dump(mode="json"), media_type="application/fhir+json"
        )

    async def get_ical(request: Request) -> Response:
        found = await scheduler.get(request.path_params["id"])
        return Response(appointments_to_ical([found], RESOURCES), media_type="text/calendar")

    async def cancel(request: Request) -> Response:
        return JSONResponse(appointment_json(await scheduler.cancel(request.path_params["id"])))

    async def reschedule(request: Request) -> Response:
        moved = await scheduler.reschedule(
            request.path_params["id"], slot_from_json((await body_of(request)).get("slot"))
        )
        return JSONResponse(appointment_json(moved), status_code=201)

    async def check_in(request: Request) -> Response:
        code = str((await body_of(request)).get("booking_code", ""))
        checked_in = await scheduler.check_in(code)
        answer = appointment_json(checked_in)
        if issuer is not None:
            # Whoever holds the booking code is the patient (or the room they stand in).
            tokens = await scheduler.issue_join_tokens(checked_in)
            answer["join"] = {
                "url": f"{websocket_base}/ws/{room_of(checked_in)}/{checked_in.id}",
                "token": tokens[checked_in.patient],
            }
        return JSONResponse(answer)

    async def publish(request: Request) -> Response:
        now = clock()
        free = []
        for service in SERVICES.values():
            free += await scheduler.find_slots(service, now, now + timedelta(days=14))
        base = str(request.url_for("publish")).rsplit("/", 1)[0]
        publication = bulk_publish(base, RESOURCES, free, transaction_time=now)
        name = request.path_params.get("name", "$bulk-publish")
        if name == "$bulk-publish":
            return JSONResponse(publication.manifest)
        if name not in publication.files:
            return Response(status_code=404)
        return Response(publication.files[name], media_type="application/fhir+ndjson")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with schedule_store:
            yield

    routes = [
        Route("/openapi.json", openapi),
        Route("/services", list_services),
        Route("/slots", handled(find_slots)),
        Route("/holds", handled(create_hold), methods=["POST"]),
        Route("/appointments", handled(book), methods=["POST"]),
        Route("/appointments/{id}", handled(get_appointment)),
        Route("/appointments/{id}/fhir", handled(get_fhir)),
        Route("/appointments/{id}/calendar.ics", handled(get_ical)),
        Route("/appointments/{id}/cancel", handled(cancel), methods=["POST"]),
        Route("/appointments/{id}/reschedule", handled(reschedule), methods=["POST"]),
        Route("/check-in", handled(check_in), methods=["POST"]),
        Route("/publish/$bulk-publish", handled(publish), name="publish"),
        Route("/publish/{name}", handled(publish)),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


if __name__ == "__main__":  # pragma: no cover - manual use
    import uvicorn

    uvicorn.run(create_app(issuer=issuer_from_env(), deliver=log_link), host="127.0.0.1", port=8000)
