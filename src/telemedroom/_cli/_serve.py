"""``telemedroom serve``: a room on its kiosk page, each visit carried on after the kiosk's check-in.

The kiosk page checks the patient in (``POST /kiosk/check-in`` calls
:meth:`Room.check_in`); from there :func:`carry_on` takes the visit through the room's
own steps - :meth:`Room.measure`, :meth:`Room.wait_for_physician`, the consultation
until the physician ends it, :meth:`Room.end_consultation` - exactly as
:meth:`Room.run_visit` does after its check-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from rich.console import Console

from telemedroom._cli._timeline import Timeline
from telemedroom.errors import TelemedroomError
from telemedroom.room import CheckedIn, Room, RoomConfig, RoomEvent, RoomState

logger = logging.getLogger("telemedroom.cli")


async def carry_on(room: Room) -> None:
    """From a checked-in visit to the wrap-up; an error aborts the visit (the room stays up)."""
    try:
        await room.measure()
        await room.wait_for_physician()
        peer = room.peer
        if peer is not None:
            await peer.ended.wait()
        await room.end_consultation()
    except TelemedroomError as exc:
        logger.warning("visit aborted: %s", exc)
        if room.state in (
            RoomState.CHECKED_IN,
            RoomState.MEASURING,
            RoomState.WAITING,
            RoomState.IN_CONSULTATION,
        ):
            await room.abort(f"visit failed: {type(exc).__name__}")


async def watch(room: Room, events: AsyncIterator[RoomEvent], timeline: Timeline) -> None:
    """Print each event; start :func:`carry_on` when the kiosk checks a patient in."""
    visits: set[asyncio.Task[None]] = set()
    try:
        async for event in events:
            timeline.event(event)
            if isinstance(event, CheckedIn):
                task = asyncio.create_task(carry_on(room))
                visits.add(task)
                task.add_done_callback(visits.discard)
    finally:
        for task in list(visits):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def serve_room(
    room: Room, console: Console, timeline: Timeline, *, extra: list[str] | None = None
) -> None:
    """Serve ``room.asgi_app()`` on ``[kiosk] host:port`` and print the URLs; run until cancelled."""
    from telemedroom.session.signaling import LocalServer

    config = room.config
    async with LocalServer(room.asgi_app(), host=config.kiosk.host, port=config.kiosk.port) as server:
        console.print(f"kiosk (patient):      {server.http_url}/kiosk/")
        if config.session.embedded and room.signaling_url:
            console.print(f"console (physician):  {http_url(room.signaling_url)}/console/")
        for line in extra or []:
            console.print(line)
        console.print("Ctrl-C stops the room.")
        await watch(room, room.events(), timeline)


def http_url(ws_url: str) -> str:
    """``ws://host:port`` -> ``http://host:port`` (``wss`` -> ``https``).

    Examples:
        >>> http_url("wss://session.example"), http_url("ws://127.0.0.1:8080")
        ('https://session.example', 'http://127.0.0.1:8080')
    """
    return "http" + ws_url.removeprefix("ws") if ws_url.startswith("ws") else ws_url


async def serve(config: RoomConfig, console: Console) -> None:
    """Open the room of ``config`` and serve it until cancelled (Ctrl-C)."""
    async with Room(config) as room:
        await serve_room(room, console, Timeline(console))
