"""The listener: scans all the time, and talks to a paired device whenever it advertises.

Home devices are not guided through a visit as in the room: the patient measures when
the plan says, and the device advertises afterwards (a cuff with a new reading, a scale
stepped on, a glucometer with stored records). The listener connects, takes what the
device holds (every queued reading; glucose records since the last sequence number it
took, through the Record Access Control Point), reads the battery and the clock, hands
everything to the :class:`~telemedroom.apartment.Apartment` and lets the device go once
it has been quiet for ``quiet_after_s``. A device it just talked to is left alone for
``revisit_after_s``. A Bluetooth adapter that disappears is retried with backoff, with
a ``bluetooth-adapter`` alert while it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from telemedroom.apartment._events import DeviceChanged
from telemedroom.errors import DeviceConnectionError, DeviceError, RecordAccessError, StorageFullError

if TYPE_CHECKING:
    from telemedroom.apartment._config import PairedDevice
    from telemedroom.apartment._parts import GatewayParts
    from telemedroom.devices import Connection, DeviceManager, DiscoveredDevice
    from telemedroom.measurements import Measurement

__all__ = ["Listener"]

logger = logging.getLogger("telemedroom.apartment")

_NO_RECORDS_FOUND: Final = 0x06  # RACP response code (GSS RACP)
# The device's own time stamps are kept (never corrected by an estimated skew), so a
# stored reading sent again always gets the same identifier; a drifting clock is set
# and reported instead.
_NEVER_CORRECT: Final = timedelta(days=36500)
_LONGEST_PAUSE: Final = 600.0


class Listener:
    """The apartment's Bluetooth side (see the module docstring).

    Args:
        apartment: Where readings and device health go.
        adapter_backoff: Longest pause, seconds, between tries while the adapter is gone.

    Attributes:
        sessions: Completed device sessions (connect, take, let go).
        accepted: New readings taken.
        adapter_failures: Scans that could not start, in a row.
    """

    def __init__(self, apartment: GatewayParts, *, adapter_backoff: float = 60.0) -> None:
        self.apartment = apartment
        self.adapter_backoff = adapter_backoff
        self.sessions = 0
        self.accepted = 0
        self.adapter_failures = 0
        self._busy: set[str] = set()
        self._left: dict[str, float] = {}
        self._idle: dict[str, int] = {}  # sessions in a row that brought nothing new, per device
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Scan, connect and take readings until cancelled."""
        from telemedroom.devices import DeviceManager, ReconnectPolicy

        config = self.apartment.config
        manager = DeviceManager(
            backend=self.apartment.ble_backend,
            tz=config.zone,
            timeout=config.device_timeout_s,
            reconnect=ReconnectPolicy(attempts=3, initial_delay=0.5, max_delay=5.0),
            clock_tolerance=_NEVER_CORRECT,
        )
        async with manager:
            try:
                current = asyncio.current_task()
                while True:
                    await self._scan_once(manager)
                    if current is not None and current.cancelling():
                        # asyncio.wait_for in the scan (Python 3.11) can swallow a
                        # cancellation that lands as an advertisement arrives
                        raise asyncio.CancelledError
            finally:
                for task in self._tasks:
                    task.cancel()
                if self._tasks:
                    # a connect cut short may not end at once (see DeviceManager.connect)
                    await asyncio.wait(self._tasks, timeout=config.device_timeout_s)

    async def _scan_once(self, manager: DeviceManager) -> None:
        config = self.apartment.config
        loop = asyncio.get_running_loop()
        try:
            async with contextlib.aclosing(manager.scan(timeout=config.scan_window_s)) as found:
                async for device in found:
                    paired = config.device(device.address)
                    if paired is None or device.address in self._busy:
                        continue
                    if loop.time() - self._left.get(device.address, float("-inf")) < self._pause(
                        device.address
                    ):
                        continue
                    if self.apartment.storage_full:
                        continue  # the device keeps its readings until there is room
                    self._busy.add(device.address)
                    task = asyncio.create_task(self._session(manager, device, paired))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except DeviceConnectionError as exc:
            self.adapter_failures += 1
            logger.warning("cannot scan (%d in a row): %s", self.adapter_failures, exc)
            await self.apartment.device_alert(
                "bluetooth-adapter",
                "gateway.bluetooth",
                f"the apartment gateway cannot use its Bluetooth adapter: {exc}",
                "high",
                active=True,
            )
            await asyncio.sleep(min(self.adapter_backoff, 0.5 * 2 ** min(self.adapter_failures, 10)))
            return
        if self.adapter_failures:
            logger.info("the Bluetooth adapter is back")
            self.adapter_failures = 0
            await self.apartment.device_alert(
                "bluetooth-adapter",
                "gateway.bluetooth",
                "the Bluetooth adapter is back",
                "high",
                active=False,
            )

    def _pause(self, address: str) -> float:
        """How long to leave a device alone after a session: doubling while it brings nothing new.

        A device that keeps advertising with nothing to send (many do while switched on)
        is not connected to again and again; one that brought a reading is listened to
        again after ``revisit_after_s``.
        """
        idle = self._idle.get(address, 0)
        return min(self.apartment.config.revisit_after_s * 2.0**idle, _LONGEST_PAUSE)

    async def _session(self, manager: DeviceManager, device: DiscoveredDevice, paired: PairedDevice) -> None:
        apartment = self.apartment
        address = device.address
        before = self.accepted
        try:
            async with await manager.connect(device) as connection:
                apartment._publish(
                    DeviceChanged(at=apartment.clock.now(), address=address, status="connected")
                )
                skew = await self._clock(connection)
                battery = await self._battery(connection)
                last = None
                if paired.kind == "glucometer":
                    last = await self._records(connection, address)
                else:
                    await self._stream(connection, address)
                await apartment.device_seen(
                    address,
                    battery=battery,
                    clock_skew=skew,
                    malformed=connection.stats.malformed,
                    last_sequence=last,
                )
            self.sessions += 1
        except StorageFullError as exc:
            logger.warning("%s: reading refused: %s", address, exc)
        except DeviceError as exc:
            logger.info("%s: session ended early: %s", address, exc)
            apartment._publish(DeviceChanged(at=apartment.clock.now(), address=address, status="failed"))
        finally:
            self._idle[address] = 0 if self.accepted > before else self._idle.get(address, 0) + 1
            self._busy.discard(address)
            self._left[address] = asyncio.get_running_loop().time()

    async def _clock(self, connection: Connection) -> timedelta | None:
        """The device's clock skew (set when it drifts or was never set)."""
        skew = connection.clock_skew
        limit = timedelta(minutes=self.apartment.config.health.clock_drift_minutes)
        if not connection.clock_set or (skew is not None and abs(skew) > limit):
            with contextlib.suppress(DeviceError):
                await connection.set_time()
        if not connection.clock_set and skew is None:
            return None
        return skew

    async def _battery(self, connection: Connection) -> int | None:
        try:
            return await connection.battery_level()
        except DeviceError as exc:
            logger.info("%s: no battery level: %s", connection.address, exc)
            return None

    async def _records(self, connection: Connection, address: str) -> int | None:
        """Stored glucose records since the last one taken; returns the last sequence number."""
        known = await self.apartment.journal.device(address)
        since = None if known.last_sequence is None else known.last_sequence + 1
        try:
            records = await connection.glucose_records(since=since)
        except RecordAccessError as exc:
            if exc.response_code == _NO_RECORDS_FOUND:
                return known.last_sequence
            raise
        for record in records:
            await self._accept(record, address)
        return max((r.sequence_number for r in records), default=known.last_sequence)

    async def _stream(self, connection: Connection, address: str) -> None:
        """Every reading the device holds, until it is quiet for ``quiet_after_s``."""
        quiet = self.apartment.config.quiet_after_s
        async with contextlib.aclosing(connection.measurements()) as stream:
            while True:
                try:
                    reading = await asyncio.wait_for(anext(stream), quiet)
                except (TimeoutError, StopAsyncIteration):
                    return
                await self._accept(reading, address)

    async def _accept(self, reading: Measurement, address: str) -> None:
        if await self.apartment.accept(reading, device=address):
            self.accepted += 1
