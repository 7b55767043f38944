"""Fixtures for the kiosk tests: a scripted room behind the kiosk app, served on loopback.

``ScriptedRoom`` is a small, honest stand-in for :class:`telemedroom.Room` at this layer:
it publishes the real event models (``telemedroom.room``) to every subscriber exactly as
``Room.events()`` does (the current state first), refuses booking codes with the real
``CheckInRefused``, and hands out real aiortc tracks from synthetic cameras
(``MediaDevice.subscribe()``, one per kiosk connection). The test drives the visit by
publishing the events a room would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from telemedroom._kiosk import KioskTracks, close_kiosk, create_kiosk_app
from telemedroom.devices.media import MediaDevice, MediaSource, Role
from telemedroom.errors import CheckInRefused
from telemedroom.room import CheckedIn, CheckInRejected, RoomEvent, RoomState, StateChanged
from telemedroom.session.signaling import LocalServer

BOOKING_CODE = "K7M2-QX4P"


class ScriptedRoom:
    """Publishes real room events to its subscribers; the test says which (see the module)."""

    def __init__(
        self, language: str = "de", devices: tuple[str, ...] = ("blood_pressure", "pulse_oximeter")
    ) -> None:
        self.state = RoomState.IDLE
        self.language = language
        self.devices = list(devices)
        self.visit_id: str | None = None
        self.attempts = 0
        self.refuse_next: str | None = None
        self._subscribers: list[asyncio.Queue[RoomEvent | None]] = []
        self.unsubscribed = asyncio.Event()
        self.camera: MediaDevice | None = None
        self.physician_camera: MediaDevice | None = None
        self.handed_out: list[object] = []

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def events(self) -> AsyncIterator[RoomEvent]:
        queue: asyncio.Queue[RoomEvent | None] = asyncio.Queue()
        queue.put_nowait(StateChanged(state=self.state, previous=None, visit_id=self.visit_id))
        self._subscribers.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)
            self.unsubscribed.set()

    def publish(self, event: RoomEvent) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    def move(self, state: RoomState) -> None:
        previous, self.state = self.state, state
        self.publish(
            StateChanged(state=state, previous=previous, visit_id=self.visit_id, at=datetime.now(UTC))
        )

    def end_streams(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def check_in(self, booking_code: str) -> str:
        if self.state is not RoomState.IDLE:
            raise CheckInRefused("busy")
        self.attempts += 1
        reason = self.refuse_next
        if reason is None and booking_code != BOOKING_CODE:
            reason = "too_many_attempts" if self.attempts > 3 else "unknown_code"
        if reason is not None:
            self.publish(CheckInRejected(reason=reason))
            raise CheckInRefused(reason)
        self.visit_id = "visit-1"
        self.publish(
            CheckedIn(
                visit_id="visit-1", appointment_id="apt-1", language=self.language, devices=self.devices
            )
        )
        self.move(RoomState.CHECKED_IN)
        return self.visit_id

    def kiosk_tracks(self) -> KioskTracks:
        tracks = KioskTracks(
            self_view=self.camera.subscribe() if self.camera is not None else None,
            physician=self.physician_camera.subscribe() if self.physician_camera is not None else None,
        )
        self.handed_out.extend(t for t in (tracks.self_view, tracks.physician) if t is not None)
        return tracks


@dataclass
class Kiosk:
    room: ScriptedRoom
    server: LocalServer

    @property
    def url(self) -> str:
        return f"{self.server.http_url}/kiosk/"

    @property
    def events_url(self) -> str:
        return f"{self.server.ws_url}/kiosk/events"


@pytest.fixture
async def room() -> AsyncIterator[ScriptedRoom]:
    scripted = ScriptedRoom()
    async with MediaDevice(MediaSource.synthetic(Role.ROOM_CAMERA, width=640, height=480)) as camera:
        scripted.camera = camera
        yield scripted
        scripted.end_streams()


@pytest.fixture
async def kiosk(room: ScriptedRoom) -> AsyncIterator[Kiosk]:
    app = create_kiosk_app(room, language="de")
    async with LocalServer(app) as server:
        yield Kiosk(room=room, server=server)
        room.end_streams()
        await close_kiosk(app)
