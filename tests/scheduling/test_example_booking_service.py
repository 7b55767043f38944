"""The booking-service example: the whole flow over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from telemedroom.errors import TokenError, TokenRefusal
from telemedroom.session import TokenIssuer, TokenVerifier

from .conftest import FakeClock, make_store

EXAMPLE = Path(__file__).parents[2] / "examples" / "booking_service"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    spec = importlib.util.spec_from_file_location("booking_service_app", EXAMPLE / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def client(
    example: ModuleType, store_kind: str, store_url: str, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process over httpx's ASGI transport, its lifespan (the store) entered by hand."""
    app = example.create_app(make_store(store_kind, store_url), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://booking.test") as http:
            yield http


MONDAY = "2026-03-02T00:00:00+01:00"
TUESDAY = "2026-03-03T00:00:00+01:00"


async def slots(client: httpx.AsyncClient, service: str = "gp-20", **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/slots", params={"service": service, "from": MONDAY, "to": TUESDAY, **params}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_the_booking_flow_over_http(client: httpx.AsyncClient, clock: FakeClock) -> None:
    offered = await slots(client)
    assert offered[0]["start"] == "2026-03-02T07:00:00+00:00"  # 08:00 in Berlin
    assert offered[0]["resource_ids"] == ["room-1", "dr-weber"]

    held = await client.post("/holds", json={"slot": offered[0]})
    assert held.status_code == 201
    # while held, nobody else may book it
    taken = await client.post(
        "/appointments", json={"slot": offered[0], "patient": "pat-2"}, headers={"Idempotency-Key": "x"}
    )
    assert (taken.status_code, taken.json()["title"]) == (409, "SlotUnavailable")
    assert taken.headers["content-type"] == "application/problem+json"

    booked = await client.post(
        "/appointments",
        json={"hold_id": held.json()["id"], "patient": "pat-1"},
        headers={"Idempotency-Key": "k1"},
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    assert appointment["status"] == "booked"
    again = await client.post(
        "/appointments",
        json={"hold_id": held.json()["id"], "patient": "pat-1"},
        headers={"Idempotency-Key": "k1"},
    )
    assert again.json()["id"] == appointment["id"]  # a retry returns the same booking

    # the next patient at 08:00 gets the other room and physician
    assert (await slots(client, limit=1))[0]["resource_ids"] == ["room-2", "dr-yilmaz"]

    fhir = (await client.get(f"/appointments/{appointment['id']}/fhir")).json()
    assert (fhir["resourceType"], fhir["status"]) == ("Appointment", "booked")
    ics = await client.get(f"/appointments/{appointment['id']}/calendar.ics")
    [event] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert event.decoded("dtstart").hour == 8
    assert "pat-1" not in ics.text

    moved = await client.post(f"/appointments/{appointment['id']}/reschedule", json={"slot": offered[1]})
    assert moved.status_code == 201
    assert (await client.get(f"/appointments/{appointment['id']}")).json()["status"] == "cancelled"

    clock.now = datetime(2026, 3, 2, 7, 20, tzinfo=UTC)
    checked = await client.post("/check-in", json={"booking_code": moved.json()["booking_code"].lower()})
    assert checked.json()["status"] == "checked-in"
    assert (await client.post(f"/appointments/{moved.json()['id']}/cancel")).status_code == 409


async def test_errors_are_problem_documents(client: httpx.AsyncClient, clock: FakeClock) -> None:
    assert (await client.post("/check-in", json={"booking_code": "ACEF-GHJK"})).status_code == 404
    assert (await client.get("/appointments/nope")).status_code == 404
    assert (
        await client.get("/slots", params={"service": "massage", "from": MONDAY, "to": TUESDAY})
    ).status_code == 422
    assert (
        await client.get("/slots", params={"service": "gp-20", "from": "2026-03-02T00:00:00", "to": TUESDAY})
    ).status_code == 422
    assert (
        await client.post("/appointments", json={"slot": {}, "patient": "p"})
    ).status_code == 422  # no key
    assert (await client.post("/holds", json={"slot": {"start": "soon"}})).status_code == 422
    held = (await client.post("/holds", json={"slot": (await slots(client))[0]})).json()
    clock.advance(timedelta(minutes=10))
    expired = await client.post(
        "/appointments", json={"hold_id": held["id"], "patient": "p"}, headers={"Idempotency-Key": "k"}
    )
    assert expired.status_code == 410


async def test_openapi_and_bulk_publish(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert {"/slots", "/holds", "/appointments", "/check-in"} <= set(spec["paths"])
    manifest = (await client.get("/publish/$bulk-publish")).json()
    assert [o["type"] for o in manifest["output"]] == ["Location", "Schedule", "Slot"]
    slot_url = manifest["output"][2]["url"]
    assert slot_url.endswith("/publish/slots.ndjson")
    ndjson = await client.get("/publish/slots.ndjson")
    assert ndjson.status_code == 200
    assert len(ndjson.text.splitlines()) > 100  # two weeks of both services
    assert (await client.get("/publish/other.ndjson")).status_code == 404


@pytest.fixture
async def issuing(
    example: ModuleType, store_kind: str, store_url: str, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, TokenIssuer, list[tuple[str, str]]]]:
    """The app with a join-token issuer; console links are delivered into a list."""
    issuer = TokenIssuer.generate("booking-2026")
    delivered: list[tuple[str, str]] = []

    async def deliver(participant: str, link: str) -> None:
        delivered.append((participant, link))

    app = example.create_app(
        make_store(store_kind, store_url),
        clock=clock,
        issuer=issuer,
        deliver=deliver,
        session_url="https://session.clinic.example",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://booking.test") as http:
            yield http, issuer, delivered


def refusal(verifier: TokenVerifier, token: str, **where: Any) -> TokenRefusal:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, **where)
    return info.value.reason


async def test_booking_and_check_in_issue_join_tokens_bound_to_room_appointment_and_role(
    issuing: tuple[httpx.AsyncClient, TokenIssuer, list[tuple[str, str]]], clock: FakeClock
) -> None:
    client, issuer, delivered = issuing
    offered = await slots(client)
    booked = await client.post(
        "/appointments", json={"slot": offered[0], "patient": "pat-1"}, headers={"Idempotency-Key": "k1"}
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    assert "join" not in appointment  # the booker gets no token
    assert "token" not in booked.text

    # on booking: the physician's console link, with the token in the fragment
    [(participant, link)] = delivered
    assert participant == "dr-weber"
    base, token = link.split("#token=")
    assert base == "https://session.clinic.example/console/"
    verifier = TokenVerifier(issuer.public_keys())
    start = datetime.fromisoformat(offered[0]["start"])
    claims = verifier.verify(token, room="room-1", appointment=appointment["id"], now=start)
    assert (claims.role, claims.subject, claims.name) == ("physician", "dr-weber", "Dr. Weber")
    assert claims.not_before == start - timedelta(minutes=15)
    assert claims.expires_at == datetime.fromisoformat(offered[0]["end"]) + timedelta(minutes=30)

    # refused for another room, another appointment, too early, too late, another key
    assert refusal(verifier, token, room="room-2", now=start) is TokenRefusal.WRONG_ROOM
    assert (
        refusal(verifier, token, room="room-1", appointment="someone-else", now=start)
        is TokenRefusal.WRONG_APPOINTMENT
    )
    assert (
        refusal(verifier, token, room="room-1", now=start - timedelta(hours=1)) is TokenRefusal.NOT_YET_VALID
    )
    assert refusal(verifier, token, room="room-1", now=start + timedelta(hours=2)) is TokenRefusal.EXPIRED
    stranger = TokenVerifier(TokenIssuer.generate("booking-2026").public_keys())
    assert refusal(stranger, token, room="room-1", now=start) is TokenRefusal.BAD_SIGNATURE

    # on check-in: the room gets the patient token and where to use it
    clock.now = start - timedelta(minutes=10)
    checked = await client.post("/check-in", json={"booking_code": appointment["booking_code"]})
    assert checked.status_code == 200, checked.text
    join = checked.json()["join"]
    assert join["url"] == f"wss://session.clinic.example/ws/room-1/{appointment['id']}"
    patient = verifier.verify(join["token"], room="room-1", appointment=appointment["id"], now=clock.now)
    assert (patient.role, patient.subject, patient.name) == ("patient", "pat-1", "Telemedicine room 1")
    assert patient.token_id != claims.token_id

    # a cancelled appointment cannot check in, so its room gets no token
    other = await client.post(
        "/appointments", json={"slot": offered[1], "patient": "pat-2"}, headers={"Idempotency-Key": "k2"}
    )
    await client.post(f"/appointments/{other.json()['id']}/cancel")
    assert (
        await client.post("/check-in", json={"booking_code": other.json()["booking_code"]})
    ).status_code == 409


async def test_the_check_in_answer_is_described_in_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    answer = spec["paths"]["/check-in"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["allOf"][1]["properties"]["join"]["properties"].keys() == {"url", "token"}
