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

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import httpx

from telemedroom._version import __version__
from telemedroom.errors import ApartmentConfigError, TelemedroomError
from telemedroom.session._heartbeat_link import HeartbeatLink
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
    """The state the hub shows: ``storage_full``, ``ringing``, ``calling``, ``in_call`` or ``watching``.

    ``calling``: the patient called the ward and waits to be admitted (earlier versions
    reported ``in_call`` for it). The heartbeat's ``waiting_since`` says since when, also
    while ``storage_full`` hides the call in the state: that is what puts the apartment
    on the physicians' worklist.
    """
    if apartment.storage_full:
        return "storage_full"
    call = apartment.call_state.state
    if call in ("ringing", "calling", "in_call"):
        return call
    return "watching"


class HubLink(HeartbeatLink):
    """Reports one apartment to the hub and brings the ward's messages back (``async with``).

    How heartbeats travel (queue, batches, retries) is :class:`HeartbeatLink`'s; this
    class says what the apartment is doing and applies the ward's messages of each answer.

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
        super().__init__(
            settings, HeartbeatSigner(apartment.config.apartment_id, load_key(settings)), http=http
        )
        self._apartment = apartment
        self._cursor = 0
        self.applied = 0

    @property
    def cursor(self) -> int:
        """The number of the last ward message applied."""
        return self._cursor

    async def wait(self, *, delivered: int = 0, applied: int = 0) -> None:
        """Return once ``delivered`` and ``applied`` have reached these counts (a test's wait)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.delivered >= delivered and self.applied >= applied)

    # -- what the apartment is doing -----------------------------------------------------------

    async def _opening(self) -> None:
        self._cursor = int(await self._apartment.journal.get(WARD_CURSOR) or 0)

    def _changes(self) -> AsyncIterator[ApartmentEvent]:
        return self._apartment.events()

    async def _heartbeat(self) -> Heartbeat:
        apartment = self._apartment
        # one moment's state and call, read before any await: the call may change meanwhile,
        # and a report saying "watching" with a caller's waiting_since would be both and neither
        state, call = apartment_state(apartment), apartment.call_state
        backlog, refused = await apartment.outbox.pending(), len(await apartment.outbox.held_back())
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
        return Heartbeat(
            room=self._signer.room,
            boot=self._boot,
            sequence=self._sequence,
            sent_at=datetime.now(UTC),  # the hub checks it against its own clock
            version=__version__,
            state=state,
            kind="apartment",
            devices=devices[:32],
            outbox_backlog=backlog,
            outbox_refused=refused,
            alerts=alerts,
            ward_cursor=self._cursor,
            # the patient waits for the ward: the hub's worklist ranks it with a room's waiting patient
            waiting_since=call.at if call.state == "calling" else None,
        )

    # -- the ward's messages back ----------------------------------------------------------------

    async def _answered(self, answer: dict[str, Any]) -> bool:
        applied = await self._apply(answer.get("ward", []))
        self.applied += applied  # the base notifies the waiters next
        return applied > 0  # tell the hub the new cursor now, not in interval_s

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
