"""Fixtures for the session tests: a real signaling server on loopback, raw protocol clients, Chromium."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests._system import require_system
from websockets.asyncio.client import ClientConnection, connect

# until: re-exported for the browser tests (tests/session, tests/kiosk)
from telemedroom._chromium import CHROMIUM_FLAGS, until  # noqa: F401
from telemedroom.session import AuditLog, TokenIssuer, TokenVerifier
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app

ROOM = "quarter-1"
APPOINTMENT = "apt-42"


@dataclass
class Signaling:
    """A running signaling server, the issuer of its tokens and its audit log."""

    server: LocalServer
    issuer: TokenIssuer
    audit: AuditLog
    config: SignalingConfig
    hub: Any = field(default=None)

    def url(self, room: str = ROOM, appointment: str = APPOINTMENT) -> str:
        return f"{self.server.ws_url}/ws/{room}/{appointment}"

    def token(self, role: str = "patient", subject: str | None = None, **overrides: Any) -> str:
        now = datetime.now(UTC)
        fields: dict[str, Any] = {
            "room": ROOM,
            "appointment": APPOINTMENT,
            "role": role,
            "subject": subject or role,
            "name": f"{role} name",
            "not_before": now - timedelta(minutes=1),
            "expires_at": now + timedelta(hours=1),
        }
        fields.update(overrides)
        return self.issuer.issue(**fields)


class Raw:
    """A protocol client that sends and reads raw JSON (to test the server's every answer)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        import asyncio

        async with asyncio.timeout(timeout):
            data: dict[str, Any] = json.loads(await self.ws.recv())
        return data

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next message of type ``kind``, skipping roster updates unless asked for."""
        while True:
            message = await self.recv()
            if message["type"] == kind:
                return message
            assert message["type"] == "roster", message

    async def join(self, token: str, **extra: Any) -> dict[str, Any]:
        await self.send({"type": "join", "v": 1, "token": token, **extra})
        return await self.expect("welcome")

    async def closed_with(self, timeout: float = 5.0) -> int | None:
        import asyncio

        async with asyncio.timeout(timeout):
            await self.ws.wait_closed()
        return self.ws.close_code


@pytest.fixture
def signaling_factory() -> Callable[..., AbstractAsyncContextManager[Signaling]]:
    @asynccontextmanager
    async def start(**options: Any) -> AsyncIterator[Signaling]:
        issuer = TokenIssuer.generate("k1")
        audit = AuditLog()
        config = SignalingConfig(verifier=TokenVerifier(issuer.public_keys()), audit=audit, **options)
        app = create_app(config)
        try:
            async with LocalServer(app) as server:
                yield Signaling(server, issuer, audit, config, app.state.hub)
        finally:
            if app.state.hub.sfu is not None:  # LocalServer runs no lifespan: close Janus here
                await app.state.hub.sfu.aclose()

    return start


@pytest.fixture
async def signaling(
    signaling_factory: Callable[..., AbstractAsyncContextManager[Signaling]],
) -> AsyncIterator[Signaling]:
    async with signaling_factory() as running:
        yield running


@pytest.fixture
def raw_client() -> Callable[..., AbstractAsyncContextManager[Raw]]:
    @asynccontextmanager
    async def open_client(url: str, **options: Any) -> AsyncIterator[Raw]:
        async with connect(url, ping_interval=None, **options) as ws:
            yield Raw(ws)

    return open_client


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[Any]:
    """A page in a fresh headless Chromium profile."""
    chromium = require_system("chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": 1280, "height": 800},
            locale="en-US",  # the console follows the browser's language: English unless a test asks
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            yield page
        finally:
            await context.close()


# -- the Janus SFU (multi-party visits, issue 14) -------------------------------------


@pytest.fixture
async def janus() -> AsyncIterator[Any]:
    """Debian's Janus on loopback with a generated config (token auth, VideoRoom, HTTP), stopped after."""
    binary = require_system("janus")
    from telemedroom.testing import LocalJanus

    async with LocalJanus(binary) as running:
        yield running


@pytest.fixture
def sfu_config(janus: Any) -> Any:
    """The signaling server's ``SfuConfig`` for the ``janus`` fixture."""
    from telemedroom.session.sfu import SfuConfig

    return SfuConfig(
        url=janus.url,
        admin_url=janus.admin_url,
        admin_secret=janus.admin_secret,
        room_admin_key=janus.room_admin_key,
    )
