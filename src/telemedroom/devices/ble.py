"""Bluetooth LE connections: scan, connect, subscribe, reconnect, fetch glucose records.

Built on bleak (extra ``ble``), imported only when a :class:`DeviceManager` opens. The
``backend=`` argument goes to bleak's ``BleakScanner``/``BleakClient``, so any bleak
backend works, including the simulated :class:`telemedroom.testing.BumbleBackend`.
Errors of bleak (and of whatever is beneath it) become
:class:`~telemedroom.errors.DeviceNotFound`, :class:`~telemedroom.errors.DeviceConnectionError`,
:class:`~telemedroom.errors.PairingError` or :class:`~telemedroom.errors.RecordAccessError`
here, with the original chained as ``__cause__``.

Examples:
    >>> import asyncio
    >>> from telemedroom import BloodPressure
    >>> from telemedroom.devices import DeviceManager
    >>> from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff
    >>> async def main():
    ...     async with BumbleBackend() as radio:
    ...         await radio.add(VirtualBloodPressureCuff([BloodPressure(systolic=128, diastolic=82)]))
    ...         async with DeviceManager(backend=radio) as dm:
    ...             async for found in dm.scan(timeout=5):
    ...                 break
    ...             async with await dm.connect(found) as conn:
    ...                 async for reading in conn.measurements():
    ...                     return found.name, reading.systolic, reading.device.model
    >>> asyncio.run(main())
    ('TM Cuff', 128.0, 'BP-7')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

from telemedroom.devices import gatt
from telemedroom.devices.gatt import record_access as racp
from telemedroom.devices.gatt import user_data as uds
from telemedroom.devices.gatt.current_time import CurrentTime
from telemedroom.devices.registry import DeviceDriver, DiscoveredDevice, load_drivers, short_service
from telemedroom.errors import (
    ConsentError,
    DeviceConnectionError,
    DeviceNotFound,
    MeasurementDecodeError,
    MissingExtraError,
    PairingError,
    RecordAccessError,
    TelemedroomError,
    UnsupportedCharacteristic,
)
from telemedroom.measurements import BloodGlucose, DeviceInfo, Measurement

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

__all__ = ["Backend", "Connection", "ConnectionStats", "DeviceManager", "DiscoveredDevice", "ReconnectPolicy"]

logger = logging.getLogger("telemedroom.devices")

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_RACP: Final = racp.RECORD_ACCESS_CONTROL_POINT
# Values we subscribe to beside the measurement characteristics.
_UCP: Final = uds.USER_CONTROL_POINT
_CONTROL_POINTS = frozenset({_RACP, _UCP})
_ALSO_SUBSCRIBED = frozenset({gatt.glucose.GLUCOSE_MEASUREMENT_CONTEXT, _RACP, _UCP})


class _Signal:
    """A marker in a connection's inbox (not a value from the device)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_LINK_LOST = _Signal("link lost")
# Glucose Measurement (GSS §3.106): the sequence number is a uint16.
_LAST_SEQUENCE_NUMBER = 0xFFFF
_CLOSED = _Signal("closed")
_Item = tuple[int | str, bytes] | _Signal


def _full_uuid(uuid: int) -> str:
    return f"0000{uuid:04x}{_BASE_SUFFIX}"


def _bleak() -> Any:
    try:
        import bleak
    except ImportError as exc:
        raise MissingExtraError("ble", "telemedroom.devices.DeviceManager (bleak)") from exc
    return bleak


class Backend(Protocol):
    """A bleak backend pair: what ``DeviceManager(backend=...)`` accepts.

    ``scanner_backend`` and ``client_backend`` are passed to bleak as ``BleakScanner(backend=...)``
    and ``BleakClient(backend=...)``. :class:`telemedroom.testing.BumbleBackend` is one.

    Examples:
        >>> from telemedroom.testing import BumbleBackend
        >>> radio: Backend = BumbleBackend()
        >>> radio.scanner_backend.__name__, radio.client_backend.__name__
        ('BumbleScanner', 'BumbleClient')
    """

    @property
    def scanner_backend(self) -> type[BaseBleakScanner]:
        """The ``BaseBleakScanner`` subclass."""

    @property
    def client_backend(self) -> type[BaseBleakClient]:
        """The ``BaseBleakClient`` subclass."""


@dataclass(slots=True)
class ConnectionStats:
    """What happened on one connection so far.

    Attributes:
        received: Values indicated or notified by the device.
        measurements: Measurements decoded from them.
        malformed: Values that did not decode: logged with their hex and skipped.
        reconnects: Times the link was re-established after the device dropped it.
        records: Glucose records received through the Record Access Control Point.

    Examples:
        >>> ConnectionStats().malformed
        0
    """

    received: int = 0
    measurements: int = 0
    malformed: int = 0
    reconnects: int = 0
    records: int = 0


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How hard to try when a device drops the link mid-session: exponential backoff.

    Attributes:
        attempts: Reconnection attempts before giving up (0: never reconnect).
        initial_delay: Seconds before the first attempt.
        factor: Each further delay is the previous one times this.
        max_delay: Upper bound of a delay, in seconds.

    Examples:
        >>> list(ReconnectPolicy(attempts=5, initial_delay=0.5, max_delay=3).delays())
        [0.5, 1.0, 2.0, 3, 3]
    """

    attempts: int = 5
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 10.0

    def delays(self) -> Iterator[float]:
        """The wait before each attempt, in seconds."""
        delay = self.initial_delay
        for _ in range(self.attempts):
            yield min(delay, self.max_delay)
            delay *= self.factor


@contextlib.contextmanager
def _translated(
    address: str, doing: str, error: type[DeviceConnectionError] = DeviceConnectionError
) -> Iterator[None]:
    """Turn bleak's (and the OS's) errors into ours, at the boundary, with the cause chained."""
    bleak = _bleak()
    prefix = f"{doing}: " if doing else ""
    try:
        yield
    except TelemedroomError:
        raise
    except bleak.exc.BleakDeviceNotFoundError as exc:
        raise DeviceNotFound(address, f"{prefix}{exc}") from exc
    except TimeoutError as exc:
        raise error(address, f"{prefix}timed out") from exc
    except (bleak.exc.BleakError, OSError, EOFError) as exc:
        raise error(address, f"{prefix}{exc}") from exc


class DeviceManager:
    """The room's Bluetooth: finds health devices and opens connections to them.

    Args:
        adapter: The local adapter to use (``"hci1"`` on Linux); ``None`` for the default.
        backend: A bleak backend pair (:class:`Backend`); ``None`` for the platform's.
        tz: The zone of the devices' clocks (the room's), for their time stamps.
        drivers: The drivers to match devices with; by default :func:`load_drivers`
            (installed plugins, then the standard profiles).
        timeout: Seconds allowed for each connect, read, write and record answer.
        reconnect: What to do when a device drops the link.
        clock_tolerance: A device clock off by more than this is corrected.

    Raises:
        MissingExtraError: On entering, when bleak is not installed.

    Examples:
        >>> DeviceManager(timeout=5).timeout
        5
    """

    def __init__(
        self,
        adapter: str | None = None,
        backend: Backend | None = None,
        *,
        tz: tzinfo = UTC,
        drivers: Sequence[DeviceDriver] | None = None,
        timeout: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        clock_tolerance: timedelta = timedelta(minutes=2),
    ) -> None:
        self.adapter = adapter
        self.backend = backend
        self.tz = tz
        self.drivers = list(drivers) if drivers is not None else None
        self.timeout = timeout
        self.reconnect = reconnect or ReconnectPolicy()
        self.clock_tolerance = clock_tolerance
        self._connections: set[Connection] = set()
        self._scanners: set[Any] = set()

    async def __aenter__(self) -> Self:
        _bleak()
        if self.drivers is None:
            self.drivers = load_drivers()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection and stop any scan still running."""
        for scanner in list(self._scanners):
            with contextlib.suppress(Exception):
                await scanner.stop()
        self._scanners.clear()
        for connection in list(self._connections):
            await connection.aclose()

    def _platform_args(self) -> dict[str, Any]:
        return {"bluez": {"adapter": self.adapter}} if self.adapter else {}

    def driver_for(self, device: DiscoveredDevice) -> DeviceDriver | None:
        """The first driver that matches ``device``, plugins before the standard one."""
        return next((d for d in self.drivers or load_drivers() if d.matches(device)), None)

    async def scan(
        self, timeout: float = 10.0, *, services: Iterable[int | str] | None = None
    ) -> AsyncGenerator[DiscoveredDevice, None]:
        """Yield each device that advertises within ``timeout`` seconds, once.

        Stop early with ``break``; use :func:`contextlib.aclosing` to stop the radio
        at once rather than when the generator is collected.

        Args:
            timeout: How long to listen, in seconds.
            services: Only devices advertising one of these services (16-bit numbers
                or 128-bit strings); by default every device.

        Raises:
            DeviceConnectionError: The adapter cannot scan.
        """
        bleak = _bleak()
        wanted = (
            None
            if services is None
            else [_full_uuid(s) if isinstance(s, int) else s.lower() for s in services]
        )
        found: asyncio.Queue[tuple[BLEDevice, AdvertisementData]] = asyncio.Queue()
        scanner = bleak.BleakScanner(
            lambda device, advertisement: found.put_nowait((device, advertisement)),
            wanted,
            backend=self.backend.scanner_backend if self.backend else None,
            **self._platform_args(),
        )
        with _translated(self.adapter or "default adapter", "cannot start scanning"):
            await scanner.start()
        self._scanners.add(scanner)
        seen: set[str] = set()
        # A name may come in the scan response just after the advertisement: a device
        # without one waits for its next packet (or the end of the scan) to be yielded.
        unnamed: dict[str, DiscoveredDevice] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while (remaining := deadline - loop.time()) > 0:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation
                # that lands as an advertisement arrives, and the scan then ran to its end
                # (a room leaving its consultation waited up to the whole device timeout)
                try:
                    async with asyncio.timeout(remaining):
                        ble_device, advertisement = await found.get()
                except TimeoutError:
                    break
                if ble_device.address in seen:
                    continue
                device = DiscoveredDevice(
                    address=ble_device.address,
                    name=advertisement.local_name or ble_device.name,
                    rssi=advertisement.rssi,
                    services=tuple(u.lower() for u in advertisement.service_uuids),
                    ble_device=ble_device,
                )
                if device.name is None and unnamed.setdefault(device.address, device) is device:
                    continue
                unnamed.pop(device.address, None)
                seen.add(device.address)
                yield _with_driver(device, self.driver_for(device))
            for device in unnamed.values():
                yield _with_driver(device, self.driver_for(device))
        finally:
            if scanner in self._scanners:
                self._scanners.discard(scanner)
                with _translated(self.adapter or "default adapter", "cannot stop scanning"):
                    await scanner.stop()

    async def find(self, address: str, timeout: float | None = None) -> DiscoveredDevice:
        """Scan until the device with ``address`` advertises.

        Raises:
            DeviceNotFound: It did not advertise within ``timeout`` (default: the manager's).

        Examples:
            >>> import asyncio
            >>> from telemedroom.testing import BumbleBackend
            >>> async def main():
            ...     async with BumbleBackend() as radio, DeviceManager(backend=radio) as dm:
            ...         await dm.find("C0:FF:EE:00:00:42", timeout=0.2)
            >>> asyncio.run(main())
            Traceback (most recent call last):
            ...
            telemedroom.DeviceNotFound: device C0:FF:EE:00:00:42 not found: not seen within 0.2 s
        """
        timeout = self.timeout if timeout is None else timeout
        async with contextlib.aclosing(self.scan(timeout)) as devices:
            async for device in devices:
                if device.address.upper() == address.upper():
                    return device
        raise DeviceNotFound(address, f"not seen within {timeout:g} s")

    async def connect(self, device: str | DiscoveredDevice, *, pair: bool | None = None) -> Connection:
        """Connect to a device, pair if its profile needs it, and subscribe to its readings.

        Args:
            device: A :class:`DiscoveredDevice` from :meth:`scan`, or an address (then
                the device is first looked for with :meth:`find`).
            pair: Pair (bond) after connecting; by default as the device's driver says.

        Returns:
            The open connection; close it with ``async with`` or :meth:`Connection.aclose`.

        Raises:
            DeviceNotFound: No device with that address advertised.
            DeviceConnectionError: The connection failed or timed out.
            PairingError: The device refused pairing.
        """
        discovered = device if isinstance(device, DiscoveredDevice) else await self.find(device)
        driver = discovered.driver or self.driver_for(discovered)
        if driver is None:
            raise DeviceConnectionError(
                discovered.address, "no driver handles this device; install a driver plugin for it"
            )
        connection = Connection(
            self,
            _with_driver(discovered, driver),
            pair=driver.requires_pairing(discovered) if pair is None else pair,
        )
        await connection._open()
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # We were cancelled, but a layer beneath swallowed it (bleak's and bumble's
            # wait_for on Python 3.11) and the link came up anyway: close it and honour
            # the cancellation, or the caller never gets the connection to close.
            await connection.aclose()
            raise asyncio.CancelledError
        self._connections.add(connection)
        return connection

    def _forget(self, connection: Connection) -> None:
        self._connections.discard(connection)


def _with_driver(device: DiscoveredDevice, driver: DeviceDriver | None) -> DiscoveredDevice:
    return DiscoveredDevice(
        device.address, device.name, device.rssi, device.services, driver, device.ble_device
    )


class Connection:
    """An open link to one device: its readings, its information, its records.

    Values arrive from the moment of connecting and wait in order until read through
    :meth:`measurements` or :meth:`glucose_records`. One reader at a time:
    :meth:`measurements`, :meth:`glucose_records`, :meth:`glucose_record_count` and
    :meth:`consent` take turns (leave the ``async for`` before fetching records). When
    the device drops the link, the connection reconnects with exponential backoff
    (:class:`ReconnectPolicy`) and goes on where it stopped.

    Attributes:
        device: What was discovered about the device, with its driver.
        info: Its Device Information, read once after connecting.
        stats: Counters: values received, measurements, malformed values, reconnects.
        clock_skew: How far the device's clock is ahead of the host's, ``None`` if it
            has no readable Current Time or its clock is not set.
        clock_set: ``False`` when the device says its clock was never set.

    Examples:
        >>> import asyncio
        >>> from datetime import datetime, UTC
        >>> from telemedroom import BloodGlucose
        >>> from telemedroom.testing import BumbleBackend, VirtualGlucometer
        >>> at = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
        >>> stored = [BloodGlucose(value=90 + n, sequence_number=n, measured_at=at) for n in (1, 2, 3)]
        >>> async def main():
        ...     async with BumbleBackend() as radio:
        ...         meter = await radio.add(VirtualGlucometer(records=stored))
        ...         async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as conn:
        ...             new = await conn.glucose_records(since=2)
        ...             return [(r.sequence_number, r.value) for r in new], conn.stats.records
        >>> asyncio.run(main())
        ([(2, 92.0), (3, 93.0)], 2)
    """

    def __init__(self, manager: DeviceManager, device: DiscoveredDevice, *, pair: bool) -> None:
        assert device.driver is not None
        self.device = device
        self.driver: DeviceDriver = device.driver
        self.info = DeviceInfo(address=device.address)
        self.stats = ConnectionStats()
        self.clock_skew: timedelta | None = None
        self.clock_set = True
        self._manager = manager
        self._pair = pair
        self._client: BleakClient | None = None
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self._decoder = gatt.Decoder(tz=manager.tz)
        self._closed = False
        self._reading = asyncio.Lock()
        self._aborting = False
        self._early: list[Measurement] = []  # readings that arrived while a procedure waited

    @property
    def address(self) -> str:
        """The device's Bluetooth address."""
        return self.device.address

    @property
    def is_connected(self) -> bool:
        """Whether the link is up right now."""
        return self._client is not None and self._client.is_connected

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Disconnect; iterators over this connection end."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put_nowait(_CLOSED)
        client, self._client = self._client, None
        self._manager._forget(self)
        if client is not None:
            with _translated(self.address, "disconnect failed"):
                async with asyncio.timeout(self._manager.timeout):
                    await client.disconnect()

    # -- the link --------------------------------------------------------------------

    async def _open(self) -> None:
        bleak = _bleak()
        manager = self._manager
        client = bleak.BleakClient(
            self.device.ble_device or self.address,
            self._on_disconnect,
            timeout=manager.timeout,
            backend=manager.backend.client_backend if manager.backend else None,
            **manager._platform_args(),
        )
        try:
            with _translated(self.address, "cannot connect"):
                async with asyncio.timeout(manager.timeout):
                    await client.connect()
        except BaseException:
            # A connect cut short (timeout, cancellation) may leave the link half open.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(manager.timeout):
                    await client.disconnect()
            raise
        try:
            if self._pair:
                with _translated(self.address, "", PairingError):
                    async with asyncio.timeout(manager.timeout):
                        await client.pair()
            self._client = client
            await self._setup(client)
        except BaseException:
            self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise

    def _on_disconnect(self, client: BleakClient) -> None:
        if client is self._client and not self._closed:
            logger.info("%s: link lost", self.address)
            self._inbox.put_nowait(_LINK_LOST)

    async def _setup(self, client: BleakClient) -> None:
        """Read Device Information and the clock, then subscribe to every value we understand."""
        values: dict[int | str, bytes] = {}
        clock: bytes | None = None
        wanted: list[tuple[int | str, BleakGATTCharacteristic]] = []
        for characteristic in client.services.characteristics.values():
            short = short_service(characteristic.uuid)
            props = characteristic.properties
            if short is not None and "read" in props:
                if (
                    short in gatt.device_information.DEVICE_INFORMATION_FIELDS
                    or short == gatt.device_information.SYSTEM_ID
                ):
                    values[short] = await self._read(client, characteristic)
                elif short == gatt.current_time.CURRENT_TIME:
                    clock = await self._read(client, characteristic)
            if "notify" not in props and "indicate" not in props:
                continue
            if short is not None and (short in gatt.MEASUREMENT_CHARACTERISTICS or short in _ALSO_SUBSCRIBED):
                wanted.append((short, characteristic))
            elif characteristic.uuid.lower() in self.driver.characteristics:
                wanted.append((characteristic.uuid.lower(), characteristic))
        if values:
            try:
                self.info = gatt.device_information.decode_device_information(values, address=self.address)
            except MeasurementDecodeError as exc:
                logger.warning("%s: unreadable Device Information (%s)", self.address, exc)
        self._decoder.device = self.info
        if clock is not None:
            self._learn_clock(clock)
        for key, characteristic in wanted:
            with _translated(self.address, f"cannot subscribe to {characteristic.uuid}"):
                async with asyncio.timeout(self._manager.timeout):
                    await client.start_notify(characteristic, self._receiver(key))

    def _receiver(self, key: int | str) -> Any:
        inbox = self._inbox

        def receive(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            inbox.put_nowait((key, bytes(data)))

        return receive

    async def _read(self, client: BleakClient, characteristic: BleakGATTCharacteristic) -> bytes:
        with _translated(self.address, f"cannot read {characteristic.uuid}"):
            async with asyncio.timeout(self._manager.timeout):
                return bytes(await client.read_gatt_char(characteristic))

    def _learn_clock(self, data: bytes) -> None:
        try:
            device_time = gatt.current_time.decode_current_time(data, self._manager.tz)
        except MeasurementDecodeError as exc:
            logger.warning("%s: unreadable Current Time, clock left alone (%s)", self.address, exc)
            return
        if device_time.time is None:
            self.clock_set, self.clock_skew = False, None
        else:
            self.clock_set = True
            self.clock_skew = device_time.time - datetime.now(self._manager.tz)

    async def _reconnect(self, cause: str) -> None:
        """Re-establish a dropped link with exponential backoff; raise when out of attempts."""
        self._client = None
        last: Exception | None = None
        for attempt, delay in enumerate(self._manager.reconnect.delays(), start=1):
            await asyncio.sleep(delay)
            if self._closed:
                return
            try:
                await self._open()
            except (DeviceConnectionError, DeviceNotFound) as exc:
                logger.info("%s: reconnect attempt %d failed: %s", self.address, attempt, exc)
                last = exc
                continue
            self.stats.reconnects += 1
            logger.info("%s: reconnected after %s", self.address, cause)
            return
        raise DeviceConnectionError(
            self.address, f"{cause}; gave up after {self._manager.reconnect.attempts} reconnect attempts"
        ) from last

    def _characteristic(self, uuid: int) -> BleakGATTCharacteristic | None:
        if self._client is None:
            raise DeviceConnectionError(self.address, "not connected")
        return self._client.services.get_characteristic(_full_uuid(uuid))

    # -- what a room reads -----------------------------------------------------------

    async def device_info(self) -> DeviceInfo:
        """The Device Information Service of the device (read again from the device).

        Raises:
            DeviceConnectionError: The link failed while reading.

        Examples:
            >>> import asyncio
            >>> from telemedroom.testing import BumbleBackend, VirtualThermometer
            >>> async def main():
            ...     async with BumbleBackend() as radio:
            ...         device = await radio.add(VirtualThermometer(battery_level=64))
            ...         async with DeviceManager(backend=radio) as dm, await dm.connect(device.address) as c:
            ...             info = await c.device_info()
            ...             return info.manufacturer, info.model, await c.battery_level()
            >>> asyncio.run(main())
            ('Acme Medical', 'TH-1', 64)
        """
        if self._client is None:
            raise DeviceConnectionError(self.address, "not connected")
        values: dict[int | str, bytes] = {}
        for uuid in (*gatt.device_information.DEVICE_INFORMATION_FIELDS, gatt.device_information.SYSTEM_ID):
            characteristic = self._characteristic(uuid)
            if characteristic is not None:
                values[uuid] = await self._read(self._client, characteristic)
        try:
            self.info = gatt.device_information.decode_device_information(values, address=self.address)
        except MeasurementDecodeError as exc:
            raise DeviceConnectionError(self.address, f"unreadable Device Information: {exc}") from exc
        self._decoder.device = self.info
        return self.info

    async def battery_level(self) -> int | None:
        """The battery level in percent, ``None`` if the device has no Battery Service.

        Raises:
            DeviceConnectionError: The link failed, or the value is not a battery level.
        """
        characteristic = self._characteristic(gatt.battery.BATTERY_LEVEL)
        if characteristic is None or self._client is None:
            return None
        data = await self._read(self._client, characteristic)
        try:
            return gatt.battery.decode_battery_level(data)
        except MeasurementDecodeError as exc:
            raise DeviceConnectionError(self.address, f"unreadable Battery Level: {exc}") from exc

    async def set_time(self, now: datetime | None = None) -> bool:
        """Set the device's clock through Current Time (0x2A2B), where it can be written.

        Args:
            now: The time to set (aware); by default the host's clock.

        Returns:
            ``True`` if written (and the clock correction is reset from a fresh read),
            ``False`` if the device has no writable Current Time.

        Raises:
            DeviceConnectionError: The link failed or the device rejected the value.

        Examples:
            >>> import asyncio
            >>> from datetime import timedelta
            >>> from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff
            >>> async def main():
            ...     async with BumbleBackend() as radio:
            ...         cuff = await radio.add(VirtualBloodPressureCuff(clock_offset=timedelta(hours=-1)))
            ...         async with DeviceManager(backend=radio) as dm, await dm.connect(cuff.address) as c:
            ...             before = round(c.clock_skew.total_seconds() / 60)
            ...             await c.set_time()
            ...             return before, round(c.clock_skew.total_seconds() / 60)
            >>> asyncio.run(main())
            (-60, 0)
        """
        characteristic = self._characteristic(gatt.current_time.CURRENT_TIME)
        if characteristic is None or self._client is None or "write" not in characteristic.properties:
            return False
        value = CurrentTime(
            time=now or datetime.now(self._manager.tz), adjust_reason=frozenset({"manual_time_update"})
        )
        data = gatt.current_time.encode_current_time(value, self._manager.tz)
        with _translated(self.address, "cannot set the time"):
            async with asyncio.timeout(self._manager.timeout):
                await self._client.write_gatt_char(characteristic, data, response=True)
        self._learn_clock(await self._read(self._client, characteristic))
        return True

    async def measurements(self) -> AsyncGenerator[Measurement, None]:
        """Every reading from every supported characteristic, as it arrives.

        Values received before the connection was closed are still yielded; then the
        iterator ends. Malformed values are logged with their hex, counted in :attr:`stats` and
        skipped. A dropped link is re-established (see :class:`ReconnectPolicy`). Ends
        when the connection is closed.

        Raises:
            DeviceConnectionError: The link dropped and every reconnect attempt failed.

        Examples:
            >>> import asyncio
            >>> from telemedroom import HeartRate
            >>> from telemedroom.testing import BumbleBackend, Faults, VirtualHeartRateStrap
            >>> async def main():
            ...     script = [HeartRate(bpm=bpm) for bpm in (61, 62, 63)]
            ...     async with BumbleBackend() as radio:
            ...         strap = await radio.add(VirtualHeartRateStrap(script, faults=Faults(malformed_at=1)))
            ...         async with DeviceManager(backend=radio) as dm, await dm.connect(strap.address) as c:
            ...             bpm = []
            ...             async for reading in c.measurements():
            ...                 bpm.append(reading.bpm)
            ...                 if len(bpm) == 3:
            ...                     return bpm, c.stats.malformed
            >>> asyncio.run(main())
            ([61, 62, 63], 1)
        """
        async with self._reading:
            while True:
                while self._early:
                    yield self._early.pop(0)
                item = await self._inbox.get()
                if item is _CLOSED:
                    return
                if item is _LINK_LOST:
                    await self._reconnect("link lost while streaming")
                    if self._closed:
                        return
                    continue
                assert not isinstance(item, _Signal)
                key, data = item
                if key in _CONTROL_POINTS:
                    continue  # a late answer to a procedure nobody waits for
                for measurement in self._decode(key, data):
                    yield measurement

    def _decode(self, key: int | str, data: bytes) -> list[Measurement]:
        self.stats.received += 1
        try:
            if isinstance(key, int):
                decoded = self._decoder.feed(key, data)
            else:
                decoded = self.driver.decode(key, data, self._manager.tz)
        except (MeasurementDecodeError, UnsupportedCharacteristic) as exc:
            self.stats.malformed += 1
            logger.warning(
                "%s: skipped a malformed value of %s (hex %s): %s", self.address, key, data.hex(), exc
            )
            return []
        self.stats.measurements += len(decoded)
        return [self._with_clock(m) for m in decoded]

    def _with_clock(self, measurement: Measurement) -> Measurement:
        """Correct a time stamp from a skewed device clock, or flag an unset one."""
        update: dict[str, object] = {}
        if measurement.device is None:
            update["device"] = self.info
        if measurement.measured_at is not None:
            if not self.clock_set:
                update["measured_at"] = None
                update["status"] = measurement.status | {"device_clock_not_set"}
            elif self.clock_skew is not None and abs(self.clock_skew) > self._manager.clock_tolerance:
                update["measured_at"] = measurement.measured_at - self.clock_skew
                update["status"] = measurement.status | {"device_clock_corrected"}
        return measurement.model_copy(update=update) if update else measurement

    # -- glucose records (Record Access Control Point) -------------------------------

    async def _racp_write(self, request: racp.RacpRequest) -> None:
        characteristic = self._characteristic(_RACP)
        if characteristic is None or self._client is None:
            raise RecordAccessError(
                self.address, request.op_code.name.lower(), 0, "no_record_access_control_point"
            )
        with _translated(self.address, f"cannot write {request.op_code.name.lower()}"):
            async with asyncio.timeout(self._manager.timeout):
                await self._client.write_gatt_char(
                    characteristic, racp.encode_request(request), response=True
                )

    async def _next_item(self, doing: str) -> _Item:
        try:
            async with asyncio.timeout(self._manager.timeout):
                return await self._inbox.get()
        except TimeoutError as exc:
            raise DeviceConnectionError(
                self.address, f"{doing}: no answer within {self._manager.timeout:g} s"
            ) from exc

    def _drain_answers(self) -> None:
        """Drop stale RACP answers (e.g. of an abort nobody waited for) before a new request."""
        kept = []
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if isinstance(item, tuple) and item[0] in _CONTROL_POINTS:
                continue
            kept.append(item)
        for item in kept:
            self._inbox.put_nowait(item)

    async def glucose_record_count(self, *, since: int | None = None) -> int:
        """How many records the glucometer stores (with sequence number >= ``since``).

        Raises:
            RecordAccessError: The glucometer refused the request.
            DeviceConnectionError: The link failed and could not be re-established.

        Examples:
            >>> import asyncio
            >>> from datetime import datetime, UTC
            >>> from telemedroom import BloodGlucose
            >>> from telemedroom.testing import BumbleBackend, VirtualGlucometer
            >>> at = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
            >>> stored = [BloodGlucose(value=95, sequence_number=n, measured_at=at) for n in range(1, 8)]
            >>> async def main():
            ...     async with BumbleBackend() as radio:
            ...         meter = await radio.add(VirtualGlucometer(records=stored))
            ...         async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as c:
            ...             return await c.glucose_record_count(), await c.glucose_record_count(since=6)
            >>> asyncio.run(main())
            (7, 2)
        """
        request = racp.report_number_of_stored_records(since)
        async with self._reading:
            while True:
                self._drain_answers()
                await self._racp_write(request)
                while True:
                    item = await self._next_item("report number of stored records")
                    if item is _CLOSED:
                        raise DeviceConnectionError(self.address, "closed while counting records")
                    if item is _LINK_LOST:
                        break
                    assert not isinstance(item, _Signal)
                    key, data = item
                    if key != _RACP:
                        self._keep_for_later(key, data)
                        continue
                    answer = self._racp_answer(data, request)
                    if isinstance(answer, racp.NumberOfRecords):
                        return answer.count
                await self._reconnect("link lost while counting records")

    async def glucose_records(self, *, since: int | None = None) -> list[BloodGlucose]:
        """Fetch stored glucose records, each with its context, ordered by sequence number.

        Uses "report stored records" with "all records", or ">= ``since``" so that a
        room fetches only what it has not seen (pass the last sequence number + 1). If
        the link drops mid-transfer, it reconnects and asks again from the sequence
        number after the last record received: nothing is lost or duplicated. After
        :meth:`abort_glucose_transfer`, returns what arrived until then.

        Raises:
            RecordAccessError: The glucometer answered with an error response code.
            DeviceConnectionError: The link failed and could not be re-established.
        """
        received: dict[int, BloodGlucose] = {}
        async with self._reading:
            start = since
            while True:
                request = racp.report_stored_records(start)
                if await self._transfer(request, received):
                    break
                await self._reconnect("link lost during a record transfer")
                if received:
                    last = max(received)
                    if last == _LAST_SEQUENCE_NUMBER:
                        break  # nothing can follow the largest uint16 sequence number
                    start = last + 1
        return [received[n] for n in sorted(received)]

    async def _transfer(self, request: racp.RacpRequest, received: dict[int, BloodGlucose]) -> bool:
        """One report procedure; ``False`` if the link dropped before its end."""
        self._drain_answers()
        self._aborting = False
        await self._racp_write(request)
        while True:
            item = await self._next_item("report stored records")
            if item is _CLOSED:
                raise DeviceConnectionError(self.address, "closed during a record transfer")
            if item is _LINK_LOST:
                self._decoder.flush()  # a record whose context never came will be asked for again
                return False
            assert not isinstance(item, _Signal)
            key, data = item
            if key == _UCP:
                continue
            if key == _RACP:
                answer = self._racp_answer(data, request)
                if isinstance(answer, racp.ResponseCodeValue):
                    self._keep(received, self._decoder.flush())
                    return True
                continue
            self._keep(received, self._decode(key, data))

    def _keep_for_later(self, key: int | str, data: bytes) -> None:
        """A reading that arrived while a procedure waited: :meth:`measurements` yields it later."""
        if key not in _CONTROL_POINTS:
            self._early.extend(self._decode(key, data))

    def _keep(self, received: dict[int, BloodGlucose], decoded: list[Measurement]) -> None:
        for record in decoded:
            if isinstance(record, BloodGlucose) and record.sequence_number not in received:
                received[record.sequence_number] = record
                self.stats.records += 1

    def _racp_answer(
        self, data: bytes, request: racp.RacpRequest
    ) -> racp.NumberOfRecords | racp.ResponseCodeValue | None:
        """Decode an RACP indication; raise for an error response to ``request``."""
        try:
            answer = racp.decode_response(data)
        except MeasurementDecodeError as exc:
            self.stats.malformed += 1
            logger.warning("%s: skipped a malformed RACP answer (hex %s): %s", self.address, data.hex(), exc)
            return None
        if isinstance(answer, racp.NumberOfRecords):
            return answer
        if answer.request_op_code == racp.OpCode.ABORT_OPERATION:
            return answer if self._aborting else None
        if answer.request_op_code != request.op_code:
            return None
        if not answer.succeeded:
            raise RecordAccessError(
                self.address,
                request.op_code.name.lower(),
                answer.response_code,
                racp.response_name(answer.response_code),
            )
        return answer

    async def abort_glucose_transfer(self) -> None:
        """Ask the glucometer to stop a record transfer in progress (RACP "abort operation").

        :meth:`glucose_records` then returns the records received so far.

        Raises:
            DeviceConnectionError: The link failed.
        """
        self._aborting = True
        await self._racp_write(racp.abort_operation())

    # -- users of multi-user scales (User Data Service) ------------------------------

    async def consent(self, user_index: int, consent_code: int) -> None:
        """Give a user's consent code for their slot (UDS User Control Point "Consent").

        A multi-user scale sends (and stamps with ``user_index``) a user's readings only
        after this; the connection must be paired (the standard driver pairs with
        devices that advertise the User Data Service).

        Raises:
            ConsentError: The scale refused (wrong code, unknown user, ...).
            DeviceConnectionError: The device has no User Control Point, or the link failed.
            CodecError: ``user_index`` or ``consent_code`` is out of range.

        Examples:
            >>> import asyncio
            >>> from telemedroom import BodyWeight
            >>> from telemedroom.testing import BumbleBackend, VirtualWeightScale
            >>> async def main():
            ...     async with BumbleBackend() as radio:
            ...         scale = await radio.add(VirtualWeightScale([BodyWeight(value=70)], users={2: 1234}))
            ...         async with DeviceManager(backend=radio) as dm, await dm.connect(scale.address) as c:
            ...             await c.consent(user_index=2, consent_code=1234)
            ...             async for reading in c.measurements():
            ...                 return reading.value, reading.user_index
            >>> asyncio.run(main())
            (70.0, 2)
        """
        request = uds.consent(user_index, consent_code)
        data = uds.encode_request(request)
        characteristic = self._characteristic(_UCP)
        if characteristic is None or self._client is None:
            raise DeviceConnectionError(self.address, "the device has no User Control Point (0x2A9F)")
        async with self._reading:
            self._drain_answers()
            with _translated(self.address, "cannot write the consent"):
                async with asyncio.timeout(self._manager.timeout):
                    await self._client.write_gatt_char(characteristic, data, response=True)
            while True:
                item = await self._next_item("consent")
                if isinstance(item, _Signal):
                    raise DeviceConnectionError(
                        self.address, f"{item!r} while waiting for the consent answer"
                    )
                key, value = item
                if key != _UCP:
                    self._keep_for_later(key, value)
                    continue
                try:
                    answer = uds.decode_response(value)
                except MeasurementDecodeError as exc:
                    raise DeviceConnectionError(self.address, f"unreadable consent answer: {exc}") from exc
                if answer.request_op_code != uds.UcpOpCode.CONSENT:
                    continue
                if answer.result != uds.UcpResult.SUCCESS:
                    raise ConsentError(
                        self.address, user_index, answer.result, uds.result_name(answer.result)
                    )
                return
