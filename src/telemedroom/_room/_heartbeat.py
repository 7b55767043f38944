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

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from telemedroom._room._config import HubLinkSettings
from telemedroom._room._events import RoomState
from telemedroom._version import __version__
from telemedroom.errors import RoomConfigError
from telemedroom.session._heartbeat_link import HeartbeatLink
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


class HeartbeatReporter(HeartbeatLink):
    """Reports one room to the hub (``async with``); started by the room when ``[hub]`` is set.

    How heartbeats travel (queue, batches, retries) is :class:`HeartbeatLink`'s; this
    class follows the room's events and says what the room is doing.

    Attributes:
        delivered: Heartbeats the hub took.
        refused: Heartbeats the hub refused.
        dropped: Heartbeats dropped from a full queue while the hub was away.
    """

    def __init__(
        self, room: ReportingRoom, settings: HubLinkSettings, *, http: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(settings, HeartbeatSigner(room.config.room_id, load_room_key(settings)), http=http)
        self._room = room
        # what the next heartbeat says
        self._state = room.state.value
        self._visit_id: str | None = None
        self._appointment_id: str | None = None
        self._readings: list[str] = []
        self._waiting_since: datetime | None = None
        self._devices: dict[str, DeviceStatus] = {}
        self._last_visit_at: datetime | None = None
        self._cleaning_until: datetime | None = None

    @classmethod
    def for_room(cls, room: ReportingRoom) -> HeartbeatReporter:
        """The reporter of ``room`` as its ``[hub]`` settings say."""
        settings = room.config.hub
        if settings is None:
            raise RoomConfigError("hub", "configuration", "the room has no [hub] table")
        return cls(room, settings)

    async def wait_delivered(self, count: int) -> None:
        """Return once ``delivered`` has reached ``count`` (a test's or a monitor's wait)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.delivered >= count)

    # -- what the room is doing --------------------------------------------------------------

    def _changes(self) -> AsyncIterator[RoomEvent]:
        return self._room.events()

    async def _noticed(self, event: Any) -> bool:
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
            return False
        return True

    async def _heartbeat(self) -> Heartbeat:
        outbox = self._room.outbox
        backlog = refused = 0
        if outbox is not None:
            backlog = await outbox.pending()
            refused = len(await outbox.held_back())
        return Heartbeat(
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
