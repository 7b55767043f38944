"""``telemedroom serve``: a room on its kiosk page, each visit carried on after the kiosk's check-in.

The kiosk page checks the patient in (``POST /kiosk/check-in`` calls
:meth:`Room.check_in`); from there :func:`carry_on` takes the visit through the room's
own steps - :meth:`Room.measure`, :meth:`Room.wait_for_physician`, the consultation
until the physician ends it, :meth:`Room.end_consultation` - as :meth:`Room.run_visit`
does after its check-in, and then delivers the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from rich.console import Console

from telemedroom._cli._timeline import Timeline
from telemedroom.errors import TelemedroomError
from telemedroom.room import ABORTABLE, CheckedIn, Room, RoomConfig, RoomEvent


def http_url(ws_url: str) -> str:
    """``ws://host:port`` -> ``http://host:port`` (``wss`` -> ``https``).

    Examples:
        >>> http_url("wss://session.example"), http_url("ws://127.0.0.1:8080")
        ('https://session.example', 'http://127.0.0.1:8080')
    """
    return "http" + ws_url.removeprefix("ws") if ws_url.startswith("ws") else ws_url


def console_link(room: Room, appointment_id: str) -> str | None:
    """The physician console with a join token for the visit (embedded signaling only)."""
    if not room.config.session.embedded or room.signaling_url is None:
        return None
    return f"{http_url(room.signaling_url)}/console/#token={room.physician_token(appointment_id)}"


async def carry_on(room: Room, timeline: Timeline) -> None:
    """From a checked-in visit to the wrap-up and delivery; an error aborts the visit, the room stays up."""
    try:
        await room.measure()
        await room.wait_for_physician()
        if room.peer is not None:
            await room.peer.ended.wait()
        await room.end_consultation()
    except TelemedroomError as exc:
        timeline.line("error", f"visit aborted: {exc}", "bold red")
        if room.state in ABORTABLE:
            await room.abort(f"visit failed: {type(exc).__name__}")
        return
    try:
        drained = await room.drain_outbox()
    except TelemedroomError as exc:  # the record stays in the outbox: `telemedroom outbox drain`
        timeline.line("error", f"outbox not delivered: {exc}", "bold red")
        return
    timeline.line("record", f"outbox delivered: {drained.sent} bundle(s)", "green")


async def watch(room: Room, events: AsyncIterator[RoomEvent], timeline: Timeline) -> None:
    """Print each event; carry each visit on after the kiosk's check-in."""
    visits: set[asyncio.Task[None]] = set()
    try:
        async for event in events:
            timeline.event(event)
            if isinstance(event, CheckedIn):
                link = console_link(room, event.appointment_id)
                if link is not None:
                    timeline.line("session", f"physician console for this visit: {link}", "magenta")
                task = asyncio.create_task(carry_on(room, timeline))
                visits.add(task)
                task.add_done_callback(visits.discard)
    finally:
        for task in list(visits):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def serve_room(
    room: Room,
    console: Console,
    timeline: Timeline,
    *,
    extra: list[str] | None = None,
    listening: asyncio.Event | None = None,
) -> None:
    """Serve the kiosk on ``[kiosk] host:port``, print its URL, carry visits on; run until cancelled.

    ``listening`` is set once the kiosk accepts connections.
    """
    from telemedroom.session.signaling import LocalServer

    config = room.config
    # Room.asgi_app(): the kiosk under /kiosk/, loopback-only unless [kiosk] host says
    # otherwise; its video connections close with the room.
    async with LocalServer(room.asgi_app(), host=config.kiosk.host, port=config.kiosk.port) as server:
        console.print(f"kiosk (patient): {server.http_url}/kiosk/?lang={config.language}", soft_wrap=True)
        for line in extra or []:
            console.print(line, soft_wrap=True)
        console.print("Ctrl-C stops the room.")
        if listening is not None:
            listening.set()
        await watch(room, room.events(), timeline)


async def serve(config: RoomConfig, console: Console) -> None:
    """Open the room of ``config`` and serve it until cancelled (Ctrl-C)."""
    async with Room(config) as room:
        await serve_room(room, console, Timeline(console, zone=config.zone))
