"""The client side of the signaling protocol, over the ``websockets`` library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from ssl import SSLContext
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from telemedroom._aio import stop_tasks
from telemedroom.errors import SignalingError, TokenError, TokenRefusal
from telemedroom.session import protocol as p

logger = logging.getLogger("telemedroom.session.peer")

Handler = Callable[[p.ServerMessage], Awaitable[None]]


# Close codes after which resuming makes no sense (see signaling.CLOSE_CODES).
_FINAL_CLOSE_CODES = frozenset({1000, 4401, 4403, 4410})
# Pauses between resume attempts, seconds; the server keeps a dropped place for 30 s.
_RESUME_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0)


class SignalingClient:
    """One participant's WebSocket: join, then hand every server message to ``handler``.

    When the connection drops without a final close code, it joins again with the
    resume key from the welcome (same participant id, same admission), retrying with
    backoff for about half a minute. Given several URLs (the replicas of a hub that keeps
    its visits in PostgreSQL), each failed attempt moves on to the next one.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str,
        handler: Handler,
        *,
        origin: str | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        self.url = self.urls[0]
        self._ssl = ssl
        self._token = token
        self._handler = handler
        self._origin = origin
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.welcome: p.Welcome | None = None
        self.closed = asyncio.Event()
        self.resumes = 0
        self.resumed = asyncio.Event()

    async def connect(self, *, timeout: float = 10.0) -> p.Welcome:
        """Open the WebSocket, join, and return the server's welcome.

        Raises:
            TokenError: The server refused the token.
            SignalingError: The server cannot be reached or answered something else.
        """
        for attempt, url in enumerate(self.urls):
            self.url = url
            try:
                self.welcome = await self._join(None, timeout)
                break
            except SignalingError:
                if attempt == len(self.urls) - 1:
                    raise
        assert self.welcome is not None
        self._tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._beat(self.welcome.heartbeat)),
        ]
        return self.welcome

    async def _join(self, resume: str | None, timeout: float) -> p.Welcome:
        try:
            async with asyncio.timeout(timeout):
                # no ssl argument at all unless given: websockets refuses ssl=None for wss://
                tls: dict[str, Any] = {} if self._ssl is None else {"ssl": self._ssl}
                self._ws = await connect(
                    self.url,
                    origin=self._origin,  # type: ignore[arg-type]
                    max_size=p.MAX_MESSAGE_BYTES,
                    ping_interval=None,  # the protocol's own heartbeat runs instead
                    **tls,
                )
                # by hand: the model keeps the token a SecretStr, which dumps as "**********"
                join: dict[str, object] = {"type": "join", "v": p.PROTOCOL_VERSION, "token": self._token}
                if resume is not None:
                    join["resume"] = resume
                await self._ws.send(json.dumps(join))
                first = p.SERVER_MESSAGES.validate_json(await self._ws.recv())
        except (
            OSError,
            InvalidHandshake,
            InvalidURI,
            ConnectionClosed,
            TimeoutError,
            ValidationError,
        ) as exc:
            await self._close_socket()
            raise SignalingError("connect", f"cannot join at {self.url}: {exc!r}") from exc
        if isinstance(first, p.Error):
            await self._close_socket()
            reasons = {reason.value: reason for reason in TokenRefusal}
            if first.code == "token" and first.reason in reasons:
                raise TokenError(reasons[first.reason], first.message)
            raise SignalingError(first.code, first.message)
        if not isinstance(first, p.Welcome):
            await self._close_socket()
            raise SignalingError("out_of_order", f"expected a welcome, got {first.type}")
        return first

    async def send(self, message: Any) -> None:
        """Send one protocol message; quietly nothing while the connection is gone."""
        if self._ws is None or self.closed.is_set():
            return
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(message.model_dump_json(by_alias=True))

    async def _read(self) -> None:
        try:
            while True:
                ws = self._ws
                assert ws is not None
                try:
                    async for raw in ws:
                        try:
                            message = p.SERVER_MESSAGES.validate_json(raw)
                        except ValidationError:
                            logger.warning("ignored a server message that does not parse")
                            continue
                        await self._handler(message)
                except ConnectionClosed:
                    pass
                if self._closing or ws.close_code in _FINAL_CLOSE_CODES or not await self._resume():
                    return
        finally:
            self.closed.set()

    async def _resume(self) -> bool:
        """Join again with the resume key; ``False`` if the place is gone."""
        assert self.welcome is not None
        logger.info("signaling connection lost; resuming as %s", self.welcome.participant)
        for delay in _RESUME_DELAYS:
            await asyncio.sleep(delay)  # backoff between attempts, not a wait for a condition
            if self._closing:
                return False
            try:
                self.welcome = await self._join(self.welcome.resume, timeout=10.0)
            except TokenError as exc:
                if exc.reason is not TokenRefusal.ALREADY_CONNECTED:
                    return False  # expired, or the visit ended meanwhile
                continue  # the server has not noticed the drop yet
            except SignalingError:
                self._next_url()
                continue
            self.resumes += 1
            self.resumed.set()
            logger.info("resumed as %s", self.welcome.participant)
            return True
        return False

    def _next_url(self) -> None:
        self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]

    async def _beat(self, interval: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval)  # the heartbeat's own period, not a wait for a condition
            await self.send(p.Ping())

    async def _close_socket(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def aclose(self, *, leave: bool = True) -> None:
        """Leave (unless the visit is over) and close; safe to call twice."""
        self._closing = True
        if leave:
            await self.send(p.Leave())
        await self._close_socket()
        await stop_tasks(self._tasks)
        self._tasks = []
        self.closed.set()
