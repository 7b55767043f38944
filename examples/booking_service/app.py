"""A small HTTP booking API for a telemedicine room, on telemedroom.scheduling.

Starlette app with an OpenAPI description at /openapi.json. The schedule lives in a
SQLite file by default (BOOKING_DB, default ./booking.db); set BOOKING_DSN to a
postgresql:// URL to share one schedule between several servers.

Run:  python examples/booking_service/app.py   (needs telemedroom[server])
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
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


# -- the app -------------------------------------------------------------------------------------------------


def default_store() -> ScheduleStore:
    dsn = os.environ.get("BOOKING_DSN")
    if dsn:
        return PostgresStore(dsn)
    return SqliteStore(os.environ.get("BOOKING_DB", "booking.db"))


def create_app(
    store: ScheduleStore | None = None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Starlette:
    schedule_store = store if store is not None else default_store()
    scheduler = Scheduler(schedule_store, RESOURCES, clock=clock)

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
        return JSONResponse(appointment_json(await scheduler.check_in(code)))

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

    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
