"""The :class:`Room` facade: devices, session, FHIR, schedule and audit, one visit at a time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Final

from telemedroom._room._checkin import CHECK_IN_EARLY, CheckIn
from telemedroom._room._core import _Subscription
from telemedroom._room._events import (
    RoomErrorEvent,
    RoomEvent,
    RoomState,
)
from telemedroom._room._guide import Guide
from telemedroom._room._lifetime import Lifetime
from telemedroom._room._machine import ABORTABLE
from telemedroom._room._models import VisitSummary
from telemedroom.errors import (
    TelemedroomError,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette


__all__ = ["CHECK_IN_EARLY", "Room"]

logger = logging.getLogger("telemedroom.room")

_ABORTABLE: Final = ABORTABLE
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class Room(Lifetime, CheckIn, Guide):
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

    def events(self) -> AsyncIterator[RoomEvent]:
        """Subscribe to the room's events; the first is a :class:`StateChanged` with the current state.

        During a multi-party visit the last :class:`ParticipantsChanged` follows it.

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
        for event in self._opening_events():  # the state, then refusals still standing
            subscription.push(event)
        self._subscribers.add(subscription)
        return subscription

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


if TYPE_CHECKING:
    from telemedroom._kiosk import KioskBackend

    def _a_room_is_a_kiosk_backend(room: Room) -> KioskBackend:
        return room  # mypy checks that Room satisfies the kiosk's protocol
