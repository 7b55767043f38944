"""Fixtures for the booking tests: a schedule, a real SMTP server, the booking app.

The SMTP server is aiosmtpd's (a real SMTP server on loopback: the e-mail is sent over
TCP by smtplib and parsed as received). The schedule store is SQLite or a real
throwaway PostgreSQL (tests/scheduling/conftest.py). Nothing is faked but the clock
where a test says so.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import queue
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.scheduling.conftest import FakeClock, postgres_dsn, postgres_server  # noqa: F401 (fixtures)

from telemedroom.booking import BookingConfig, BookingService, create_booking_app, open_booking
from telemedroom.scheduling import AvailabilityRule, Requirement, Resource, Service

KEY = base64.b64encode(bytes(range(32))).decode()
WEEKDAYS = AvailabilityRule(
    rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", starts=date(2026, 1, 5), opens=time(9), closes=time(12)
)
ROOM = Resource(id="room-1", kind="room", name="Telemedizin-Raum Nord 1", availability=(WEEKDAYS,))
DOCTOR = Resource(
    id="dr-weber",
    kind="practitioner",
    name="Dr. Weber",
    qualifications=frozenset({"general", "neurology"}),
    availability=(WEEKDAYS,),
)
RESOURCES = (ROOM, DOCTOR)
GP = Service(
    id="gp-20",
    name="Allgemeinmedizinische Sprechstunde",
    duration=timedelta(minutes=20),
    buffer_after=timedelta(minutes=10),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="general")),
)
FP = Service(
    id="fp-30",
    name="Fazialisparese: Verlaufskontrolle",
    duration=timedelta(minutes=30),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="neurology")),
)
SERVICES = {GP.id: GP, FP.id: FP}
# Sunday 1 March 2026, noon UTC: the first slot is Monday 2 March, 09:00 Berlin (08:00 UTC)
SUNDAY = datetime(2026, 3, 1, 12, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """What the real SMTP server received, parsed as a mail client would."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[list[str], EmailMessage]] = queue.Queue()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.put((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    async def next(self, timeout: float = 30) -> tuple[list[str], EmailMessage]:
        """The next message the server received (waits on the queue, not on a sleep)."""
        return await asyncio.to_thread(self.received.get, True, timeout)

    def empty(self) -> bool:
        return self.received.empty()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on loopback."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def make_config(tmp_path: Path, mailbox: Mailbox | None = None, **extra: Any) -> BookingConfig:
    values: dict[str, Any] = {
        "clinic_name": "Praxis am Quartier",
        "public_url": "http://127.0.0.1:8020",
        "schedule_file": tmp_path / "schedule.toml",
        "data_dir": tmp_path / "booking",
        "encryption_key": KEY,
        "privacy_contact": "datenschutz@praxis.example",
    }
    if mailbox is not None:
        values["smtp"] = {
            "host": "127.0.0.1",
            "port": mailbox.port,
            "security": "none",
            "sender": "termine@praxis.example",
        }
    return BookingConfig(**(values | extra))


@dataclass
class Booking:
    """The booking app in process (httpx over ASGI) with its service, clock and mailbox."""

    service: BookingService
    http: httpx.AsyncClient
    app: Any
    clock: FakeClock
    mailbox: Mailbox | None

    def client(self, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        """Another resident: own cookies, own address."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        return httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8020", follow_redirects=False
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SUNDAY)


@asynccontextmanager
async def open_app(
    config: BookingConfig, clock: FakeClock, mailbox: Mailbox | None, **options: Any
) -> AsyncIterator[Booking]:
    async with open_booking(config, schedule=(RESOURCES, SERVICES), clock=clock, **options) as service:
        app = create_booking_app(service)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8020") as http:
            yield Booking(service, http, app, clock, mailbox)


@pytest.fixture
async def booking(tmp_path: Path, clock: FakeClock, mailbox: Mailbox) -> AsyncIterator[Booking]:
    async with open_app(make_config(tmp_path, mailbox), clock, mailbox) as running:
        yield running


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def slot_values(page: str) -> list[str]:
    return re.findall(r'name="slot" value="([^"]+)"', page)


async def hold_first(http: httpx.AsyncClient, service: str = "gp-20", index: int = 0) -> str:
    """Open the service's page, hold its ``index``-th time; returns the details page's path."""
    page = await http.get(f"/booking/service/{service}")
    assert page.status_code == 200, page.text
    values = [v.replace("&#43;", "+") for v in slot_values(page.text)]
    held = await http.post(
        "/booking/hold", data={"csrf": csrf_of(page.text), "service": service, "slot": values[index]}
    )
    assert held.status_code == 303, held.text
    return str(held.headers["location"])


DETAILS = {
    "name": "Erika Mustermann",
    "birth_date": "01.04.1950",
    "email": "erika@example.org",
    "phone": "",
    "insurance_number": "A123456780",
    "consent": "1",
    "website": "",
}


async def confirm(http: httpx.AsyncClient, details_path: str, **changes: str) -> httpx.Response:
    page = await http.get(details_path)
    assert page.status_code == 200, page.text
    return await http.post(details_path, data={"csrf": csrf_of(page.text), **(DETAILS | changes)})


async def book(http: httpx.AsyncClient, index: int = 0, **changes: str) -> str:
    """Hold and confirm; returns the manage link's path."""
    response = await confirm(http, await hold_first(http, index=index), **changes)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("?")[0]
