"""What every phase of a visit shares: the room's state and its machine, events, audit, tasks."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Self

from telemedroom._room._config import RoomConfig
from telemedroom._room._events import (
    DeviceKind,
    RoomEvent,
    RoomState,
    StateChanged,
)
from telemedroom._room._journal import Journal
from telemedroom._room._live import LiveVitals
from telemedroom._room._machine import Action, next_state
from telemedroom._room._models import Visit, VisitSummary
from telemedroom._room._rejections import Refusals
from telemedroom._room._wrapup import KeptSnapshot
from telemedroom.errors import (
    RoomStateError,
)
from telemedroom.measurements import Measurement

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from telemedroom.devices.media import MediaDevice
    from telemedroom.fhir.outbox import FhirSink, Outbox
    from telemedroom.scheduling import Appointment, Scheduler
    from telemedroom.session.audit import AuditLog
    from telemedroom.session.peer import RoomPeer
    from telemedroom.session.tokens import TokenIssuer

__all__ = ["RoomCore"]

logger = logging.getLogger("telemedroom.room")

_ROOM_ROLE: Final = "room"


class _Subscription:
    """One subscriber's bounded queue of events (see :meth:`Room.events`)."""

    def __init__(self, room: RoomCore, size: int) -> None:
        self._room = room
        self._queue: deque[RoomEvent] = deque()
        self._size = size
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def push(self, event: RoomEvent) -> None:
        if len(self._queue) >= self._size:
            # Overflow: this subscriber is too slow. Never wait for it (the room must go on);
            # drop what it has not read and restart it from the current state, so its
            # picture of the room is right again from the next event on.
            self.dropped += len(self._queue)
            self._queue.clear()
            self._queue.extend(self._room._opening_events())
        self._queue.append(event)
        self._ready.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> RoomEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def aclose(self) -> None:
        """Stop receiving events."""
        self._closed = True
        self._ready.set()
        self._room._subscribers.discard(self)

    def _end(self) -> None:
        self._closed = True
        self._ready.set()


class RoomCore:
    """The room's state: the visit, its readings, the open parts, and the one state machine.

    :class:`~telemedroom.room.Room` is built of this and one unit per phase of the visit
    (check-in, guided measurement, consultation, wrap-up, opening and closing); every
    phase moves the visit only through :meth:`_move`, which follows
    ``telemedroom.room.TRANSITIONS`` and journals and tells each step.
    """

    def __init__(
        self,
        config: RoomConfig,
        *,
        ble_backend: object | None = None,
        scheduler: Scheduler | None = None,
        signaling_url: str | None = None,
        fhir_sink: FhirSink | None = None,
        clock: Callable[[], datetime] | None = None,
        event_queue_size: int = 256,
        countdown_tick: float = 1.0,
    ) -> None:
        self.config = config
        self._ble_backend = ble_backend
        self._given_scheduler = scheduler
        self._signaling_url = signaling_url or config.session.signaling_url
        self._given_sink = fhir_sink
        self._clock = clock or (lambda: datetime.now(UTC))
        self._queue_size = event_queue_size
        self._countdown_tick = countdown_tick
        self._exam_bundle: dict[str, Any] | None = None
        self._detector: Any = None  # FaceMeshDetector, loaded on opening if configured
        self._state = RoomState.IDLE
        self._subscribers: set[_Subscription] = set()
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self._failed_codes: deque[datetime] = deque()
        self._issuer: TokenIssuer | None = None
        self._devices: Any = None
        self._media: dict[str, MediaDevice] = {}
        from telemedroom.session._feed import RemoteFeed  # the session layer loads on first use

        self._physician = RemoteFeed()  # the physician's video and voice, for the kiosk
        self._participants_shown: RoomEvent | None = None  # the last ParticipantsChanged of the visit
        self._live: LiveVitals | None = None
        self._cleaning: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._wake = asyncio.Event()  # a check-in, or the room closing (serve_visits)
        self._journal: Journal | None = None
        self._sink: FhirSink | None = None
        self._last_summary: VisitSummary | None = None
        self._refusals = Refusals()  # records the server refused, until delivered
        self._appointment: Appointment | None = None
        self._kiosk_apps: list[Starlette] = []
        self.visit: Visit | None = None
        self.peer: RoomPeer | None = None
        self.readings: list[Measurement] = []
        self.skipped: list[DeviceKind] = []
        self.snapshots: list[KeptSnapshot] = []
        self.scheduler: Scheduler | None = scheduler
        self.outbox: Outbox | None = None
        self.audit: AuditLog | None = None
        self.heartbeats: Any = None  # the HeartbeatReporter to the clinic hub, with [hub]

    @property
    def state(self) -> RoomState:
        """Where the room is in the visit."""
        return self._state

    def _state_event(self) -> StateChanged:
        return StateChanged(
            state=self._state,
            previous=None,
            visit_id=self.visit.visit_id if self.visit else None,
            at=self._clock(),
        )

    def _opening_events(self) -> list[RoomEvent]:
        # what a new (or restarted) subscriber is told first: the state, then every
        # refusal still standing (the kiosk's operator status), then, in a multi-party
        # visit, who is in it
        shown = [self._participants_shown] if self._participants_shown is not None else []
        return [self._state_event(), *self._refusals.standing(), *shown]

    def _emit(self, event: RoomEvent) -> None:
        for subscriber in list(self._subscribers):
            subscriber.push(event)

    async def _move(self, action: Action) -> None:
        previous = self._state
        target = next_state(previous, action)
        if self._journal is not None and self.visit is not None:
            if target is RoomState.IDLE:
                await self._journal.clear()
            elif target is not RoomState.WRAP_UP:  # wrap-up is journaled with its bundle
                await self._journal.write(self.visit.visit_id, self.visit.appointment_id, target)
        self._state = target
        if target is RoomState.IDLE:
            self._idle.set()
        else:
            self._idle.clear()
        self._emit(
            StateChanged(
                state=target,
                previous=previous,
                visit_id=self.visit.visit_id if self.visit else None,
                at=self._clock(),
            )
        )

    def _require(self, *states: RoomState, action: str) -> None:
        if self._state not in states:
            raise RoomStateError(self._state.value, action)

    def _audit(self, action: str, detail: Mapping[str, str] | None = None) -> None:
        from telemedroom.session.audit import AuditAction  # the session layer, when a room opens

        if self.audit is None:
            return
        self.audit.append(
            AuditAction(action),
            actor=self.config.room_id,
            role=_ROOM_ROLE,
            room=self.config.room_id,
            appointment=self.visit.appointment_id if self.visit else "",
            detail=detail,
        )
