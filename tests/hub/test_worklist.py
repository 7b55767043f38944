"""The physician's worklist and the one-click join, end to end through the hub.

A real Room (virtual cuff on a bumble radio: a fake radio only) books on the shared
schedule in PostgreSQL, checks in, measures and waits; it reports to the hub and joins
the hub's own signaling over TLS with the patient token it signs with the clinic key.
The physician logs in through Glewlwyd in headless Chromium, sees the visit waiting with
its reading on the worklist, clicks Join (the hub issues the physician's join token),
admits the room in the console, and the visit goes on to its wrap-up. A token for this
visit is refused on another visit, with an audit entry.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import websockets
from tests.room.conftest import devices_for, make_config

from telemedroom.room import HubLinkSettings, Room, RoomState, SessionSettings
from telemedroom.scheduling import AvailabilityRule, PostgresStore, Requirement, Resource, Scheduler, Service
from telemedroom.testing import BumbleBackend

from ._glewlwyd import Glewlwyd
from .conftest import PHYSICIAN, Keys, RunningHub, until
from .test_fleet import room_key_file
from .test_login import sso_login

pytestmark = pytest.mark.requires_system

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]
ALWAYS = (AvailabilityRule(rrule="FREQ=DAILY", starts=date(2020, 1, 1), opens=time(0), closes=time(23, 59)),)
VISIT = Service(
    id="gp-20",
    name="General medicine",
    duration=timedelta(minutes=20),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner")),
    interval=timedelta(minutes=1),
)


async def test_physician_sees_the_waiting_visit_joins_with_one_click_and_admits_the_room(
    hub_factory: HubFactory,
    idp: Glewlwyd,
    browser: Any,
    keys: Keys,
    hub_port: int,
    postgres_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the room's WebSocket client trusts the hub's test certificate as any system CA
    monkeypatch.setenv("SSL_CERT_FILE", str(keys.cert))
    hub_url = f"https://127.0.0.1:{hub_port}"
    session = SessionSettings(
        signaling_url=f"wss://127.0.0.1:{hub_port}",
        token_signing_key_file=keys.folder / "join-token.pem",
        token_key_id="clinic-1",
    )
    link = HubLinkSettings(
        url=hub_url, key_file=room_key_file(tmp_path, keys.rooms["nord-1"]), ca_file=keys.cert, interval_s=1
    )
    config = make_config(tmp_path / "room", ["blood_pressure"], room_id="nord-1", session=session, hub=link)
    async with (
        hub_factory(issuer=idp.issuer) as hub,
        PostgresStore(postgres_dsn) as store,
        BumbleBackend() as radio,
    ):
        for device in devices_for(["blood_pressure"]):
            await radio.add(device)
        scheduler = Scheduler(
            store,
            [
                Resource(id="nord-1", kind="room", name="Nord", availability=ALWAYS),
                Resource(id="dr-weber", kind="practitioner", name="Dr Weber", availability=ALWAYS),
            ],
        )
        now = datetime.now(UTC)
        (slot,) = await scheduler.find_slots(VISIT, now, now + timedelta(hours=2), limit=1)
        appointment = await scheduler.book(slot, "pat-7", idempotency_key="k-7")
        async with Room(config, ble_backend=radio, scheduler=scheduler) as room:
            await room.check_in(appointment.booking_code)
            await room.measure()
            waiting = asyncio.create_task(room.wait_for_physician(timeout=90))

            await sso_login(browser, hub, PHYSICIAN)
            assert browser.url == f"{hub.url}/worklist"
            row = browser.locator(f'#worklist tr[data-appointment="{appointment.id}"]')
            for _ in range(30):  # the page refreshes itself every 5 s until the room's report is in
                if await row.get_attribute("data-live") == "waiting":
                    break
                await browser.wait_for_event("load", timeout=15_000)
            assert await row.get_attribute("data-live") == "waiting"
            assert await row.locator(".readings").text_content() == "128/82 mmHg"
            # the filters: another service hides the row
            await browser.goto(f"{hub.url}/worklist?service=facial-followup")
            assert await browser.locator("#worklist tbody tr").count() == 0
            await browser.goto(f"{hub.url}/worklist?service=gp-20&practitioner=dr-weber")

            await browser.locator(f'#worklist tr[data-appointment="{appointment.id}"] button.join').click()
            await browser.wait_for_url(lambda url: "/console/#token=" in url)
            await until(browser, "document.getElementById('status').textContent.startsWith('joined')", 30)
            await browser.locator("#waiting-list button.admit").first.click(timeout=30_000)
            await asyncio.wait_for(waiting, timeout=60)
            assert room.state is RoomState.IN_CONSULTATION
            token = unquote(browser.url.split("#token=", 1)[1])

            # the physician's token opens this visit only
            context = ssl.create_default_context(cafile=str(keys.cert))
            other = f"wss://127.0.0.1:{hub_port}/ws/nord-1/apt-of-someone-else"
            async with websockets.connect(other, ssl=context, origin=hub.url) as ws:  # type: ignore[arg-type]
                await ws.send(f'{{"type": "join", "v": 1, "token": "{token}"}}')
                async with asyncio.timeout(10):
                    await ws.wait_closed()
                assert ws.close_code == 4401

            summary = await room.end_consultation()
            assert summary.observations >= 1  # the pressure (and its pulse rate)
            await room.wait_idle()
        entries = await hub.hub.store.audit_entries()

    issued = [e for e in entries if e.action.value == "token_issued"]
    assert [(e.actor, e.room, e.appointment) for e in issued] == [(issued[0].actor, "nord-1", appointment.id)]
    refused = [e for e in hub.hub.signaling_audit if e.action.value == "token_refused"]
    assert refused
    assert "wrong_appointment" in refused[-1].detail.values()


async def test_join_is_refused_without_csrf_and_for_an_unknown_visit(
    hub_factory: HubFactory, idp: Glewlwyd, browser: Any
) -> None:
    async with hub_factory(issuer=idp.issuer) as hub:
        await sso_login(browser, hub, PHYSICIAN)
        session = next(
            c["value"] for c in await browser.context.cookies(hub.url) if c["name"].startswith("__Host-")
        )
        csrf = await browser.get_attribute('header input[name="csrf"]', "value")
        async with hub.client() as http:
            http.cookies.set("__Host-telemedroom-hub", session)
            assert (await http.post("/worklist/apt-1/join")).status_code == 403
            unknown = await http.post("/worklist/apt-unknown/join", data={"csrf": csrf})
            assert unknown.status_code == 403
            assert "not_assigned" in unknown.text
        reasons = [e.detail.get("reason") for e in await hub.hub.store.audit_entries()]
        assert reasons[-2:] == ["csrf", "not_assigned"]
