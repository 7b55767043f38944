"""The apartment's link to the clinic hub: signed heartbeats out, the ward's messages back.

Like a room's reporter, the link makes a heartbeat
(:class:`~telemedroom.session.heartbeat.Heartbeat`, ``kind`` ``"apartment"``) on every
change of the apartment and every ``interval_s``, signs it with the apartment's own
Ed25519 key when it is made, and sends the queue to
``POST {hub}/api/rooms/{apartment}/heartbeats`` in order. While the hub cannot be
reached the apartment goes on working (readings, care plan, alerts to the ward's
webhook) and the queue keeps the history (the oldest dropped past ``queue_max``); when
the hub is back the apartment catches up.

The hub's answer carries the ward's messages after the apartment's ``ward_cursor``:
alerts a physician acknowledged and notes for the patient. The link applies them
(:meth:`Apartment.acknowledge`, :meth:`Apartment.add_note`), so they appear on the
patient's screen, keeps the cursor in the journal, and the next heartbeat tells the hub
how far it got; a message that arrives twice is applied once.

Why the hub's answer and not the ward line or the webhook: the heartbeat is already an
outbound, authenticated, retried HTTPS request from the apartment (no port open at
home, works behind any router), the hub is where staff log in (OIDC, audit), and the
hub keeps a message in PostgreSQL until the apartment confirms it, through days
offline. The ward line's signaling connection is there only while the apartment waits
in standby and carries no state across reconnects; the webhook's reply comes once,
when an alert is raised, and cannot carry a note written later.
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

from telemedroom._backoff import backoff_delay
from telemedroom._version import __version__
from telemedroom.errors import ApartmentConfigError, TelemedroomError
from telemedroom.session.heartbeat import AlertStatus, DeviceStatus, Heartbeat, HeartbeatSigner

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from telemedroom.apartment._clock import Clock
    from telemedroom.apartment._config import ApartmentConfig, HubLinkSettings
    from telemedroom.apartment._events import ApartmentEvent, CallChanged, NoteAdded
    from telemedroom.apartment._journal import Journal
    from telemedroom.fhir import Outbox
    from telemedroom.monitoring import Alert

__all__ = ["HubLink", "ReportingApartment"]

logger = logging.getLogger("telemedroom.apartment.hub")

_BATCH: Final = 100
WARD_CURSOR: Final = "ward_cursor"


class ReportingApartment(Protocol):
    """What the hub link uses of the apartment (a protocol: no import cycle)."""

    config: ApartmentConfig
    clock: Clock
    journal: Journal
    call_state: CallChanged

    @property
    def outbox(self) -> Outbox: ...

    @property
    def storage_full(self) -> bool: ...

    def open_alerts(self) -> list[Alert]: ...

    def events(self) -> AsyncIterator[ApartmentEvent]: ...

    async def acknowledge(self, alert_id: str, by: str) -> Alert: ...

    async def add_note(self, text: str, by: str) -> NoteAdded: ...


def load_key(settings: HubLinkSettings) -> Any:
    """The apartment's heartbeat key from ``[hub] key_file``.

    Raises:
        ApartmentConfigError: Missing, unreadable, or not an Ed25519 private key.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from telemedroom.apartment._sinks import load_private_key

    key = load_private_key(settings.key_file, "hub.key_file")
    if not isinstance(key, Ed25519PrivateKey):
        raise ApartmentConfigError("hub.key_file", str(settings.key_file), "not an Ed25519 key")
    return key


def apartment_state(apartment: ReportingApartment) -> str:
    """The state the hub shows: ``storage_full``, ``ringing``, ``in_call`` or ``watching``."""
    if apartment.storage_full:
        return "storage_full"
    call = apartment.call_state.state
    if call == "ringing":
        return "ringing"
    if call in ("calling", "in_call"):
        return "in_call"
    return "watching"


class HubLink:
    """Reports one apartment to the hub and brings the ward's messages back (``async with``).

    Attributes:
        delivered: Heartbeats the hub took.
        refused: Heartbeats the hub refused.
        dropped: Heartbeats dropped from a full queue while the hub was away.
        applied: The ward's messages shown on the screen.
    """

    def __init__(
        self,
        apartment: ReportingApartment,
        settings: HubLinkSettings,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._apartment = apartment
        self._settings = settings
        self._signer = HeartbeatSigner(apartment.config.apartment_id, load_key(settings))
        self._url = f"{settings.url.rstrip('/')}/api/rooms/{apartment.config.apartment_id}/heartbeats"
        self._given_http = http
        self._http: httpx.AsyncClient | None = None
        self._boot = secrets.token_hex(8)
        self._sequence = 0
        self._cursor = 0
        self._queue: deque[str] = deque()
        self._changed = asyncio.Event()
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.refused = 0
        self.dropped = 0
        self.applied = 0

    async def __aenter__(self) -> Self:
        if self._given_http is None:
            verify: ssl.SSLContext | bool = True
            if self._settings.ca_file is not None:
                verify = ssl.create_default_context(cafile=str(self._settings.ca_file))
            self._http = httpx.AsyncClient(verify=verify, timeout=10)
        else:
            self._http = self._given_http
        self._cursor = int(await self._apartment.journal.get(WARD_CURSOR) or 0)
        await self._make()
        events = self._apartment.events()
        self._tasks = [
            asyncio.create_task(self._follow(events), name="apartment-hub-events"),
            asyncio.create_task(self._send(), name="apartment-hub-send"),
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

    @property
    def cursor(self) -> int:
        """The number of the last ward message applied."""
        return self._cursor

    async def wait(self, *, delivered: int = 0, applied: int = 0) -> None:
        """Return once ``delivered`` and ``applied`` have reached these counts (a test's wait)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.delivered >= delivered and self.applied >= applied)

    # -- what the apartment is doing -----------------------------------------------------------

    async def _follow(self, events: AsyncIterator[ApartmentEvent]) -> None:
        async for _event in events:
            await self._make()

    async def _make(self) -> None:
        apartment = self._apartment
        devices = []
        for paired in apartment.config.devices:
            known = await apartment.journal.device(paired.address)
            devices.append(
                DeviceStatus(
                    kind=paired.kind, name=paired.name, battery=known.battery, seen_at=known.last_seen
                )
            )
        alerts = [
            AlertStatus(
                id=alert.id,
                rule=alert.rule_id[:64],
                severity=alert.severity,
                raised_at=alert.raised_at,
                acknowledged=alert.acknowledged,
            )
            for alert in apartment.open_alerts()
        ][-50:]
        beat = Heartbeat(
            room=self._signer.room,
            boot=self._boot,
            sequence=self._sequence,
            sent_at=datetime.now(UTC),  # the hub checks it against its own clock
            version=__version__,
            state=apartment_state(apartment),
            kind="apartment",
            devices=devices[:32],
            outbox_backlog=await apartment.outbox.pending(),
            outbox_refused=len(await apartment.outbox.held_back()),
            alerts=alerts,
            ward_cursor=self._cursor,
        )
        self._sequence += 1
        if len(self._queue) >= self._settings.queue_max:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(self._signer.sign(beat))
        self._changed.set()

    # -- to the hub and back -------------------------------------------------------------------

    async def _send(self) -> None:
        attempt = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.interval_s):
                    await self._changed.wait()
            self._changed.clear()
            if not self._queue:
                await self._make()  # the periodic heartbeat: the hub sees the apartment is there
            while self._queue:
                batch = list(self._queue)[:_BATCH]
                outcome, answer = await self._post(batch)
                if outcome == "retry":
                    attempt += 1
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
                applied = await self._apply(answer.get("ward", []))
                async with self._progress:
                    if outcome == "ok":
                        self.delivered += len(batch)
                    else:
                        self.refused += len(batch)
                    self.applied += applied
                    self._progress.notify_all()
                if applied:
                    await self._make()  # tell the hub the new cursor now, not in interval_s

    async def _post(self, batch: list[str]) -> tuple[str, dict[str, Any]]:
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

    async def _apply(self, messages: Any) -> int:
        """Show the ward's messages after the cursor, in order; each at most once."""
        applied = 0
        for message in messages if isinstance(messages, list) else []:
            try:
                seq, kind, by = int(message["seq"]), str(message["kind"]), str(message.get("by") or "ward")
            except (KeyError, TypeError, ValueError):
                logger.warning("the hub sent a ward message that does not parse; skipped")
                continue
            if seq <= self._cursor:
                continue  # an answer to a heartbeat made before the cursor moved
            try:
                if kind == "acknowledged":
                    await self._apartment.acknowledge(str(message["alert"]), by)
                elif kind == "note":
                    await self._apartment.add_note(str(message.get("text", "")), by)
                else:
                    logger.warning("unknown ward message kind %r; skipped", kind)
            except (TelemedroomError, ValueError, KeyError) as exc:
                # an alert cleared meanwhile, or one acknowledged twice: nothing to show
                logger.info("ward message %d not applied: %s", seq, exc)
            self._cursor = seq
            await self._apartment.journal.set(WARD_CURSOR, str(seq))
            applied += 1
        return applied
