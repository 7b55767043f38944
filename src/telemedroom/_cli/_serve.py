"""``telemedroom serve``: a room on its kiosk page, each visit carried on after the kiosk's check-in.

The kiosk page checks the patient in (``POST /kiosk/check-in`` calls
:meth:`Room.check_in`); :meth:`Room.serve_visits` carries each visit on from there, as
:meth:`Room.run_visit` does after its own check-in. This module prints the room's
events and delivers the outbox after each visit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from rich.console import Console

from telemedroom._cli._timeline import Timeline
from telemedroom.errors import TelemedroomError
from telemedroom.room import CheckedIn, Room, RoomConfig, RoomEvent


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


async def deliver(room: Room, timeline: Timeline) -> None:
    """Carry on every visit the kiosk checks in; deliver the outbox after each."""
    async for _summary in room.serve_visits():
        try:
            drained = await room.drain_outbox()
        except TelemedroomError as exc:  # the record stays in the outbox: `telemedroom outbox drain`
            timeline.line("error", f"outbox not delivered: {exc}", "bold red")
            continue
        if drained.rejected:  # each also came as a RecordRejected event, printed by watch()
            rows = ", ".join(map(str, drained.rejected))
            timeline.line(
                "rejected", f"kept in the outbox, rows {rows}: telemedroom outbox requeue", "bold red"
            )
        timeline.line("record", f"outbox delivered: {drained.sent} bundle(s)", "green")


async def redeliver(room: Room, timeline: Timeline, every: float) -> None:
    """Every ``every`` seconds, deliver what waits in the outbox, between visits too.

    A row requeued after a refusal (``telemedroom outbox requeue``, from another shell)
    goes out without waiting for the next visit, and its refusal leaves the kiosk's staff
    line (``RecordDelivered``); a record the network kept back goes out once it is up.
    """
    while True:
        await asyncio.sleep(every)  # a poll of the outbox file: another process may requeue
        if room.outbox is None or not await room.outbox.pending():
            continue
        try:
            drained = await room.drain_outbox()
        except TelemedroomError as exc:
            timeline.line("error", f"outbox not delivered: {exc}", "bold red")
            continue
        if drained.sent:
            timeline.line("record", f"outbox delivered: {drained.sent} bundle(s)", "green")


async def watch(room: Room, events: AsyncIterator[RoomEvent], timeline: Timeline) -> None:
    """Print each event, and the physician console's link for each visit checked in."""
    async for event in events:
        timeline.event(event)
        if isinstance(event, CheckedIn):
            link = console_link(room, event.appointment_id)
            if link is not None:
                timeline.line("session", f"physician console for this visit: {link}", "magenta")


async def serve_room(
    room: Room,
    console: Console,
    timeline: Timeline,
    *,
    extra: list[str] | None = None,
    listening: asyncio.Event | None = None,
    redeliver_every: float = 60.0,
) -> None:
    """Serve the kiosk on ``[kiosk] host:port``, print its URL, carry visits on; run until cancelled.

    ``listening`` is set once the kiosk accepts connections. The outbox is delivered after
    each visit and, when rows wait, every ``redeliver_every`` seconds.
    """
    from telemedroom.session.signaling import LocalServer

    config = room.config
    # Room.asgi_app(): the kiosk under /kiosk/, loopback-only unless [kiosk] host says
    # otherwise; its video connections close with the room.
    async with LocalServer(room.asgi_app(), host=config.kiosk.host, port=config.kiosk.port) as server:
        # plain /kiosk/: the page follows each visit's language (CheckedIn.language)
        console.print(f"kiosk (patient): {server.http_url}/kiosk/", soft_wrap=True)
        for line in extra or []:
            console.print(line, soft_wrap=True)
        console.print("Ctrl-C stops the room.")
        events = room.events()
        if listening is not None:
            listening.set()
        async with asyncio.TaskGroup() as group:
            group.create_task(watch(room, events, timeline))
            group.create_task(deliver(room, timeline))
            group.create_task(redeliver(room, timeline, redeliver_every))


async def serve(config: RoomConfig, console: Console) -> None:
    """Open the room of ``config`` and serve it until cancelled (Ctrl-C)."""
    async with Room(config) as room:
        await serve_room(room, console, Timeline(console, zone=config.zone))
