"""``telemedroom booking serve|purge``: the residents' booking page on its own, and its retention.

``serve`` runs the page with uvicorn (access logs off: a manage link's token is in its
path) and deletes expired residents' details at start and every six hours; ``purge``
does the deletion once (for a cron job or a systemd timer).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from telemedroom.booking import BookingConfig, BookingService

PURGE_EVERY_S = 6 * 3600


def load(path: Path) -> BookingConfig:
    """The configuration file (a ``BookingConfigError`` names the key and the file)."""
    from telemedroom.booking import BookingConfig

    return BookingConfig.from_toml(path)


async def purge(config: BookingConfig) -> int:
    """Delete the expired residents' details once; returns how many."""
    from telemedroom.booking import open_booking

    async with open_booking(config) as service:
        return await service.purge()


async def _purge_regularly(service: BookingService) -> None:
    while True:
        await service.purge()
        await asyncio.sleep(PURGE_EVERY_S)


async def serve(config: BookingConfig, host: str, port: int, console: Console) -> None:
    """Serve the page until cancelled (Ctrl-C)."""
    import uvicorn

    from telemedroom.booking import create_booking_api, create_booking_app, open_booking

    async with open_booking(config) as service:
        api = create_booking_api(service.scheduler, service.services) if config.api else None
        app = create_booking_app(service, api=api)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning", lifespan="on")
        )
        console.print(f"booking page: http://{host}:{port}/booking/  (public address {config.public_url})")
        purging = asyncio.create_task(_purge_regularly(service))
        try:
            await server.serve()
        finally:
            purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purging
