"""The JSON booking API for the practice software (formerly ``examples/booking_service``).

Routes (OpenAPI 3.1 at ``/openapi.json``): ``GET /services``, ``GET /slots``,
``POST /holds``, ``POST /appointments`` (``Idempotency-Key``), ``GET
/appointments/{id}`` (``/fhir``, ``/calendar.ics``), ``POST /appointments/{id}/cancel``
and ``/reschedule``, ``POST /check-in``, ``GET /publish/$bulk-publish`` (SMART
Scheduling Links). Errors are RFC 9457 problem documents: 409 slot taken, 410 hold
expired, 404 unknown code or appointment, 422 bad input.

It has no login of its own: serve it only behind the clinic's authentication (the
booking page mounts it at ``/booking/api`` only with ``api = true``). With a scheduler
that has a join-token hook, booking hands each physician's console link to ``deliver``
and check-in answers with the patient's join token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from telemedroom import errors
from telemedroom.errors import MissingExtraError

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as _exc:
    raise MissingExtraError("booking", "the booking API (telemedroom.booking)") from _exc

from telemedroom.booking._openapi import OPENAPI
from telemedroom.scheduling import (
    Appointment,
    Hold,
    Scheduler,
    Service,
    Slot,
    appointment_to_fhir,
    appointments_to_ical,
    bulk_publish,
)

__all__ = ["create_booking_api"]

# Sends a physician the console link of a booked consultation (e-mail, practice software...).
Deliver = Callable[[str, str], Awaitable[None]]

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


def slot_json(slot: Slot) -> dict[str, Any]:
    """A slot as the API's JSON."""
    return {
        "service_id": slot.service_id,
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "resource_ids": list(slot.resource_ids),
        "buffer_before_s": slot.buffer_before.total_seconds(),
        "buffer_after_s": slot.buffer_after.total_seconds(),
    }


def slot_from_json(data: Any) -> Slot:
    """A slot from the API's JSON.

    Raises:
        InvalidScheduleData: The JSON is not a slot.

    Examples:
        >>> slot_from_json({"service_id": "gp-20"})
        Traceback (most recent call last):
        ...
        telemedroom.InvalidScheduleData: slot {'service_id': 'gp-20'} is not valid: malformed slot: ...
    """
    try:
        return Slot(
            service_id=str(data["service_id"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            resource_ids=tuple(str(r) for r in data["resource_ids"]),
            buffer_before=timedelta(seconds=float(data.get("buffer_before_s", 0))),
            buffer_after=timedelta(seconds=float(data.get("buffer_after_s", 0))),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, errors.TelemedroomError):
            raise
        raise errors.InvalidScheduleData("slot", data, f"malformed slot: {exc!r}") from exc


def appointment_json(a: Appointment) -> dict[str, Any]:
    """An appointment as the API's JSON."""
    return {
        "id": a.id,
        "status": a.status,
        "booking_code": a.booking_code,
        "patient": a.patient,
        "slot": slot_json(a.slot),
        "rescheduled_from": a.rescheduled_from,
    }


def _hold_json(h: Hold) -> dict[str, Any]:
    return {"id": h.id, "expires_at": h.expires_at.isoformat(), "slot": slot_json(h.slot)}


def _problem(exc: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS_OF_ERROR if isinstance(exc, kind)), 500)
    body = {"type": "about:blank", "title": type(exc).__name__, "status": status, "detail": str(exc)}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def _body_of(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise errors.InvalidScheduleData("body", None, "not JSON") from exc
    if not isinstance(data, dict):
        raise errors.InvalidScheduleData("body", data, "expected a JSON object")
    return data


def _instant(request: Request, name: str) -> datetime:
    raw = request.query_params.get(name)
    if raw is None:
        raise errors.InvalidScheduleData(name, None, "missing query parameter")
    try:
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise errors.InvalidScheduleData(name, raw, "not an ISO 8601 date-time") from exc


def create_booking_api(
    scheduler: Scheduler,
    services: Mapping[str, Service],
    *,
    deliver: Deliver | None = None,
    session_url: str = "https://session.clinic.example",
    manage_store: bool = False,
) -> Starlette:
    """The JSON booking API on ``scheduler`` (see the module docstring).

    Args:
        scheduler: The schedule; with a ``join_tokens`` hook the API issues join tokens.
        services: The bookable services by id.
        deliver: Gets ``(practitioner id, console link)`` for each physician on booking.
        session_url: The signaling server (it also serves the physician console).
        manage_store: Open and close the scheduler's store with the app's lifespan.

    Examples:
        >>> import asyncio, httpx
        >>> from datetime import timedelta
        >>> from telemedroom.scheduling import Requirement, Resource, Service, SqliteStore
        >>> gp = Service(id="gp-20", name="GP", duration=timedelta(minutes=20),
        ...              requires=(Requirement(kind="room"),))
        >>> async def main():
        ...     async with SqliteStore(":memory:") as store:
        ...         api = create_booking_api(Scheduler(store, []), {"gp-20": gp})
        ...         transport = httpx.ASGITransport(api)
        ...         async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        ...             return (await http.get("/services")).json()
        >>> asyncio.run(main())
        [{'id': 'gp-20', 'name': 'GP', 'minutes': 20}]
    """
    store = scheduler.store
    resources = scheduler.resources
    websocket_base = session_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)

    def room_of(booked: Appointment) -> str:
        return next(rid for rid in booked.slot.resource_ids if resources[rid].kind == "room")

    def handled(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            try:
                return await endpoint(request)
            except errors.SchedulingError as exc:
                return _problem(exc)

        return wrapper

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def list_services(request: Request) -> Response:
        return JSONResponse(
            [
                {"id": s.id, "name": s.name, "minutes": s.duration // timedelta(minutes=1)}
                for s in services.values()
            ]
        )

    async def find_slots(request: Request) -> Response:
        service_id = request.query_params.get("service", "")
        if service_id not in services:
            raise errors.InvalidScheduleData("service", service_id, f"one of {sorted(services)}")
        limit = request.query_params.get("limit")
        slots = await scheduler.find_slots(
            services[service_id],
            _instant(request, "from"),
            _instant(request, "to"),
            limit=int(limit) if limit and limit.isdigit() else None,
        )
        return JSONResponse([slot_json(s) for s in slots])

    async def create_hold(request: Request) -> Response:
        held = await scheduler.hold(slot_from_json((await _body_of(request)).get("slot")))
        return JSONResponse(_hold_json(held), status_code=201)

    async def book(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if not key:
            raise errors.InvalidScheduleData("Idempotency-Key", None, "send an Idempotency-Key header")
        data = await _body_of(request)
        target: Slot | Hold
        if "hold_id" in data:
            # a used hold is still found, so a retry with the same key gets its appointment
            target = await store.get_hold(str(data["hold_id"]))
        else:
            target = slot_from_json(data.get("slot"))
        booked = await scheduler.book(target, str(data.get("patient", "")), idempotency_key=key)
        if scheduler.join_tokens is not None and deliver is not None:
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
            appointment_to_fhir(found, resources).model_dump(mode="json"), media_type="application/fhir+json"
        )

    async def get_ical(request: Request) -> Response:
        found = await scheduler.get(request.path_params["id"])
        return Response(appointments_to_ical([found], resources), media_type="text/calendar")

    async def cancel(request: Request) -> Response:
        return JSONResponse(appointment_json(await scheduler.cancel(request.path_params["id"])))

    async def reschedule(request: Request) -> Response:
        moved = await scheduler.reschedule(
            request.path_params["id"], slot_from_json((await _body_of(request)).get("slot"))
        )
        return JSONResponse(appointment_json(moved), status_code=201)

    async def check_in(request: Request) -> Response:
        code = str((await _body_of(request)).get("booking_code", ""))
        checked_in = await scheduler.check_in(code)
        answer = appointment_json(checked_in)
        if scheduler.join_tokens is not None:
            # Whoever holds the booking code is the patient (or the room they stand in).
            tokens = await scheduler.issue_join_tokens(checked_in)
            answer["join"] = {
                "url": f"{websocket_base}/ws/{room_of(checked_in)}/{checked_in.id}",
                "token": tokens[checked_in.patient],
            }
        return JSONResponse(answer)

    async def publish(request: Request) -> Response:
        now = scheduler.clock()
        free = []
        for service in services.values():
            free += await scheduler.find_slots(service, now, now + timedelta(days=14))
        base = str(request.url_for("publish")).rsplit("/", 1)[0]
        publication = bulk_publish(base, list(resources.values()), free, transaction_time=now)
        name = request.path_params.get("name", "$bulk-publish")
        if name == "$bulk-publish":
            return JSONResponse(publication.manifest)
        if name not in publication.files:
            return Response(status_code=404)
        return Response(publication.files[name], media_type="application/fhir+ndjson")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_store:
            async with store:
                yield
        else:
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
