"""The :class:`Room` facade: devices, session, FHIR, schedule and audit, one visit at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from telemedroom._room._config import RoomConfig
from telemedroom._room._devices import DEVICE_GUIDE, measure_device
from telemedroom._room._events import (
    Admitted,
    CheckedIn,
    CheckInRejected,
    CleaningStarted,
    DeviceKind,
    DeviceStep,
    ExamStep,
    ReadingTaken,
    RoomErrorEvent,
    RoomEvent,
    RoomState,
    SnapshotTaken,
    StateChanged,
    VisitWrappedUp,
    WaitingRoom,
)
from telemedroom._room._journal import Journal
from telemedroom._room._live import LiveVitals, live_kinds
from telemedroom._room._machine import ABORTABLE, Action, next_state
from telemedroom._room._models import KioskTracks, Visit, VisitSummary
from telemedroom._room._sinks import join_token_issuer, open_fhir_sink, outbox_path
from telemedroom._room._summary import summary_of
from telemedroom._room._wrapup import KeptSnapshot, media_id
from telemedroom.errors import (
    CheckInRefused,
    InvalidTransition,
    RoomConfigError,
    RoomError,
    RoomStateError,
    TelemedroomError,
    UnknownBookingCode,
)
from telemedroom.measurements import Measurement

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from telemedroom.devices.media import MediaDevice, Snapshot
    from telemedroom.fhir.outbox import DrainResult, FhirSink, Outbox
    from telemedroom.scheduling import Appointment, Scheduler
    from telemedroom.session.audit import AuditLog
    from telemedroom.session.peer import RoomPeer
    from telemedroom.session.tokens import TokenIssuer

__all__ = ["Room"]

logger = logging.getLogger("telemedroom.room")

# How early before its slot a booking code is accepted: when its join tokens become valid
# (the scheduler's JOIN_EARLY; not imported, so that `import telemedroom` stays quick).
CHECK_IN_EARLY: Final = timedelta(minutes=15)
# Wrong booking codes allowed within CHECK_IN_WINDOW before the kiosk says "too many attempts".
CHECK_IN_FAILURES: Final = 5
CHECK_IN_WINDOW: Final = timedelta(minutes=5)
_ROOM_ROLE: Final = "room"


class _Subscription:
    """One subscriber's bounded queue of events (see :meth:`Room.events`)."""

    def __init__(self, room: Room, size: int) -> None:
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
            self._queue.append(self._room._state_event())
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


class Room:
    """A telemedicine room: guides a visit from check-in to the FHIR record, one at a time.

    The visit is a state machine (``telemedroom.room.TRANSITIONS``): ``idle`` →
    ``checked_in`` → ``measuring`` → ``waiting`` → ``in_consultation`` → ``wrap_up`` →
    ``cleaning`` → ``idle``; :meth:`abort` returns to ``idle`` from any state before
    wrap-up with nothing written. Every step is an event (:meth:`events`) and an audit
    entry; a small journal in ``data_dir`` lets a room that crashed come back idle.

    Args:
        config: The room's configuration.
        ble_backend: A bleak backend for the devices (``telemedroom.testing.BumbleBackend``
            in tests); ``None`` for the host's Bluetooth.
        scheduler: The schedule to check in against; by default one on the store of
            ``config.schedule`` (opened and closed by the room).
        signaling_url: The signaling server's base ``ws(s)://host``; by default
            ``config.session.signaling_url``, or the room's own server when
            ``config.session.embedded``.
        fhir_sink: Where the outbox delivers (a :class:`~telemedroom.fhir.FhirClient`,
            opened by the caller); by default from ``config.fhir``.
        clock: Returns now (timezone-aware); tests pass a fixed clock.
        event_queue_size: Events kept per subscriber before it counts as too slow.
        countdown_tick: Seconds one second of a facial protocol step's countdown lasts
            (a simulation may shorten it).

    Attributes:
        config: The configuration.
        visit: The visit in progress, or ``None``.
        peer: The room's WebRTC peer while waiting and in consultation.
        readings: The readings of the visit in progress.
        scheduler: The schedule (once the room is open).
        outbox: The outbox (once open).
        audit: The session audit log (``data_dir/audit.jsonl``, once open).
        heartbeats: The reporter to the clinic hub when ``[hub]`` is configured (``HeartbeatReporter``).

    Examples:
        >>> import base64, tempfile
        >>> config = RoomConfig(room_id="nord-1", data_dir=tempfile.mkdtemp(),
        ...                     encryption_key=base64.b64encode(bytes(32)).decode())
        >>> Room(config).state
        <RoomState.IDLE: 'idle'>
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
        self._state = RoomState.IDLE
        self._subscribers: set[_Subscription] = set()
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self._failed_codes: deque[datetime] = deque()
        self._issuer: TokenIssuer | None = None
        self._devices: Any = None
        self._media: dict[str, MediaDevice] = {}
        self._physician_video: Any = None
        self._physician_audio: Any = None
        self._physician_relay: Any = None
        self._live: LiveVitals | None = None
        self._cleaning: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._wake = asyncio.Event()  # a check-in, or the room closing (serve_visits)
        self._journal: Journal | None = None
        self._sink: FhirSink | None = None
        self._last_summary: VisitSummary | None = None
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

    # -- state and events --------------------------------------------------------------

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

    def events(self) -> AsyncIterator[RoomEvent]:
        """Subscribe to the room's events; the first is a :class:`StateChanged` with the current state.

        Each call is a new subscriber with its own bounded queue (``event_queue_size``).
        A subscriber that falls that far behind never slows the room: its unread events
        are dropped and it continues from a fresh :class:`StateChanged` of the current
        state (its ``dropped`` attribute counts them). Stop with ``aclose()``; the
        iteration also ends when the room closes.

        Examples:
            >>> import asyncio, base64, tempfile
            >>> async def main():
            ...     config = RoomConfig(room_id="r1", data_dir=tempfile.mkdtemp(), devices=[],
            ...                         encryption_key=base64.b64encode(bytes(32)).decode())
            ...     async with Room(config) as room:
            ...         first = await anext(room.events())
            ...     return first.type, first.state
            >>> asyncio.run(main())
            ('state', <RoomState.IDLE: 'idle'>)
        """
        subscription = _Subscription(self, self._queue_size)
        subscription.push(self._state_event())
        self._subscribers.add(subscription)
        return subscription

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

    # -- lifetime ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        try:
            await self._open(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def _open(self, stack: AsyncExitStack) -> None:
        from telemedroom.fhir.outbox import Outbox

        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._journal = Journal(config.data_dir / "room-journal.sqlite", config.key)
        await self._journal.open()
        stack.push_async_callback(self._journal.aclose)
        self.outbox = await stack.enter_async_context(Outbox(outbox_path(config), key=config.key))
        from telemedroom.session.audit import AuditLog

        self.audit = AuditLog(config.data_dir / "audit.jsonl")
        if self._given_sink is not None:
            self._sink = self._given_sink
        else:
            self._sink = await stack.enter_async_context(open_fhir_sink(config))
        if config.session.embedded:
            await self._start_signaling(stack)
        else:
            self._issuer = join_token_issuer(config)
        if self.scheduler is None:
            self.scheduler = await _open_scheduler(config, stack, self._join_token_hook())
        elif self.scheduler.join_tokens is None and self._issuer is not None:
            self.scheduler.join_tokens = self._join_token_hook()
        if config.devices:
            from telemedroom.devices import DeviceManager

            self._devices = await stack.enter_async_context(
                DeviceManager(backend=self._ble_backend, tz=config.zone, timeout=config.device_timeout_s)  # type: ignore[arg-type]
            )
        await self._open_media(stack)
        stack.push_async_callback(self._close_visit)
        await self._recover()
        # -- clinic hub: heartbeats (the reporter lives in _room/_heartbeat.py; this is its one call)
        if config.hub is not None:
            from telemedroom._room._heartbeat import HeartbeatReporter

            self.heartbeats = await stack.enter_async_context(HeartbeatReporter.for_room(self))

    async def _start_signaling(self, stack: AsyncExitStack) -> None:
        from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
        from telemedroom.session.tokens import TokenIssuer, TokenVerifier

        self._issuer = TokenIssuer.generate(f"{self.config.room_id}-embedded")
        app = create_app(
            SignalingConfig(
                verifier=TokenVerifier(self._issuer.public_keys()), recording=self.config.recording
            )
        )
        server = await stack.enter_async_context(LocalServer(app))
        self._signaling_url = server.ws_url

    def _join_token_hook(self) -> Any:
        issuer = self._issuer
        if issuer is None:
            return None
        room_id = self.config.room_id

        async def issue(
            *, appointment_id: str, participant: str, role: str, not_before: datetime, not_after: datetime
        ) -> str:
            return issuer.issue(
                room=room_id,
                appointment=appointment_id,
                role="patient" if role == "patient" else "physician",
                subject=participant,
                not_before=not_before,
                expires_at=not_after,
            )

        return issue

    async def _open_media(self, stack: AsyncExitStack) -> None:
        try:
            from telemedroom.devices.media import MediaDevice
        except ImportError:  # MissingExtraError: no video extra, no self-view; joining says so
            return
        for name, source in _media_sources(self.config).items():
            device = await stack.enter_async_context(MediaDevice(source))
            self._media[name] = device

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Abort a visit still before wrap-up, end the subscriptions, close everything."""
        stack, self._stack = self._stack, None
        self._wake.set()
        if stack is not None:
            await stack.aclose()
        for subscriber in list(self._subscribers):
            subscriber._end()
        self._subscribers.clear()

    async def _close_visit(self) -> None:
        if self._kiosk_apps:
            from telemedroom._kiosk import close_kiosk

            for app in self._kiosk_apps:
                await close_kiosk(app)
            self._kiosk_apps.clear()
        if self._state in _ABORTABLE:
            await self.abort("room closed")
        if self._cleaning is not None:
            self._cleaning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaning
        if self._state is RoomState.CLEANING:
            await self._move("cleaned")
        await self._leave()

    async def _recover(self) -> None:
        """A visit left in the journal by a crash: replay its wrap-up if sealed, else drop it."""
        assert self._journal is not None
        assert self.outbox is not None
        entry = await self._journal.read()
        if entry is None:
            return
        detail = {"visit": entry.visit_id, "state": entry.state.value, "reason": "recovered after a crash"}
        if entry.state is RoomState.WRAP_UP and entry.bundle is not None:
            # The same bytes again: every id in them is deterministic, so a bundle that did
            # reach the outbox before the crash lands on the server once all the same.
            ids = await self.outbox.put(entry.bundle)
            detail["outbox"] = ",".join(map(str, ids))
            action = "wrapped_up"
        elif entry.state in (RoomState.WRAP_UP, RoomState.CLEANING):
            action = "wrapped_up" if entry.state is RoomState.CLEANING else "aborted"
        else:
            action = "aborted"
        from telemedroom.session.audit import AuditAction

        assert self.audit is not None
        self.audit.append(
            AuditAction(action),
            actor=self.config.room_id,
            role=_ROOM_ROLE,
            room=self.config.room_id,
            appointment=entry.appointment_id,
            detail=detail,
        )
        await self._journal.clear()
        logger.warning(
            "room %s: visit %s was %s at a crash; room is idle",
            self.config.room_id,
            entry.visit_id,
            entry.state.value,
        )

    # -- check-in ---------------------------------------------------------------------

    async def check_in(self, booking_code: str) -> Visit:
        """Check a patient in with the booking code from their appointment.

        Raises:
            CheckInRefused: ``unknown_code`` (no such booking), ``too_many_attempts``
                (too many wrong codes lately), ``not_now`` (outside the appointment's
                time or not bookable any more) or ``busy`` (a visit is in progress); a
                :class:`CheckInRejected` event says the same to the kiosk.
        """
        async with self._lock:
            return await self._check_in(booking_code)

    def _refuse(self, reason: str, cause: BaseException | None = None) -> CheckInRefused:
        self._emit(CheckInRejected(reason=reason))
        self._audit("check_in_refused", {"reason": reason})
        error = CheckInRefused(reason)
        error.__cause__ = cause
        return error

    async def _check_in(self, booking_code: str) -> Visit:
        from telemedroom.scheduling import normalize_booking_code

        if self._state is not RoomState.IDLE:
            raise self._refuse("busy")
        if self.scheduler is None:
            raise RoomError("the room is not open; use `async with Room(config)`")
        now = self._clock()
        while self._failed_codes and now - self._failed_codes[0] > CHECK_IN_WINDOW:
            self._failed_codes.popleft()
        if len(self._failed_codes) >= CHECK_IN_FAILURES:
            raise self._refuse("too_many_attempts")
        try:
            found = await self.scheduler.store.by_code(normalize_booking_code(booking_code))
        except (UnknownBookingCode, ValueError) as exc:
            self._failed_codes.append(now)
            raise self._refuse("unknown_code", exc) from exc
        if not found.slot.start - CHECK_IN_EARLY <= now <= found.slot.end:
            raise self._refuse("not_now")
        try:
            appointment = await self.scheduler.check_in(booking_code)
        except InvalidTransition as exc:
            raise self._refuse("not_now", exc) from exc
        visit = Visit(
            visit_id=uuid.uuid4().hex,
            appointment_id=appointment.id,
            patient=appointment.patient,
            language=self.config.language,
            devices=tuple(self.config.devices),
            checked_in_at=now,
        )
        self.visit, self._appointment = visit, appointment
        self.readings, self.skipped, self.snapshots = [], [], []
        self._exam_bundle = None
        await self._move("check_in")
        self._wake.set()
        self._audit("checked_in", {"visit": visit.visit_id})
        self._emit(
            CheckedIn(
                visit_id=visit.visit_id,
                appointment_id=visit.appointment_id,
                language=visit.language,
                devices=list(visit.devices),
            )
        )
        return visit

    # -- measuring --------------------------------------------------------------------

    async def measure(self) -> list[Measurement]:
        """Guide the patient through the devices, in the configured order; then wait for the physician.

        Each device gets ``measurement_attempts`` tries of ``device_timeout_s`` seconds
        (find it, connect, take a final reading); one that fails every try is skipped.
        Progress is told by :class:`DeviceStep` and :class:`ReadingTaken` events.

        Returns:
            The readings taken (also in :attr:`readings`).

        Raises:
            RoomStateError: The room is not checked in.
        """
        async with self._lock:
            await self._move("measure")
            assert self.visit is not None
            kinds = self.visit.devices
            for index, kind in enumerate(kinds):
                taken = await self._measure_one(kind, index, len(kinds))
                if taken is None:
                    self.skipped.append(kind)
            await self._move("measured")
            return list(self.readings)

    async def _measure_one(self, kind: DeviceKind, index: int, total: int) -> list[Measurement] | None:
        attempts = self.config.measurement_attempts
        instruction = DEVICE_GUIDE[kind].instruction

        def step(status: Any, attempt: int, detail: str | None = None) -> None:
            self._emit(
                DeviceStep(
                    device=kind,
                    status=status,
                    attempt=attempt,
                    instruction=instruction,
                    index=index,
                    total=total,
                    detail=detail,
                )
            )

        for attempt in range(1, attempts + 1):
            step("waiting", attempt)
            try:
                async with asyncio.timeout(self.config.device_timeout_s):
                    taken = await measure_device(
                        self._devices,
                        kind,
                        on_step=lambda status, a=attempt: step(status, a),  # type: ignore[misc]
                    )
            except (TelemedroomError, TimeoutError) as exc:
                why = "no reading in time" if isinstance(exc, TimeoutError) else str(exc)
                step("failed", attempt, why)
                self._emit(RoomErrorEvent(state=self._state, message=f"{kind}: {why}"))
                continue
            for reading in taken:
                self.readings.append(reading)
                self._audit(
                    "measurement",
                    {"device": kind, "type": type(reading).__name__, "attempt": str(attempt)},
                )
                self._emit(
                    ReadingTaken(
                        device=kind, measurement=reading.model_dump(mode="json"), summary=summary_of(reading)
                    )
                )
            step("done", attempt)
            return taken
        step("skipped", attempts, f"no reading after {attempts} attempts")
        return None

    # -- consultation -----------------------------------------------------------------

    @property
    def signaling_url(self) -> str | None:
        """The signaling server's base URL (the room's own one when embedded)."""
        return self._signaling_url

    def physician_token(self, appointment_id: str, *, subject: str = "physician", hours: float = 2.0) -> str:
        """A physician join token from the embedded issuer (``config.session.embedded`` only).

        For the demo and tests: the physician's console (or a scripted
        :class:`~telemedroom.session.peer.PhysicianPeer`) joins with it.

        Raises:
            RoomError: The room has no embedded issuer.
        """
        if self._issuer is None:
            raise RoomError("no embedded token issuer: set [session] embedded = true, or use the clinic's")
        now = self._clock()
        return self._issuer.issue(
            room=self.config.room_id,
            appointment=appointment_id,
            role="physician",
            subject=subject,
            not_before=now - timedelta(minutes=1),
            expires_at=now + timedelta(hours=hours),
        )

    def visit_url(self, appointment_id: str) -> str:
        """The signaling WebSocket of a visit: ``{signaling_url}/ws/{room}/{appointment}``.

        Raises:
            RoomError: No signaling URL is configured.
        """
        if self._signaling_url is None:
            raise RoomError("no signaling URL: set [session] signaling_url, or embedded = true")
        return f"{self._signaling_url.rstrip('/')}/ws/{self.config.room_id}/{appointment_id}"

    async def wait_for_physician(self, timeout: float | None = None) -> None:
        """Join the consultation as the room's peer, wait in the waiting room until admitted.

        Args:
            timeout: Seconds to wait for admission; default ``config.session.admission_timeout_s``.

        Raises:
            RoomStateError: The room is not waiting (measure first).
            PeerError: Not admitted in time, denied, or the connection failed; the room
                stays waiting (try again or :meth:`abort`).
        """
        async with self._lock:
            self._require(RoomState.WAITING, action="wait_for_physician")
            assert self.visit is not None
            assert self.scheduler is not None
            from telemedroom.session.peer import RoomPeer

            if self.peer is None:
                if self.scheduler.join_tokens is None:
                    raise RoomConfigError(
                        "session.token_signing_key_file",
                        "[session]",
                        "missing: the room signs its join token with it (or set embedded = true)",
                    )
                tokens = await self.scheduler.issue_join_tokens(self.visit.appointment_id)
                self.peer = RoomPeer(
                    self.visit_url(self.visit.appointment_id),
                    tokens[self.visit.patient],
                    ice_servers=_ice_servers(self.config),
                    audit=self.audit,
                    on_physician_track=self._physician_track,
                    media=self._media,
                    on_exam_step=self._exam_step,
                    exam=self._exam_context(self.visit),
                    countdown_tick=self._countdown_tick,
                )
                await self.peer.__aenter__()
            self._emit(WaitingRoom(position=None))
            wait = self.config.session.admission_timeout_s if timeout is None else timeout
            await self.peer.wait_admitted(wait)
            await self._move("admit")
            self._audit("admitted", {"visit": self.visit.visit_id})
            self._emit(Admitted(physician=None))
            for reading in self.readings:  # the physician sees every reading of the visit
                await self.peer.send_measurement(reading)
            self._live = LiveVitals(self._devices, live_kinds(self.visit.devices), self._live_reading)
            self._live.start()

    async def _live_reading(self, kind: DeviceKind, reading: Measurement) -> None:
        """A reading taken during the consultation: keep it, audit it, tell the kiosk and the physician."""
        if self._state is not RoomState.IN_CONSULTATION or self.peer is None:
            return  # arrived while the consultation was ending: not part of the record
        self.readings.append(reading)
        self._audit("measurement", {"device": kind, "type": type(reading).__name__, "live": "true"})
        self._emit(
            ReadingTaken(
                device=kind,
                measurement=reading.model_dump(mode="json"),
                summary=summary_of(reading),
                live=True,
            )
        )
        await self.peer.send_measurement(reading)

    def _exam_context(self, visit: Visit) -> Any:
        from telemedroom._room._wrapup import encounter_id
        from telemedroom.session.peer import FacialExamContext

        # The grading is kept until the wrap-up, which writes it in the visit's one
        # transaction (an aborted visit writes nothing); the stills are the wrap-up's Media.
        async def keep(bundle: dict[str, Any]) -> None:
            self._exam_bundle = bundle

        return FacialExamContext(
            patient=visit.patient_reference,
            encounter=f"Encounter/{encounter_id(self.config.room_id, visit.visit_id)}",
            record=keep,
            include_stills=False,
        )

    async def _exam_step(self, step: str, index: int, total: int, countdown: int, phase: str) -> None:
        self._emit(ExamStep(step=step, index=index, total=total, countdown=countdown, phase=phase))  # type: ignore[arg-type]
        if phase == "done" and self.peer is not None and self.peer.exam_stills:
            self._keep(self.peer.exam_stills[-1].snapshot, "exam", step)

    def _physician_track(self, track: Any) -> None:
        from aiortc.contrib.media import MediaBlackhole, MediaRelay

        # One relay for the physician's video and voice: a blackhole subscription keeps each
        # remote track drained when no kiosk listens (nothing piles up), and every kiosk
        # connection gets subscriptions of its own.
        if self._physician_relay is None:
            self._physician_relay = MediaRelay()
        relay = self._physician_relay
        if track.kind == "video":
            self._physician_video = track
        elif self._physician_audio is None:
            self._physician_audio = track
        sink = MediaBlackhole()
        sink.addTrack(relay.subscribe(track, buffered=False))
        self._spawn(sink.start())

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def _tasks(self) -> set[asyncio.Task[Any]]:
        tasks: set[asyncio.Task[Any]] = self.__dict__.setdefault("_task_set", set())
        return tasks

    async def send_measurement(self, reading: Measurement) -> None:
        """Forward a live reading to the physician (``in_consultation`` only) and keep it for the record.

        Raises:
            RoomStateError: Not in consultation.
        """
        self._require(RoomState.IN_CONSULTATION, action="send_measurement")
        assert self.peer is not None
        self.readings.append(reading)
        self._audit("measurement", {"device": "live", "type": type(reading).__name__})
        await self.peer.send_measurement(reading)

    async def take_snapshot(
        self, camera: Literal["room", "exam"] = "exam", step: str | None = None
    ) -> Snapshot:
        """A full-resolution still of a camera, kept for the record (FHIR ``Media`` at wrap-up).

        Args:
            camera: ``exam`` (the handheld camera) or ``room``.
            step: The examination protocol step it shows, if any (``Media.view``).

        Raises:
            RoomStateError: Not in consultation.
            MediaDeviceError: The camera gave no frame.
        """
        async with self._lock:
            self._require(RoomState.IN_CONSULTATION, action="take_snapshot")
            assert self.visit is not None
            device = self._media.get(camera)
            if device is None:
                raise RoomError(f"no {camera} camera: install 'telemedroom[video]'")
            snapshot = await device.snapshot("png")
            self._keep(snapshot, camera, step)
            return snapshot

    def _keep(self, snapshot: Snapshot, camera: str, step: str | None) -> KeptSnapshot:
        assert self.visit is not None
        kept = KeptSnapshot(
            media_id=media_id(self.config.room_id, self.visit.visit_id, len(self.snapshots)),
            camera=camera,
            step=step,
            data=snapshot.data,
            media_type=snapshot.media_type,
            width=snapshot.width,
            height=snapshot.height,
            captured_at=snapshot.captured_at,
        )
        self.snapshots.append(kept)
        self._audit(
            "snapshot",
            {"camera": camera, "media": kept.media_id, "size": f"{kept.width}x{kept.height}"},
        )
        self._emit(SnapshotTaken(camera=camera, media_id=kept.media_id, step=step))  # type: ignore[arg-type]
        return kept

    async def end_consultation(self) -> VisitSummary:
        """Wrap the visit up: one FHIR transaction into the outbox, then the cleaning buffer.

        The transaction holds the ``Encounter`` (class ``VR``, virtual; status
        ``finished``; period, subject, appointment), every reading as Observations, each
        snapshot (the room's and those the physician asked for) as ``Media``, and a
        ``Provenance``. It is sealed into the journal first, so a crash from here on
        replays it on restart; every id in it is deterministic.

        Raises:
            RoomStateError: Not in consultation.
        """
        async with self._lock:
            self._require(RoomState.IN_CONSULTATION, action="end_consultation")
            visit = self.visit
            assert visit is not None
            assert self._journal is not None
            assert self.outbox is not None
            if self.peer is not None:
                for snapshot in list(self.peer.snapshots):  # taken at the physician's request
                    self._keep(snapshot, "exam", None)
            await self._leave()
            ended = self._clock()
            from telemedroom._room._wrapup import wrap_up_bundle

            bundle, encounter, observations = wrap_up_bundle(
                room_id=self.config.room_id,
                room_name=self.config.name,
                visit=visit,
                measurements=self.readings,
                snapshots=self.snapshots,
                ended=ended,
                extra_entries=self._exam_bundle["entry"] if self._exam_bundle else (),
            )
            await self._journal.write(visit.visit_id, visit.appointment_id, RoomState.WRAP_UP, bundle)
            await self._move("end")
            ids = await self.outbox.put(bundle)
            self._audit(
                "wrapped_up",
                {
                    "encounter": encounter,
                    "observations": str(observations),
                    "media": str(len(self.snapshots)),
                },
            )
            if self.scheduler is not None:
                with contextlib.suppress(TelemedroomError):
                    await self.scheduler.complete(visit.appointment_id)
            self._emit(
                VisitWrappedUp(
                    visit_id=visit.visit_id,
                    encounter_id=encounter,
                    observations=observations,
                    media=len(self.snapshots),
                    outbox_ids=ids,
                )
            )
            summary = VisitSummary(
                visit_id=visit.visit_id,
                appointment_id=visit.appointment_id,
                encounter_id=encounter,
                started=visit.checked_in_at,
                ended=ended,
                observations=observations,
                media=len(self.snapshots),
                outbox_ids=tuple(ids),
                measurements=tuple(self.readings),
                skipped=tuple(self.skipped),
                audit_head=self.audit.head if self.audit else "",
            )
            self._last_summary = summary
            await self._move("wrapped")
            until = ended + timedelta(minutes=self.config.cleaning_buffer_minutes)
            self._emit(CleaningStarted(until=until))
            self._cleaning = asyncio.ensure_future(self._clean(self.config.cleaning_buffer_minutes * 60))
            return summary

    async def _clean(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the cleaning buffer itself: real time by design
        async with self._lock:
            if self._state is RoomState.CLEANING:
                await self._move("cleaned")
                self.visit = None

    async def wait_idle(self) -> None:
        """Wait until the room is idle again (after the cleaning buffer)."""
        await self._idle.wait()

    async def drain_outbox(self) -> DrainResult:
        """Deliver what the outbox holds to the FHIR server (or the NDJSON files) now."""
        if self.outbox is None or self._sink is None:
            raise RoomError("the room is not open; use `async with Room(config)`")
        return await self.outbox.drain(self._sink)

    async def _leave(self) -> None:
        live, self._live = self._live, None
        if live is not None:  # first: no live reading goes to a closing peer or a sealed record
            await live.aclose()
        peer, self.peer = self.peer, None
        if peer is not None:
            await peer.aclose()
        self._physician_video = self._physician_audio = self._physician_relay = None
        for task in list(self._tasks):
            task.cancel()

    async def abort(self, reason: str) -> None:
        """End the visit before wrap-up: back to idle, nothing written to the record.

        The audit log keeps that the visit was aborted and why (``reason`` must hold no
        health data).

        Raises:
            RoomStateError: Idle already, or the visit is past its consultation.
        """
        if self._state not in _ABORTABLE:
            next_state(self._state, "abort")  # raises RoomStateError naming the state
        await self._leave()
        self._audit("aborted", {"reason": reason})
        await self._move("abort")
        self.visit = None
        self.readings, self.skipped, self.snapshots = [], [], []

    async def run_visit(
        self, booking_code: str, *, consultation: Callable[[], Awaitable[None]] | None = None
    ) -> VisitSummary:
        """A whole visit: :meth:`check_in`, then :meth:`continue_visit` to its end.

        Progress is told only through :meth:`events`. The consultation lasts until the
        physician ends the visit (or ``consultation()`` returns, when given).

        Raises:
            CheckInRefused: The booking code was refused.
            PeerError: The physician did not admit the room in time (the visit is aborted).

        Examples:
            >>> import asyncio, base64, tempfile
            >>> async def main():
            ...     config = RoomConfig(room_id="r1", data_dir=tempfile.mkdtemp(), devices=[],
            ...                         encryption_key=base64.b64encode(bytes(32)).decode())
            ...     async with Room(config) as room:
            ...         await room.run_visit("NOPE-NOPE")
            >>> asyncio.run(main())
            Traceback (most recent call last):
            ...
            telemedroom.CheckInRefused: check-in refused: unknown_code
        """
        await self.check_in(booking_code)
        return await self.continue_visit(consultation=consultation)

    async def continue_visit(
        self, *, consultation: Callable[[], Awaitable[None]] | None = None
    ) -> VisitSummary:
        """Carry a checked-in visit on to its end: measure, wait, consult, wrap up, clean.

        What :meth:`run_visit` does after its check-in, for a visit checked in elsewhere
        (the kiosk page's ``POST /kiosk/check-in``, your own screen): :meth:`measure`,
        :meth:`wait_for_physician`, the consultation until the physician ends the visit
        (or ``consultation()`` returns, when given), :meth:`end_consultation`, and the
        cleaning buffer (it returns once the room is idle again). Anything that goes
        wrong before the wrap-up aborts the visit (nothing written) and is raised; an
        error of telemedroom is also told as a :class:`RoomErrorEvent` in the state where
        it happened.

        Returns:
            The wrapped-up visit.

        Raises:
            RoomStateError: No visit is checked in.
            PeerError: The physician did not admit the room in time (the visit is aborted).

        Examples:
            >>> import asyncio, base64, tempfile
            >>> from telemedroom.session.peer import PhysicianPeer
            >>> async def physician(room, appointment):
            ...     token = room.physician_token(appointment.id)
            ...     async with PhysicianPeer(room.visit_url(appointment.id), token) as doctor:
            ...         await doctor.admit((await doctor.next_waiting(timeout=30)).id)
            ...         await doctor.end()
            >>> async def main():
            ...     config = RoomConfig(room_id="r1", data_dir=tempfile.mkdtemp(), devices=[],
            ...                         encryption_key=base64.b64encode(bytes(32)).decode(),
            ...                         cleaning_buffer_minutes=0, session={"embedded": True})
            ...     async with Room(config) as room:
            ...         appointment = await room.book_walk_in("pat-1")
            ...         await room.check_in(appointment.booking_code)  # as the kiosk page does
            ...         doctor = asyncio.create_task(physician(room, appointment))
            ...         summary = await room.continue_visit()
            ...         await doctor
            ...         return summary.observations, room.state
            >>> asyncio.run(main())
            (0, <RoomState.IDLE: 'idle'>)
        """
        self._require(RoomState.CHECKED_IN, action="continue_visit")
        try:
            await self.measure()
            await self.wait_for_physician()
            if consultation is not None:
                await consultation()
            else:
                assert self.peer is not None
                await self.peer.ended.wait()
        except BaseException as exc:
            if isinstance(exc, TelemedroomError):  # said where it failed, before the abort
                self._emit(RoomErrorEvent(state=self._state, message=f"visit aborted: {exc}"))
            if self._state in _ABORTABLE:
                await self.abort("visit interrupted")
            raise
        summary = await self.end_consultation()
        await self.wait_idle()
        return summary

    async def serve_visits(self) -> AsyncIterator[VisitSummary]:
        """Carry on every visit checked in, one after another, until the room closes.

        Waits for a check-in from any source (the kiosk page, :meth:`check_in`), carries
        the visit on (:meth:`continue_visit`) and yields its summary once the room is
        idle again; then waits for the next. A visit that fails before its wrap-up (the
        physician never admits) is aborted with nothing written, told as a
        :class:`RoomErrorEvent`, and the room goes on serving. The iteration ends when
        the room closes; cancelling it aborts a visit in progress.

        Only one caller may carry visits on: do not call :meth:`continue_visit` or the
        steps after check-in yourself while this runs. ``docs/room.md`` shows a whole
        visit served this way.

        Examples:
            >>> import asyncio, base64, tempfile
            >>> async def main():
            ...     config = RoomConfig(room_id="r1", data_dir=tempfile.mkdtemp(), devices=[],
            ...                         encryption_key=base64.b64encode(bytes(32)).decode())
            ...     async with Room(config) as room:
            ...         serving = asyncio.create_task(anext(room.serve_visits(), "room closed"))
            ...     return await serving  # no check-in came before the room closed
            >>> asyncio.run(main())
            'room closed'
        """
        while await self._next_check_in():
            try:
                summary = await self.continue_visit()
            except TelemedroomError as exc:  # aborted and told already; the room serves the next
                logger.warning("room %s: visit aborted: %s", self.config.room_id, exc)
                continue
            yield summary

    async def _next_check_in(self) -> bool:
        """Wait until a visit is checked in (``True``) or the room is closed (``False``)."""
        while self._state is not RoomState.CHECKED_IN:
            if self._stack is None:
                return False
            self._wake.clear()
            await self._wake.wait()
        return self._stack is not None

    async def book_walk_in(self, patient: str, *, minutes: int = 20) -> Appointment:
        """Book a visit starting now, in this room with a practitioner of the schedule.

        For the demo and for tests: the embedded schedule has an on-call physician; a
        clinic books through its booking service instead.

        Args:
            patient: The patient's FHIR id (no name).
            minutes: The slot's length.

        Returns:
            The appointment; its ``booking_code`` checks the patient in.

        Raises:
            RoomError: The schedule has no practitioner.
            SlotUnavailable: The room or the practitioner is taken now.
        """
        from telemedroom.scheduling import Requirement, Service

        if self.scheduler is None:
            raise RoomError("the room is not open; use `async with Room(config)`")
        practitioners = [r.id for r in self.scheduler.resources.values() if r.kind == "practitioner"]
        if not practitioners:
            raise RoomError("the schedule has no practitioner to book a walk-in with")
        service = Service(
            id="walk-in",
            name="Walk-in consultation",
            duration=timedelta(minutes=minutes),
            requires=(Requirement(kind="room"), Requirement(kind="practitioner")),
            interval=timedelta(minutes=1),  # the next free minute, not the next 20-minute mark
        )
        now = self.scheduler.clock()
        slots = await self.scheduler.find_slots(
            service, now, now + timedelta(days=1), resources=[self.config.room_id, *practitioners], limit=1
        )
        if not slots:
            raise RoomError("no free slot for a walk-in within a day")
        return await self.scheduler.book(slots[0], patient, idempotency_key=uuid.uuid4().hex)

    def asgi_app(self) -> Starlette:
        """The patient kiosk's web app for this room, answering under ``/kiosk/``.

        Serve it with uvicorn on ``config.kiosk.host``/``port`` (loopback by default: the
        app then refuses any other client). Its video connections close with the room.

        Raises:
            MissingExtraError: Without ``telemedroom[server]``.
        """
        from telemedroom._kiosk import create_kiosk_app

        host = self.config.kiosk.host
        app = create_kiosk_app(self, language=self.config.language, allow_remote=host not in _LOOPBACK_HOSTS)
        self._kiosk_apps.append(app)
        return app

    def kiosk_tracks(self) -> KioskTracks:
        """The kiosk's self-view (a subscription of the room camera), the physician's video and voice.

        Each call makes new subscriptions; ``physician`` and ``physician_audio`` are
        ``None`` before admission (and until the physician's tracks arrive).
        """
        room = self._media.get("room")
        relay, video, audio = self._physician_relay, self._physician_video, self._physician_audio
        return KioskTracks(
            self_view=room.subscribe() if room is not None else None,
            physician=relay.subscribe(video, buffered=False) if video is not None else None,
            physician_audio=relay.subscribe(audio, buffered=False) if audio is not None else None,
        )


_ABORTABLE: Final = ABORTABLE
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})


_ROOM_CAMERA: Final[dict[str, object]] = {"width": 640, "height": 480, "frame_rate": 30}


def _media_sources(config: RoomConfig) -> dict[str, Any]:
    from telemedroom.devices.media import MediaSource, Role

    roles = {
        "room": (Role.ROOM_CAMERA, config.media.room_camera),
        "exam": (Role.EXAM_CAMERA, config.media.exam_camera),
        "microphone": (Role.MICROPHONE, config.media.microphone),
        "stethoscope": (Role.STETHOSCOPE, config.media.stethoscope),
    }
    sources: dict[str, Any] = {}
    for name, (role, spec) in roles.items():
        scheme, _, location = spec.partition(":")
        if spec == "synthetic":
            # the room camera at 640x480@30: the kiosk's self-view and the consultation's main video
            extra: dict[str, object] = (
                {"width": 640, "height": 480, "frame_rate": 30} if name == "room" else {}
            )
            sources[name] = MediaSource.synthetic(role, **extra)
        elif scheme == "file":
            sources[name] = MediaSource.file(role, location)
        else:
            sources[name] = MediaSource.device(role, location, backend=scheme)
    return sources


def _ice_servers(config: RoomConfig) -> list[Any] | None:
    from telemedroom.session.turn import IceServer

    if not config.session.ice_servers:
        return [] if config.session.embedded else None
    return [
        IceServer(
            urls=s.urls,
            username=s.username,
            credential=s.credential.get_secret_value() if s.credential else None,
        )
        for s in config.session.ice_servers
    ]


# Open around the clock: the room itself and, in embedded (demo) mode, an on-call physician.
_ALWAYS: Final = "FREQ=DAILY"
ON_CALL: Final = "on-call-physician"


async def _open_scheduler(config: RoomConfig, stack: AsyncExitStack, hook: Any) -> Scheduler:
    from datetime import date, time

    from telemedroom.scheduling import (
        AvailabilityRule,
        PostgresStore,
        Resource,
        Scheduler,
        ScheduleStore,
        SqliteStore,
    )

    url = config.schedule_url
    store: ScheduleStore
    if url.startswith("sqlite:///"):
        store = SqliteStore(url.removeprefix("sqlite:///"))
    else:
        store = PostgresStore(url)
    await stack.enter_async_context(store)
    always = (AvailabilityRule(rrule=_ALWAYS, starts=date(2020, 1, 1), opens=time(0), closes=time(23, 59)),)
    resources = [
        Resource(
            id=config.room_id, kind="room", name=config.name, timezone=config.timezone, availability=always
        )
    ]
    if config.session.embedded:
        resources.append(
            Resource(id=ON_CALL, kind="practitioner", name="On-call physician", availability=always)
        )
    return Scheduler(store, resources, join_tokens=hook, clock=lambda: datetime.now(UTC))
