"""Live vitals: during the consultation, keep taking readings from the room's devices.

A physician often asks for a measurement again (a second blood pressure). While the
room is in consultation, :class:`LiveVitals` scans for the configured devices over the
room's :class:`~telemedroom.devices.DeviceManager`; each device that advertises (a cuff
advertises again when it has a new reading) is connected and every final reading it
indicates is handed to the room as it arrives. A device that drops the link is
reconnected by its :class:`~telemedroom.devices.Connection`; one that is gone for good
is looked for again by the next scan. Stored-record devices (the glucometer) are left
out: their records are transferred once, while measuring.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from telemedroom._room._devices import DEVICE_GUIDE, is_final
from telemedroom._room._events import DeviceKind
from telemedroom.errors import TelemedroomError
from telemedroom.measurements import Measurement

__all__ = ["LiveVitals", "live_kinds"]

logger = logging.getLogger("telemedroom.room")

# Seconds to wait before scanning again after the radio refused a scan.
SCAN_RETRY_S: Final = 1.0

OnReading = Callable[[DeviceKind, Measurement], Awaitable[None]]


def live_kinds(kinds: Sequence[DeviceKind]) -> tuple[DeviceKind, ...]:
    """The kinds read live: every configured one that measures (not a stored-record transfer).

    Examples:
        >>> live_kinds(["blood_pressure", "glucometer", "scale"])
        ('blood_pressure', 'scale')
    """
    return tuple(kind for kind in kinds if not DEVICE_GUIDE[kind].stored_records)


def _kind_of(services: Sequence[str], kinds: Sequence[DeviceKind]) -> DeviceKind | None:
    from telemedroom.devices.registry import short_service

    advertised = {short_service(uuid) for uuid in services}
    return next((kind for kind in kinds if DEVICE_GUIDE[kind].service in advertised), None)


class LiveVitals:
    """A background reader of the room's devices, from :meth:`start` until :meth:`aclose`.

    Args:
        manager: The room's ``DeviceManager`` (open).
        kinds: The kinds of device to read (see :func:`live_kinds`).
        on_reading: Awaited with each final reading, in the order it arrives per device.

    Attributes:
        connected: The addresses of the devices connected right now.

    Examples:
        >>> import asyncio
        >>> async def main():
        ...     async def keep(kind, reading): ...
        ...     live = LiveVitals(None, (), keep)  # no kinds: nothing to scan for
        ...     live.start()
        ...     await live.aclose()
        ...     return live.running
        >>> asyncio.run(main())
        False
    """

    def __init__(self, manager: Any, kinds: Sequence[DeviceKind], on_reading: OnReading) -> None:
        self._manager = manager
        self._kinds = tuple(kinds)
        self._on_reading = on_reading
        self._scanner: asyncio.Task[None] | None = None
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self.connected: set[str] = set()

    @property
    def running(self) -> bool:
        """Whether it is scanning or reading."""
        return self._scanner is not None and not self._scanner.done()

    def start(self) -> None:
        """Start scanning (nothing to do without a manager or kinds)."""
        if self._manager is None or not self._kinds or self._scanner is not None:
            return
        self._scanner = asyncio.ensure_future(self._scan())

    async def _scan(self) -> None:
        services = [DEVICE_GUIDE[kind].service for kind in self._kinds]
        # Not `while True`: a cancellation that lands just as a scan's wait times out is
        # lost inside the scan (asyncio.wait_for in Python 3.11), and the loop must end anyway.
        while not self._stopping:
            try:
                async with contextlib.aclosing(
                    self._manager.scan(timeout=self._manager.timeout, services=services)
                ) as seen:
                    async for device in seen:
                        if self._stopped():
                            break
                        kind = _kind_of(device.services, self._kinds)
                        if kind is not None and device.address not in self._readers:
                            reader = asyncio.ensure_future(self._read(kind, device))
                            self._readers[device.address] = reader
                            reader.add_done_callback(functools.partial(self._forget, device.address))
            except TelemedroomError as exc:
                logger.warning("live vitals: cannot scan (%s); trying again", exc)
                await asyncio.sleep(SCAN_RETRY_S)

    def _stopped(self) -> bool:
        return self._stopping

    def _forget(self, address: str, _task: asyncio.Task[None]) -> None:
        self._readers.pop(address, None)

    async def _read(self, kind: DeviceKind, device: Any) -> None:
        try:
            async with await self._connect(device) as connection:
                if self._stopped():  # a cancellation lost while connecting: close at once
                    return
                self.connected.add(device.address)
                async for reading in connection.measurements():
                    if is_final(reading):
                        await self._on_reading(kind, reading)
        except TelemedroomError as exc:  # gone for good: the next scan finds it when it is back
            logger.info("live vitals: %s %s: %s", kind, device.address, exc)
        finally:
            self.connected.discard(device.address)

    async def _connect(self, device: Any) -> Any:
        # A connect cancelled half-way would leave the link up with nobody to close it: let
        # it finish (each of its steps is bounded by the manager's timeout), close it, and
        # only then give in to the cancellation.
        connecting = asyncio.ensure_future(self._manager.connect(device))
        try:
            return await asyncio.shield(connecting)
        except asyncio.CancelledError:
            with contextlib.suppress(TelemedroomError):
                connection = await connecting
                await connection.aclose()
            raise

    async def aclose(self) -> None:
        """Stop scanning and reading; every connection is closed when this returns."""
        self._stopping = True
        tasks = [task for task in (self._scanner, *self._readers.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._readers.clear()
