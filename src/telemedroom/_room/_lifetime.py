"""Opening and closing a room: journal, outbox, audit, FHIR sink, signaling, schedule, devices, media."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, cast

from telemedroom._room._config import RoomConfig
from telemedroom._room._ending import Ending
from telemedroom._room._events import (
    RoomState,
)
from telemedroom._room._journal import Journal, recover_visit
from telemedroom._room._machine import ABORTABLE
from telemedroom._room._reopen import reopen_appointment
from telemedroom._room._sinks import join_token_issuer, open_fhir_sink, outbox_path

if TYPE_CHECKING:
    from telemedroom.scheduling import Scheduler

__all__ = ["ON_CALL", "Lifetime"]

logger = logging.getLogger("telemedroom.room")

_ABORTABLE: Final = ABORTABLE


class Lifetime(Ending):
    """What :class:`~telemedroom.room.Room` opens on ``async with`` and closes at the end."""

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
        self._journal = Journal(config.data_dir / "room-journal.sqlite", key=config.key)
        await self._journal.open()
        stack.push_async_callback(self._journal.aclose)
        self.outbox = await stack.enter_async_context(Outbox(outbox_path(config), key=config.key))
        await self._refusals.load(self.outbox)  # refusals from before: still shown
        if config.facial_measurements:  # a measurement aid: load the face-mesh model once, off the loop
            from telemedroom._room._facial import face_detector

            self._detector = await asyncio.to_thread(face_detector, True)
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
        if config.hub is not None:  # the clinic hub: signed heartbeats (_room/_heartbeat.py)
            from telemedroom._room._heartbeat import HeartbeatReporter, ReportingRoom

            room = cast("ReportingRoom", self)  # the Room facade adds events() to this mixin
            self.heartbeats = await stack.enter_async_context(HeartbeatReporter.for_room(room))

    async def _start_signaling(self, stack: AsyncExitStack) -> None:
        from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
        from telemedroom.session.tokens import TokenIssuer, TokenVerifier

        self._issuer = TokenIssuer.generate(f"{self.config.room_id}-embedded")
        app = create_app(
            SignalingConfig(
                verifier=TokenVerifier(self._issuer.public_keys()),
                recording=self.config.recording,
                sfu=self.config.session.sfu_config(),  # multi-party visits through Janus
            )
        )
        if app.state.hub.sfu is not None:  # LocalServer runs no lifespan: close Janus rooms here
            stack.push_async_callback(app.state.hub.sfu.aclose)
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
        assert self.audit is not None
        aborted = await recover_visit(self._journal, self.outbox, self.audit, self.config.room_id)
        if aborted is not None:  # nothing was recorded; the booking code works again
            await reopen_appointment(
                self.scheduler,
                self.audit,
                room_id=self.config.room_id,
                appointment_id=aborted,
                reason="recovered after a crash",
            )


def _media_sources(config: RoomConfig) -> dict[str, Any]:
    from telemedroom._settings import media_source
    from telemedroom.devices.media import Role

    media = config.media
    return {
        # the room camera at 640x480@30: the kiosk's self-view and the consultation's main video
        "room": media_source(Role.ROOM_CAMERA, media.room_camera, width=640, height=480, frame_rate=30),
        "exam": media_source(Role.EXAM_CAMERA, media.exam_camera),
        "microphone": media_source(Role.MICROPHONE, media.microphone),
        "stethoscope": media_source(Role.STETHOSCOPE, media.stethoscope),
    }


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
    # closes at the next midnight (time(0)): the days join, so a walk-in may cross midnight
    always = (AvailabilityRule(rrule=_ALWAYS, starts=date(2020, 1, 1), opens=time(0), closes=time(0)),)
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
