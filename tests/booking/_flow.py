"""The resident's whole journey, driven in a real browser (Chromium over Playwright, Firefox over BiDi).

One flow for both browsers: the driver only navigates, evaluates and waits, and the
page needs no script of its own (clicks and typing are DOM events). Around it: the
booking page served over real HTTP, the real SMTP server, and a real Room whose kiosk
page checks the resident in against the same SQLite schedule.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

from tests.room.conftest import make_config as make_room_config

from telemedroom._kiosk import close_kiosk, create_kiosk_app
from telemedroom.booking import BookingService, create_booking_app, open_booking
from telemedroom.room import Room, RoomState
from telemedroom.scheduling import AvailabilityRule, Requirement, Resource, Scheduler, Service, SqliteStore
from telemedroom.session.signaling import LocalServer

from .conftest import Mailbox, make_config

# Open around the clock, five-minute times back to back: the first free time is at most
# five minutes away, the next after a booked one at most ten, so the resident can check
# in at once after moving the appointment (the kiosk admits from 15 minutes before).
ALWAYS = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2020, 1, 1), opens=time(0), closes=time(0))
ROOM = Resource(id="test-room", kind="room", name="Telemedizin-Raum Nord 1", availability=(ALWAYS,))
DOCTOR = Resource(
    id="dr-weber",
    kind="practitioner",
    name="Dr. Weber",
    qualifications=frozenset({"general"}),
    availability=(ALWAYS,),
)
RESOURCES = (ROOM, DOCTOR)
GP = Service(
    id="gp-20",
    name="Allgemeinmedizinische Sprechstunde",
    duration=timedelta(minutes=5),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="general")),
)
SERVICES = {GP.id: GP}
NAME = '<img src=x onerror="alert(1)"> Erika Mustermann'


class Driver(Protocol):
    async def goto(self, url: str) -> None: ...
    async def evaluate(self, script: str) -> Any: ...
    async def until(self, condition: str, timeout: float = 15) -> Any: ...


@dataclass
class World:
    booking_url: str
    kiosk_url: str
    service: BookingService
    room: Room
    mailbox: Mailbox


@asynccontextmanager
async def world(tmp_path: Path, mailbox: Mailbox) -> AsyncIterator[World]:
    """The booking page and a room's kiosk, both on loopback, sharing one schedule file."""
    config = make_config(tmp_path, mailbox, days_ahead=2)
    async with AsyncExitStack() as stack:
        service = await stack.enter_async_context(
            open_booking(config, schedule=(RESOURCES, SERVICES), clock=lambda: datetime.now(UTC))
        )
        booking = await stack.enter_async_context(LocalServer(create_booking_app(service)))
        # the manage links in the e-mail point at this server
        service.config = service.config.model_copy(update={"public_url": booking.http_url})
        store = await stack.enter_async_context(SqliteStore(config.store_url.removeprefix("sqlite:///")))
        room_config = make_room_config(tmp_path / "room", [], language="de")
        room = await stack.enter_async_context(
            Room(room_config, scheduler=Scheduler(store, RESOURCES, clock=lambda: datetime.now(UTC)))
        )
        kiosk_app = create_kiosk_app(room, language="de")
        stack.push_async_callback(close_kiosk, kiosk_app)
        kiosk = await stack.enter_async_context(LocalServer(kiosk_app))
        yield World(
            f"{booking.http_url}/booking/?lang=de", f"{kiosk.http_url}/kiosk/", service, room, mailbox
        )


def js(value: str) -> str:
    return json.dumps(value)


async def click(driver: Driver, selector: str) -> None:
    """Click after the current task, so the navigation it starts does not cut the evaluation short."""
    await driver.evaluate(f"setTimeout(() => document.querySelector({js(selector)}).click(), 0), true")


async def on_page(driver: Driver, path_part: str, marker: str) -> None:
    """Wait until the browser shows a page whose path contains ``path_part`` and has ``marker``."""
    condition = (
        f"location.pathname.includes({js(path_part)}) && document.readyState === 'complete'"
        f" && !!document.querySelector({js(marker)})"
    )
    async with asyncio.timeout(30):
        while True:
            try:
                if await driver.until(condition, timeout=30):
                    return
            except TimeoutError:
                raise
            except Exception:  # the context went away mid-navigation: ask the new page
                await asyncio.sleep(0.05)


async def fill(driver: Driver, values: dict[str, str]) -> None:
    for field, value in values.items():
        await driver.evaluate(f"document.getElementById({js(field)}).value = {js(value)}, true")


async def code_on(driver: Driver) -> str:
    return str(await driver.evaluate("document.getElementById('code').textContent.trim()"))


async def book(driver: Driver, world: World, name: str = NAME) -> tuple[str, str, Any]:
    """Choose the service, the first time, type the details, consent, confirm; returns (code, link, mail)."""
    await driver.goto(world.booking_url)
    await on_page(driver, "/booking/", "#services a")
    await click(driver, "#services a")
    await on_page(driver, "/booking/service/", ".times button")
    await click(driver, ".times button")
    await on_page(driver, "/booking/hold/", "#details")
    assert "Wir halten diesen Termin bis" in await driver.evaluate(
        "document.getElementById('held-until').textContent"
    )
    await fill(
        driver,
        {
            "name": name,
            "birth_date": "01.04.1950",
            "email": "erika@example.org",
            "insurance_number": "A123456780",
        },
    )
    await driver.evaluate("document.getElementById('consent').checked = true")
    await click(driver, "#confirm")
    await on_page(driver, "/booking/manage/", "#code")
    assert "Ihr Termin ist gebucht" in await driver.evaluate("document.querySelector('h1').textContent")
    code = await code_on(driver)
    _, mail = await world.mailbox.next()
    plain = mail.get_body(("plain",)).get_content()
    assert code in plain
    found = re.search(r"(http://127\.0\.0\.1:\d+/booking/manage/[\w-]+)", plain)
    assert found is not None
    return code, found.group(1), mail


async def whole_journey(driver: Driver, world: World) -> str:
    """Book, cancel through the e-mail's link, book again and move it; returns the new booking code."""
    first_code, link, mail = await book(driver, world)
    assert mail["To"].addresses[0].display_name == NAME
    html = mail.get_body(("html",)).get_content()
    assert "<img" not in html
    # the name is shown nowhere as markup: no image element was made of it
    assert await driver.evaluate("document.querySelectorAll('img').length") == 0

    # follow the link from the e-mail and cancel
    await driver.goto(link)
    await on_page(driver, "/booking/manage/", "#cancel")
    await click(driver, "#cancel")
    await on_page(driver, "/cancel", "#cancel-confirm")
    await click(driver, "#cancel-confirm")
    await on_page(driver, "/cancel", "#message")
    assert "abgesagt" in await driver.evaluate("document.querySelector('h1').textContent")
    _, cancelled = await world.mailbox.next()
    assert "abgesagt" in cancelled["Subject"]
    assert (await world.service.scheduler.store.by_code(first_code)).status == "cancelled"

    # book again, and move it to the next time through the link
    code, link, _ = await book(driver, world, name="Erika Mustermann")
    await driver.goto(link)
    await on_page(driver, "/booking/manage/", "#reschedule")
    await click(driver, "#reschedule")
    await on_page(driver, "/reschedule", ".times button")
    await click(driver, ".times button")
    await on_page(driver, "/booking/manage/", "#notice")
    moved_code = await code_on(driver)
    assert moved_code != code
    _, moved = await world.mailbox.next()
    assert moved_code in moved.get_body(("plain",)).get_content()
    return moved_code


async def check_in_at_the_kiosk(driver: Driver, world: World, code: str) -> None:
    """Type the booking code into the real kiosk page of a real Room."""
    await driver.goto(world.kiosk_url)
    await driver.until("document.body.dataset.state === 'idle'", timeout=30)
    await fill(driver, {"code": code})
    await driver.evaluate("document.getElementById('check-in').click(), true")
    state = await driver.until(
        "(document.body.dataset.state === 'checked_in' || document.getElementById('alert').textContent)"
        " && document.body.dataset.state + ' | ' + document.getElementById('alert').textContent",
        timeout=30,
    )
    assert str(state).startswith("checked_in | "), state
    assert world.room.state is RoomState.CHECKED_IN
    appointment = await world.service.scheduler.store.by_code(code)
    assert appointment.status in ("checked-in", "arrived")
