"""The way to the clinic hub that rooms and apartments share: queue, sign, deliver, retry.

A room (``_room/_heartbeat.py``) and a health apartment (``apartment/_hub.py``) each
report to the hub with signed heartbeats (:mod:`telemedroom.session.heartbeat`). What
they say differs; how it travels does not: a heartbeat on every change and every
``interval_s``, queued (at most ``queue_max``, the oldest dropped) while the hub is away,
posted in batches, retried with backoff on a network error or a 5xx, dropped and logged
when the hub refuses it (4xx). :class:`HeartbeatLink` is that part; a subclass says what
to follow and what a heartbeat holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, Literal, Protocol, Self

import httpx

from telemedroom._aio import stop_tasks
from telemedroom._backoff import backoff_delay
from telemedroom.session.heartbeat import Heartbeat, HeartbeatSigner

__all__ = ["HeartbeatLink", "LinkSettings"]

logger = logging.getLogger("telemedroom.hub.link")

_BATCH: Final = 100
Outcome = Literal["ok", "refused", "retry"]


class LinkSettings(Protocol):
    """The ``[hub]`` table of a room or an apartment, as the link reads it."""

    @property
    def url(self) -> str: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def interval_s(self) -> float: ...
    @property
    def queue_max(self) -> int: ...


class HeartbeatLink:
    """Delivers one sender's signed heartbeats to the hub (``async with``).

    Subclasses give :meth:`_heartbeat` (what one heartbeat says now) and
    :meth:`_changes` (the events after which it changed); :meth:`_answered` sees the
    hub's answer to each delivered batch.

    Attributes:
        delivered: Heartbeats the hub took.
        refused: Heartbeats the hub refused.
        dropped: Heartbeats dropped from a full queue while the hub was away.
    """

    def __init__(
        self, settings: LinkSettings, signer: HeartbeatSigner, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._url = f"{settings.url.rstrip('/')}/api/rooms/{signer.room}/heartbeats"
        self._given_http = http
        self._http: httpx.AsyncClient | None = None
        self._boot = secrets.token_hex(8)
        self._sequence = 0
        self._queue: deque[str] = deque()
        self._changed = asyncio.Event()
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.refused = 0
        self.dropped = 0

    # -- what a subclass says ----------------------------------------------------------------

    async def _heartbeat(self) -> Heartbeat:
        """The heartbeat to send now (with ``self._boot`` and ``self._sequence``)."""
        raise NotImplementedError

    def _changes(self) -> AsyncIterator[Any]:
        """The events after which the sender's state may have changed."""
        raise NotImplementedError

    async def _noticed(self, event: Any) -> bool:
        """Take in one event of :meth:`_changes`; whether a new heartbeat is due."""
        return True

    async def _opening(self) -> None:
        """Called once before the first heartbeat (e.g. to read a cursor)."""

    async def _answered(self, answer: dict[str, Any]) -> bool:
        """The hub's answer to a delivered batch; whether a new heartbeat is due at once."""
        return False

    # -- lifetime ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._given_http is None:
            verify: ssl.SSLContext | bool = True
            if self._settings.ca_file is not None:
                verify = ssl.create_default_context(cafile=str(self._settings.ca_file))
            self._http = httpx.AsyncClient(verify=verify, timeout=10)
        else:
            self._http = self._given_http
        await self._opening()
        await self._make()
        changes = self._changes()
        self._tasks = [
            asyncio.create_task(self._follow(changes), name=f"heartbeat-events-{self._signer.room}"),
            asyncio.create_task(self._send(), name=f"heartbeat-send-{self._signer.room}"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reporting (what is still queued is not sent)."""
        await stop_tasks(self._tasks)
        self._tasks = []
        if self._given_http is None and self._http is not None:
            await self._http.aclose()
        self._http = None

    @property
    def queued(self) -> int:
        """Heartbeats waiting for the hub."""
        return len(self._queue)

    # -- queue and delivery --------------------------------------------------------------------

    async def _follow(self, changes: AsyncIterator[Any]) -> None:
        async for event in changes:
            if await self._noticed(event):
                await self._make()

    async def _make(self) -> None:
        beat = await self._heartbeat()
        self._sequence += 1
        if len(self._queue) >= self._settings.queue_max:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(self._signer.sign(beat))
        self._changed.set()

    async def _send(self) -> None:
        attempt = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.interval_s):
                    await self._changed.wait()
            self._changed.clear()
            if not self._queue:
                await self._make()  # the periodic heartbeat: the hub sees the sender is there
            while self._queue:
                batch = list(self._queue)[:_BATCH]
                outcome, answer = await self._post(batch)
                if outcome == "retry":
                    attempt += 1
                    # wait, but let a new heartbeat (or the sender closing) cut the wait short
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(
                            backoff_delay(attempt, base=0.5, cap=self._settings.interval_s)
                        ):
                            await self._changed.wait()
                    self._changed.clear()
                    continue
                attempt = 0
                for _ in batch:
                    self._queue.popleft()
                again = await self._answered(answer) if outcome == "ok" else False
                async with self._progress:
                    if outcome == "ok":
                        self.delivered += len(batch)
                    else:
                        self.refused += len(batch)
                    self._progress.notify_all()
                if again:
                    await self._make()

    async def _post(self, batch: list[str]) -> tuple[Outcome, dict[str, Any]]:
        assert self._http is not None
        try:
            response = await self._http.post(self._url, json={"heartbeats": batch})
        except httpx.HTTPError as exc:
            logger.info("hub not reachable (%s); %d heartbeats queued", type(exc).__name__, len(self._queue))
            return "retry", {}
        if response.status_code == 200:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            return "ok", answer if isinstance(answer, dict) else {}
        if 400 <= response.status_code < 500:
            logger.error(
                "the hub refused %d heartbeats: %s %s", len(batch), response.status_code, response.text[:200]
            )
            return "refused", {}
        logger.info("the hub answered %d; %d heartbeats queued", response.status_code, len(self._queue))
        return "retry", {}
