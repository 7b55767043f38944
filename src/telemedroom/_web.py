"""What the patients' pages share (the room's kiosk, the apartment's screen).

Loopback, origin, headers, and the WebSocket that streams a page's events.

Needs the ``server`` extra (Starlette).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from telemedroom._aio import stop_tasks

__all__ = [
    "MAX_BODY",
    "LoopbackOnly",
    "is_loopback",
    "json_body",
    "same_origin",
    "stream_events",
    "with_headers",
]

_REFUSAL: Final = "this page serves only this machine"
MAX_BODY: Final = 64 * 1024  # an SDP offer of two video m-lines is ~5 kB

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine (IPv4-mapped IPv6 included).

    Examples:
        >>> is_loopback("127.0.0.1"), is_loopback("::ffff:127.0.0.1"), is_loopback("10.0.0.2")
        (True, True, False)
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def same_origin(connection: HTTPConnection) -> bool:
    """No ``Origin`` (not a browser) or the page's own origin (RFC 6454 §7)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == connection.headers.get("host")


async def json_body(request: Request) -> dict[str, Any] | None:
    """The request's JSON object, or ``None`` when it is not one (or not same-origin JSON)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class LoopbackOnly:
    """ASGI middleware: refuse clients that are not on this machine (unless ``allow_remote``)."""

    def __init__(self, app: Any, allow_remote: bool, refusal: str = _REFUSAL) -> None:
        self.app = app
        self.allow_remote = allow_remote
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        local = self.allow_remote or client is None or is_loopback(client[0])
        if local or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await PlainTextResponse(self.refusal, status_code=403)(scope, receive, send)
        else:
            await WebSocket(scope, receive, send).close(1008)


def with_headers(app: Any, headers: dict[str, str]) -> Any:
    """Wrap an ASGI app so every HTTP response carries ``headers``."""
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *raw]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


async def stream_events(websocket: WebSocket, events: Callable[[], AsyncIterator[Any]]) -> None:
    """Send each event of ``events()`` to a page as JSON until the page or the stream goes away.

    Refuses another origin (1008). The page sends only pings; reading them is how a
    closed page is noticed. When the stream ends first (the room or apartment is going
    away), the socket closes with 1001 (RFC 6455 §7.4.1); the stream is closed either way.
    """
    if not same_origin(websocket):
        await websocket.close(1008)
        return
    await websocket.accept()
    stream = events()
    pump = asyncio.create_task(_pump(websocket, stream))
    drain = asyncio.create_task(_drain(websocket))
    try:
        done, _pending = await asyncio.wait({pump, drain}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await stop_tasks((pump, drain))
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
    if pump in done and drain not in done:
        with contextlib.suppress(RuntimeError):
            await websocket.close(1001)


async def _pump(websocket: WebSocket, stream: AsyncIterator[Any]) -> None:
    async for event in stream:
        await websocket.send_text(event.model_dump_json())


async def _drain(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
