"""``telemedroom apartment serve``: the health apartment's gateway, its screen and the ward's line.

Runs :meth:`Apartment.run` (the listener, the care plan's deadlines, delivery to the
clinic) and serves the patient's screen on ``[screen] host:port``; logs go to
``data_dir/logs/apartment.log``, rotated (5 files of 1 MB). The terminal gets a line per
event (a reading taken, an alert, a device, the ward's line, a record the clinic refused),
without health data: values and the ward's notes stay on the screen and in the records.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.text import Text

from telemedroom.apartment import (
    AlertChanged,
    Apartment,
    ApartmentConfig,
    ApartmentEvent,
    CallChanged,
    DeviceChanged,
    NoteAdded,
    ReadingAccepted,
    RecordRefused,
)

__all__ = ["event_line", "print_events", "rotating_log", "serve"]


def _alert(e: AlertChanged) -> tuple[str, str]:
    style = "bold red" if e.alert.severity == "high" and e.change in ("raised", "escalated") else "yellow"
    # a device or gateway alert says what is wrong with the equipment; a care-plan alert's
    # sentence holds the patient's values, so only its rule is named here
    detail = f": {e.alert.message}" if e.alert.rule_type == "device" else ""
    return style, f"{e.change} {e.alert.rule_id} ({e.alert.severity}){detail}"


def _call(e: CallChanged) -> tuple[str, str]:
    reason = f" ({e.reason})" if e.reason else ""
    who = f", with {', '.join(e.participants)}" if e.participants else ""
    return ("red" if e.state == "failed" else "magenta"), f"{e.state}{reason}{who}"


# event type -> (label, how to word it: (style, text))
_LINES: dict[type[Any], tuple[str, Callable[[Any], tuple[str, str]]]] = {
    ReadingAccepted: (
        "reading",
        lambda e: ("green", f"{e.kind.replace('_', ' ')} taken" + (f" from {e.device}" if e.device else "")),
    ),
    AlertChanged: ("alert", _alert),
    DeviceChanged: (
        "device",
        lambda e: (
            "red" if e.status == "failed" else "blue",
            f"{e.address} {e.status}" + (f", battery {e.battery} %" if e.battery is not None else ""),
        ),
    ),
    NoteAdded: ("ward", lambda e: ("cyan", f"a message from {e.by} is on the patient's screen")),
    CallChanged: ("call", _call),
    RecordRefused: (
        "record",
        lambda e: ("bold red", f"outbox row {e.outbox_row} refused by the clinic's FHIR server: {e.reason}"),
    ),
}


def event_line(event: ApartmentEvent, zone: ZoneInfo) -> Text:
    """The terminal's line for an apartment event: local time, what, and no health data.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from zoneinfo import ZoneInfo
        >>> event = ReadingAccepted(at=datetime(2026, 12, 3, 6, 30, tzinfo=UTC), kind="body_weight",
        ...                         device="C0:FF:EE:00:00:04")
        >>> print(event_line(event, ZoneInfo("Europe/Berlin")))
        07:30:00 reading  body weight taken from C0:FF:EE:00:00:04
    """
    label, word = _LINES[type(event)]
    style, text = word(event)
    return Text.assemble(f"{event.at.astimezone(zone):%H:%M:%S} ", (f"{label:<8} ", "bold"), (text, style))


async def print_events(events: AsyncIterator[ApartmentEvent], console: Console, zone: ZoneInfo) -> None:
    """Print every event of ``events`` (:meth:`Apartment.events`) as it happens."""
    async for event in events:
        console.print(event_line(event, zone), soft_wrap=True)


def rotating_log(data_dir: Path) -> logging.Handler:
    """The gateway's log file: ``data_dir/logs/apartment.log``, 5 files of 1 MB (no health data is logged).

    Examples:
        >>> import tempfile, pathlib
        >>> handler = rotating_log(pathlib.Path(tempfile.mkdtemp()))
        >>> handler.maxBytes, handler.backupCount
        (1000000, 5)
        >>> handler.close()
    """
    folder = data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        folder / "apartment.log", maxBytes=1_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    return handler


async def serve(config: ApartmentConfig, console: Console, *, listening: asyncio.Event | None = None) -> None:
    """Open the apartment of ``config`` and run it until cancelled (Ctrl-C)."""
    from telemedroom.apartment._screen import screen_app
    from telemedroom.session.signaling import LocalServer

    handler = rotating_log(config.data_dir)
    logging.getLogger("telemedroom").addHandler(handler)
    logging.getLogger("telemedroom").setLevel(logging.INFO)
    try:
        async with Apartment(config) as apartment:
            app = screen_app(apartment)
            async with LocalServer(app, host=config.screen.host, port=config.screen.port) as server:
                console.print(f"apartment {config.apartment_id} ({config.name}) for {config.patient}")
                console.print(f"screen (patient): {server.http_url}/screen/", soft_wrap=True)
                devices = ", ".join(f"{d.kind} {d.address}" for d in config.devices) or "none"
                console.print(f"paired devices: {devices}")
                ward = "not configured" if apartment.ward is None else apartment.ward.url
                console.print(f"ward line: {ward}", soft_wrap=True)
                hub = "not configured" if config.hub is None else config.hub.url
                console.print(f"clinic hub: {hub}", soft_wrap=True)
                console.print("Ctrl-C stops the apartment.")
                async with asyncio.TaskGroup() as group:
                    group.create_task(print_events(apartment.events(), console, config.zone))
                    await asyncio.sleep(0)  # subscribed before anything runs
                    if listening is not None:
                        listening.set()
                    group.create_task(apartment.run())
    finally:
        logging.getLogger("telemedroom").removeHandler(handler)
        handler.close()
