"""The room's reporter to the clinic hub: signed heartbeats, queued while the hub is away.

The reporter follows the room's events (:meth:`Room.events`) and makes a heartbeat
(:class:`~telemedroom.session.heartbeat.Heartbeat`) on every change and every
``interval_s``; each is signed when made, so a heartbeat says what was true then. They
wait in a bounded queue and go to ``POST {hub}/api/rooms/{room}/heartbeats`` in order,
up to 100 a request. While the hub cannot be reached the room goes on working and the
queue keeps the history (the oldest dropped past ``queue_max``, counted); when the hub
is back the room catches up. A batch the hub refuses (4xx) is dropped and logged: the
same bytes would be refused again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from telemedroom._backoff import backoff_delay
from telemedroom._room._config import HubLinkSettings
from telemedroom._room._events import RoomState
from telemedroom._version import __version__
from telemedroom.errors import RoomConfigError
from telemedroom.session.heartbeat import DeviceStatus, Heartbeat, HeartbeatSigner

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from telemedroom._room._config import RoomConfig
    from telemedroom._room._events import RoomEvent
    from telemedroom.fhir.outbox import Outbox

__all__ = ["HeartbeatReporter", "ReportingRoom"]


class ReportingRoom(Protocol):
    """What the reporter uses of a :class:`~telemedroom.room.Room` (a protocol: no import cycle)."""

    config: RoomConfig
    outbox: Outbox | None

    @property
    def state(self) -> RoomState: ...

    def events(self) -> AsyncIterator[RoomEvent]: ...


logger = logging.getLogger("telemedroom.room.heartbeat")

_BATCH: Final = 100


def load_room_key(settings: HubLinkSettings) -> Ed25519PrivateKey:
    """The room's heartbeat key from ``[hub] key_file``.

    Raises:
        RoomConfigError: The file is missing or holds no unencrypted Ed25519 private key.
    """
    try:
        key = load_pem_private_key(settings.key_file.read_bytes(), password=None)
    except OSError as exc:
        raise RoomConfigError("hub.key_file", str(settings.key_file), f"cannot read: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise RoomConfigError(
            "hub.key_file", str(settings.key_file), "not an unencrypted PEM private key"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise RoomConfigError("hub.key_file", str(settings.key_file), "not an Ed25519 key")
    return key


class HeartbeatReporter:
    """Reports one room to the hub (``async with``); started by the room when ``[hub]`` is set.

    Attributes:
        delivered: Heartbeats the hub took.
        refused: Heartbeats the hub refused.
        dropped: Heartbeats dropped from a full queue while the hub was away.
    """

    def __init__(
        self, room: ReportingRoom, settings: HubLinkSettings, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self._room = room
        self._settings = settings
        self._signer = HeartbeatSigner(room.config.room_id, load_room_key(settings))
        self._url = f"{settings.url.rstrip('/')}/api/rooms/{room.config.room_id}/heartbeats"
        self._given_http = http
        self._http: httpx.AsyncClient | None = None
        self._boot = secrets.token_hex(8)
        self._sequence = 0
        self._queue: deque[str] = deque()
        self._changed = asyncio.Event()
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        # what the next heartbeat says
        self._state = room.state.value
        self._visit_id: str | None = None
        self._appointment_id: str | None = None
        self._readings: list[str] = []
        self._waiting_since: datetime | None = None
        self._devices: dict[str, DeviceStatus] = {}
        self._last_visit_at: datetime | None = None
        self._cleaning_until: datetime | None = None
        self.delivered = 0
        self.refused = 0
        self.dropped = 0

    @classmethod
    def for_room(cls, room: ReportingRoom) -> HeartbeatReporter:
        """The reporter of ``room`` as its ``[hub]`` settings say."""
        settings = room.config.hub
        if settings is None:
            raise RoomConfigError("hub", "configuration", "the room has no [hub] table")
        return cls(room, settings)

    async def __aenter__(self) -> Self:
        if self._given_http is None:
            verify: ssl.SSLContext | bool = True
            if self._settings.ca_file is not None:
                verify = ssl.create_default_context(cafile=str(self._settings.ca_file))
            self._http = httpx.AsyncClient(verify=verify, timeout=10)
        else:
            self._http = self._given_http
        await self._make()
        events = self._room.events()
        self._tasks = [
            asyncio.create_task(self._follow(events), name="heartbeat-events"),
            asyncio.create_task(self._send(), name="heartbeat-send"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reporting (what is still queued is not sent)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._given_http is None and self._http is not None:
            await self._http.aclose()
        self._http = None

    @property
    def queued(self) -> int:
        """Heartbeats waiting for the hub."""
        return len(self._queue)

    async def wait_delivered(self, count: int) -> None:
        """Return once ``delivered`` has reached ``count`` (a test's or a monitor's wait)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.delivered >= count)

    # -- what the room is doing --------------------------------------------------------------

    async def _follow(self, events: Any) -> None:
        async for event in events:
            now = datetime.now(UTC)
            if event.type == "state":
                self._state = event.state.value
                self._visit_id = event.visit_id
                if event.state is RoomState.IDLE:
                    self._appointment_id, self._readings, self._waiting_since = None, [], None
                if event.state is not RoomState.CLEANING:
                    self._cleaning_until = None
            elif event.type == "checked_in":
                self._visit_id, self._appointment_id, self._readings = (
                    event.visit_id,
                    event.appointment_id,
                    [],
                )
            elif event.type == "reading" and not event.live:
                self._readings = [*self._readings, event.summary][-50:]
                self._devices[event.device] = DeviceStatus(kind=event.device, seen_at=now)
            elif event.type == "waiting":
                self._waiting_since = self._waiting_since or now
            elif event.type == "wrapped_up":
                self._last_visit_at = now
            elif event.type == "cleaning":
                self._cleaning_until = event.until
            else:
                continue
            await self._make()

    async def _make(self) -> None:
        outbox = self._room.outbox
        backlog = refused = 0
        if outbox is not None:
            backlog = await outbox.pending()
            refused = len(await outbox.held_back())
        beat = Heartbeat(
            room=self._signer.room,
            boot=self._boot,
            sequence=self._sequence,
            sent_at=datetime.now(UTC),
            version=__version__,
            state=self._state,
            visit_id=self._visit_id,
            appointment_id=self._appointment_id,
            readings=self._readings,
            waiting_since=self._waiting_since if self._state == "waiting" else None,
            devices=list(self._devices.values()),
            outbox_backlog=backlog,
            outbox_refused=refused,
            last_visit_at=self._last_visit_at,
            cleaning_until=self._cleaning_until,
        )
        self._sequence += 1
        if len(self._queue) >= self._settings.queue_max:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(self._signer.sign(beat))
        self._changed.set()

    # -- to the hub ----------------------------------------------------------------------------

    async def _send(self) -> None:
        attempt = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.interval_s):
                    await self._changed.wait()
            self._changed.clear()
            if not self._queue:
                await self._make()  # the periodic heartbeat
            while self._queue:
                batch = list(self._queue)[:_BATCH]
                outcome = await self._post(batch)
                if outcome == "retry":
                    attempt += 1
                    # wait, but let a new heartbeat (or the room closing) cut the wait short
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
                async with self._progress:
                    if outcome == "ok":
                        self.delivered += len(batch)
                    else:
                        self.refused += len(batch)
                    self._progress.notify_all()

    async def _post(self, batch: list[str]) -> str:
        assert self._http is not None
        try:
            response = await self._http.post(self._url, json={"heartbeats": batch})
        except httpx.HTTPError as exc:
            logger.info("hub not reachable (%s); %d heartbeats queued", type(exc).__name__, len(self._queue))
            return "retry"
        if response.status_code == 200:
            return "ok"
        if 400 <= response.status_code < 500:
            logger.error(
                "the hub refused %d heartbeats: %s %s", len(batch), response.status_code, response.text[:200]
            )
            return "refused"
        logger.info("the hub answered %d; %d heartbeats queued", response.status_code, len(self._queue))
        return "retry"
