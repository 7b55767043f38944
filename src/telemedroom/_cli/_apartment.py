"""``telemedroom apartment serve``: the health apartment's gateway, its screen and the ward's line.

Runs :meth:`Apartment.run` (the listener, the care plan's deadlines, delivery to the
clinic) and serves the patient's screen on ``[screen] host:port``; logs go to
``data_dir/logs/apartment.log``, rotated (5 files of 1 MB), and to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
from pathlib import Path

from rich.console import Console

from telemedroom.apartment import Apartment, ApartmentConfig

__all__ = ["rotating_log", "serve"]


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
                if listening is not None:
                    listening.set()
                await apartment.run()
    finally:
        logging.getLogger("telemedroom").removeHandler(handler)
        handler.close()
