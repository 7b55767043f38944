"""The client side of the signaling protocol, over the ``websockets`` library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from telemedroom.errors import SignalingError, TokenError, TokenRefusal
from telemedroom.session import protocol as p

logger = logging.getLogger("telemedroom.session.peer")

Handler = Callable[[p.ServerMessage], Awaitable[None]]


class SignalingClient:
    """One participant's WebSocket: join, then hand every server message to ``handler``."""

    def __init__(self, url: str, token: str, handler: Handler, *, origin: str | None = None) -> None:
        self.url = url
        self._token = token
        self._handler = handler
        self._origin = origin
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.welcome: p.Welcome | None = None
        self.closed = asyncio.Event()

    async def connect(self, *, timeout: float = 10.0) -> p.Welcome:
        """Open the WebSocket, join, and return the server's welcome.

        Raises:
            TokenError: The server refused the token.
            SignalingError: The server cannot be reached or answered something else.
        """
        try:
            async with asyncio.timeout(timeout):
                self._ws = await connect(
                    self.url,
                    origin=self._origin,  # type: ignore[arg-type]
                    max_size=p.MAX_MESSAGE_BYTES,
                    ping_interval=None,  # the protocol's own heartbeat runs instead
                )
                # by hand: the model keeps the token a SecretStr, which dumps as "**********"
                join = {"type": "join", "v": p.PROTOCOL_VERSION, "token": self._token}
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
        self.welcome = first
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat(first.heartbeat))]
        return first

    async def send(self, message: Any) -> None:
        """Send one protocol message; quietly nothing once the connection is gone."""
        if self._ws is None or self.closed.is_set():
            return
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(message.model_dump_json(by_alias=True))

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                try:
                    message = p.SERVER_MESSAGES.validate_json(raw)
                except ValidationError:
                    logger.warning("ignored a server message that does not parse")
                    continue
                await self._handler(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def _beat(self, interval: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval)  # the heartbeat's own period, not a wait for a condition
            await self.send(p.Ping())

    async def _close_socket(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def aclose(self, *, leave: bool = True) -> None:
        """Leave (unless the visit is over) and close; safe to call twice."""
        if leave:
            await self.send(p.Leave())
        await self._close_socket()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.closed.set()
