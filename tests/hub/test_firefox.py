"""A physician in headless Firefox (firefox-esr): login through Glewlwyd, worklist, join, console.

Firefox is driven over WebDriver BiDi (``tests/_firefox.py``: Playwright drives only its
own Firefox build, which cannot be downloaded here). The
appointment is booked on the shared schedule in PostgreSQL; the console joins the hub's
own signaling over TLS (Firefox accepts the test certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests._firefox import Bidi, launch_firefox

from telemedroom.scheduling import PostgresStore, Resource, Scheduler

from ._glewlwyd import Glewlwyd
from .conftest import PHYSICIAN, RunningHub
from .test_worklist import ALWAYS, VISIT

pytestmark = pytest.mark.requires_system

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]

# React reads an input's value from its own setter: set it through the prototype and say so.
_TYPE = (
    "((selector, value) => {{ const field = document.querySelector(selector);"
    " Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(field, value);"
    " field.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})({selector}, {value})"
)


@pytest.fixture
async def firefox(tmp_path: Path) -> AsyncIterator[Bidi]:
    """A fresh headless Firefox profile that accepts the hub's test certificate."""
    async with launch_firefox(tmp_path, {"alwaysMatch": {"acceptInsecureCerts": True}}) as bidi:
        yield bidi


async def settle(firefox: Bidi, condition: str, timeout: float = 30) -> Any:
    """Wait for ``condition`` across page loads (an evaluation cut short by a navigation is retried)."""
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(AssertionError, TimeoutError):
                return await firefox.until(condition, timeout=2)


async def test_physician_logs_in_in_firefox_and_joins_from_the_worklist(
    hub_factory: HubFactory, idp: Glewlwyd, firefox: Bidi, postgres_dsn: str
) -> None:
    async with hub_factory(issuer=idp.issuer) as hub, PostgresStore(postgres_dsn) as store:
        scheduler = Scheduler(
            store,
            [
                Resource(id="nord-1", kind="room", name="Nord", availability=ALWAYS),
                Resource(id="dr-weber", kind="practitioner", name="Dr Weber", availability=ALWAYS),
            ],
        )
        now = datetime.now(UTC)
        (slot,) = await scheduler.find_slots(VISIT, now, now + timedelta(hours=2), limit=1)
        appointment = await scheduler.book(slot, "pat-3", idempotency_key="k-3")

        await firefox.command(
            "browsingContext.navigate", context=firefox.context, url=f"{hub.url}/login", wait="complete"
        )
        await firefox.evaluate("document.getElementById('sso').click()")
        await settle(firefox, "document.querySelector('#username')")
        await firefox.evaluate(_TYPE.format(selector=json.dumps("#username"), value=json.dumps(PHYSICIAN[0])))
        await firefox.evaluate(_TYPE.format(selector=json.dumps("#password"), value=json.dumps(PHYSICIAN[1])))
        await firefox.evaluate("document.getElementById('loginbut').click()")
        go_on = "document.querySelector('button[title=\"Continue to client application\"]')"
        await settle(firefox, go_on)
        await firefox.evaluate(f"{go_on}.click()")
        await settle(firefox, "location.pathname === '/worklist' && document.querySelector('#worklist')")
        assert await firefox.evaluate("document.querySelector('header .who').textContent") == (
            "Dr. Anna Weber (physician)"
        )
        assert "Firefox" in await firefox.evaluate("navigator.userAgent")

        join = f"document.querySelector('#worklist tr[data-appointment=\"{appointment.id}\"] button.join')"
        await settle(firefox, join)
        await firefox.evaluate(f"{join}.click()")
        await settle(firefox, "document.getElementById('status').textContent.startsWith('joined')")
        assert await firefox.evaluate("location.pathname") == "/console/"
        issued = [e for e in await hub.hub.store.audit_entries() if e.action.value == "token_issued"]
        assert [(e.room, e.appointment) for e in issued] == [("nord-1", appointment.id)]
