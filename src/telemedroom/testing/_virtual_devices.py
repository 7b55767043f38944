"""Virtual Bluetooth health devices: real bumble GATT servers speaking the SIG profiles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

from telemedroom.devices import gatt
from telemedroom.devices.gatt import record_access as racp
from telemedroom.devices.gatt import user_data as uds
from telemedroom.devices.gatt.current_time import CurrentTime
from telemedroom.errors import MeasurementDecodeError
from telemedroom.measurements import BloodGlucose, DeviceInfo, Measurement

if TYPE_CHECKING:
    from bumble.core import UUID
    from bumble.device import Connection, Device
    from bumble.gatt import Characteristic

    from telemedroom.testing._radio import Radio

__all__ = [
    "Faults",
    "VirtualBloodPressureCuff",
    "VirtualDevice",
    "VirtualGlucometer",
    "VirtualHeartRateStrap",
    "VirtualPulseOximeter",
    "VirtualThermometer",
    "VirtualWeightScale",
]

# How long closing waits for a peer to confirm a disconnection (see VirtualDevice.aclose).
_DISCONNECT_TIMEOUT_S: Final = 2.0

logger = logging.getLogger("telemedroom.testing")

Mode = Literal["indicate", "notify"]
UuidSpec = int | str

# Assigned numbers: GATT services (Bluetooth SIG Assigned Numbers §3.4.2).
_DEVICE_INFORMATION = 0x180A
_BATTERY = 0x180F
_CURRENT_TIME_SERVICE = 0x1805
_USER_DATA = 0x181C
# ATT error codes (Core Vol 3 Part F §3.4.1.1; CSS Part B §1.2 for 0xFD, 0xFE).
_ATT_CCCD_IMPROPERLY_CONFIGURED = 0xFD
_ATT_PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
_ATT_VALUE_NOT_ALLOWED = 0x13


@dataclass(frozen=True, slots=True)
class Faults:
    """What a virtual device does wrong, on purpose.

    Attributes:
        drop_after: Drop the connection once, right after this many measurement values
            (indications and notifications, glucose records included) have been sent.
        malformed_at: Before the reading with this index (0-based) is sent, send a
            truncated copy of it: a malformed packet on the right characteristic.
        refuse_pairing: Answer every pairing request with "pairing not supported".

    Examples:
        >>> Faults(drop_after=2).drop_after
        2
    """

    drop_after: int | None = None
    malformed_at: int | None = None
    refuse_pairing: bool = False


def _uuid(spec: UuidSpec) -> UUID:
    from bumble.core import UUID

    return UUID.from_16_bits(spec) if isinstance(spec, int) else UUID(spec)


class VirtualDevice:
    """A scriptable Bluetooth LE health device on a :class:`BumbleBackend`.

    Each one is a bumble device with its own virtual controller, advertising its health
    service and name, and serving a real GATT database: the health service, Device
    Information (0x180A), Battery (0x180F) and Current Time (0x1805). Once a central has
    subscribed to all its measurement characteristics, it sends its ``readings`` one by
    one, as the bytes :func:`telemedroom.devices.gatt.encode` produces, ``interval``
    seconds apart; what was not sent before a disconnection is sent after the next
    subscription. ``faults`` makes it misbehave.

    Its clock runs ``clock_offset`` ahead of the host (negative: behind); readings are
    stamped with that clock, and a write to Current Time sets it. With
    ``clock_set=False`` it knows no time at all until one is written.

    It advertises every ``advertising_interval_ms`` (20 to 10 240 ms, Core Vol 6 Part B
    §4.4.2.2.1; default 20 ms, the fastest legacy interval, so tests find it at once). A
    device switched on with nothing to send advertises slower, e.g. 1022.5 ms after its
    first 30 s (Apple's Accessory Design Guidelines, Bluetooth LE §35.5), which is what
    ``benchmarks/bench_apartment.py`` measures idle with.

    Subclass it for a proprietary device: set :attr:`service` and
    :attr:`characteristics`, and override :meth:`encode`.

    Attributes:
        service: The health service UUID it advertises (16-bit int or 128-bit string).
        characteristics: Measurement characteristic UUID -> ``"indicate"`` or ``"notify"``.
        address: Its Bluetooth address.
        name: Its advertised local name.
        readings: What it will measure, in order.
        sent: How many measurement values it has sent so far.
        finished: Set when every reading has been sent.

    Examples:
        >>> from telemedroom import BloodPressure
        >>> cuff = VirtualBloodPressureCuff([BloodPressure(systolic=120, diastolic=80)])
        >>> cuff.address, cuff.name, hex(cuff.service)
        ('C0:FF:EE:00:00:01', 'TM Cuff', '0x1810')
    """

    service: ClassVar[UuidSpec]
    characteristics: ClassVar[dict[UuidSpec, Mode]]
    default_address: ClassVar[str]
    default_name: ClassVar[str]
    default_info: ClassVar[DeviceInfo]

    def __init__(
        self,
        readings: Sequence[Measurement] = (),
        *,
        address: str | None = None,
        name: str | None = None,
        info: DeviceInfo | None = None,
        battery_level: int = 90,
        interval: float = 0.0,
        faults: Faults | None = None,
        clock_offset: timedelta = timedelta(0),
        clock_set: bool = True,
        tz: tzinfo = UTC,
        advertising_interval_ms: float = 20.0,
    ) -> None:
        self.advertising_interval_ms = advertising_interval_ms
        self.address = (address or self.default_address).upper()
        self.name = name or self.default_name
        self.info = info or self.default_info
        self.readings = list(readings)
        self.battery_level = battery_level
        self.interval = interval
        self.faults = faults or Faults()
        self.clock_offset = clock_offset
        self.clock_set = clock_set
        self.tz = tz
        self.sent = 0
        self.finished = asyncio.Event()
        self.connected = asyncio.Event()
        self._next = 0
        self._dropped = False
        self._malformed_sent = False
        self._device: Device | None = None
        self._radio: Radio | None = None
        self._connection: Connection | None = None
        self._gatt: dict[UuidSpec, Characteristic[Any]] = {}
        self._subscribed: set[UuidSpec] = set()
        self._player: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        for reading in self.readings:
            self.encode(reading)  # a reading the profile cannot carry fails here, not mid-test

    def __repr__(self) -> str:
        fields = f"name={self.name!r}, address={self.address!r}, readings={len(self.readings)}"
        return f"{type(self).__name__}({fields})"

    async def wait_sent(self, count: int) -> None:
        """Wait until at least ``count`` measurement values have been sent.

        Examples:
            >>> import asyncio
            >>> asyncio.run(VirtualHeartRateStrap().wait_sent(0))
        """
        if self.sent >= count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, waiter))
        await waiter

    # -- what subclasses change ------------------------------------------------------

    def encode(self, measurement: Measurement) -> list[tuple[UuidSpec, bytes]]:
        """The values that carry ``measurement``, in sending order.

        The SIG profiles need one value; a proprietary device may need several.
        """
        return [(gatt.characteristic_of(measurement), gatt.encode(measurement, tz=self.tz))]

    def extra_characteristics(self) -> list[Characteristic[Any]]:
        """More characteristics of the health service (features, control points)."""
        return []

    def extra_services(self) -> list[Any]:
        """More services (bumble ``gatt.Service``) beside the health service."""
        return []

    def advertised_services(self) -> list[UuidSpec]:
        """The services named in the advertisement (same UUID size as :attr:`service`)."""
        return [self.service]

    def wants_to_send(self) -> bool:
        """Whether the scripted readings may start (all measurement characteristics subscribed)."""
        return self._subscribed >= set(self.characteristics)

    # -- clock -----------------------------------------------------------------------

    def now(self) -> datetime | None:
        """The device's clock: host time plus its offset, ``None`` when never set."""
        if not self.clock_set:
            return None
        return datetime.now(self.tz) + self.clock_offset

    def stamp(self, measurement: Measurement) -> Measurement:
        """The reading as this device's clock stamps it."""
        if measurement.measured_at is None:
            return measurement
        if not self.clock_set:
            status = measurement.status | {"device_clock_not_set"}
            return measurement.model_copy(update={"measured_at": None, "status": status})
        return measurement.model_copy(update={"measured_at": measurement.measured_at + self.clock_offset})

    def _read_current_time(self, _connection: Connection | None) -> bytes:
        return gatt.current_time.encode_current_time(CurrentTime(time=self.now()), self.tz)

    def _write_current_time(self, _connection: Connection | None, value: bytes) -> None:
        from bumble import att

        try:
            written = gatt.current_time.decode_current_time(bytes(value), self.tz)
        except MeasurementDecodeError as exc:
            raise att.ATT_Error(_ATT_VALUE_NOT_ALLOWED) from exc
        if written.time is not None:
            self.clock_offset = written.time - datetime.now(self.tz)
            self.clock_set = True

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, radio: Radio) -> None:
        """Power on on ``radio``'s link and advertise (called by :meth:`BumbleBackend.add`)."""
        from bumble import gatt as bgatt
        from bumble import pairing
        from bumble.core import AdvertisingData
        from bumble.device import Device

        device = radio.new_device(self.name, self.address)
        self._device, self._radio = device, radio
        device.pairing_config_factory = lambda _c: pairing.PairingConfig(
            sc=True,
            mitm=False,
            bonding=True,
            delegate=_refusing_delegate() if self.faults.refuse_pairing else None,
        )
        device.on(Device.EVENT_CONNECTION, self._on_connection)

        measurement = []
        for uuid, mode in self.characteristics.items():
            prop = (
                bgatt.Characteristic.Properties.INDICATE
                if mode == "indicate"
                else bgatt.Characteristic.Properties.NOTIFY
            )
            characteristic = bgatt.Characteristic(_uuid(uuid), prop, bgatt.Characteristic.READABLE, b"")
            characteristic.on("subscription", self._subscription_handler(uuid))
            self._gatt[uuid] = characteristic
            measurement.append(characteristic)
        services = [bgatt.Service(_uuid(self.service), [*measurement, *self.extra_characteristics()])]
        services.append(
            bgatt.Service(
                _uuid(_DEVICE_INFORMATION),
                [
                    bgatt.Characteristic(
                        _uuid(uuid),
                        bgatt.Characteristic.Properties.READ,
                        bgatt.Characteristic.READABLE,
                        value,
                    )
                    for uuid, value in gatt.device_information.encode_device_information(self.info).items()
                ],
            )
        )
        battery: Characteristic[bytes] = bgatt.Characteristic(
            _uuid(gatt.battery.BATTERY_LEVEL),
            bgatt.Characteristic.Properties.READ | bgatt.Characteristic.Properties.NOTIFY,
            bgatt.Characteristic.READABLE,
            bgatt.CharacteristicValue(read=lambda _c: gatt.battery.encode_battery_level(self.battery_level)),
        )
        services.append(bgatt.Service(_uuid(_BATTERY), [battery]))
        current_time: Characteristic[bytes] = bgatt.Characteristic(
            _uuid(gatt.current_time.CURRENT_TIME),
            bgatt.Characteristic.Properties.READ
            | bgatt.Characteristic.Properties.WRITE
            | bgatt.Characteristic.Properties.NOTIFY,
            bgatt.Characteristic.READABLE | bgatt.Characteristic.WRITEABLE,
            bgatt.CharacteristicValue(read=self._read_current_time, write=self._write_current_time),
        )
        services.append(bgatt.Service(_uuid(_CURRENT_TIME_SERVICE), [current_time]))
        device.add_services([*services, *self.extra_services()])

        await device.power_on()
        advertised = self.advertised_services()
        service_list = (
            AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS
            if isinstance(self.service, int)
            else AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS
        )
        # Flags: LE General Discoverable, BR/EDR not supported (Core Supplement Part A §1.3).
        structures = [
            (AdvertisingData.Type.FLAGS, bytes([0x06])),
            (service_list, b"".join(bytes(_uuid(uuid)) for uuid in advertised)),
        ]
        # A legacy advertisement holds 31 bytes; a name that does not fit is shortened
        # (Core Specification Supplement Part A §1.2). bumble's virtual controller
        # answers scan requests with the advertising data, so no scan response is used.
        room = 31 - len(bytes(AdvertisingData(structures))) - 2
        name = self.name.encode()
        kind = AdvertisingData.Type.COMPLETE_LOCAL_NAME
        if len(name) > room:
            name, kind = name[: max(room, 0)], AdvertisingData.Type.SHORTENED_LOCAL_NAME
        await device.start_advertising(
            advertising_data=bytes(AdvertisingData([*structures, (kind, name)])),
            auto_restart=True,
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def aclose(self) -> None:
        """Stop sending, drop any connection and power off."""
        for task in [*self._tasks, *([self._player] if self._player else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._player] if self._player else []), return_exceptions=True)
        device, self._device = self._device, None
        if device is None or self._radio is None:
            return
        from bumble import core

        with contextlib.suppress(core.BaseBumbleError, ConnectionError, TimeoutError):
            await device.stop_advertising()
        if self._connection is not None:
            with contextlib.suppress(core.BaseBumbleError, ConnectionError, TimeoutError):
                # Bounded: when a central's connect was cut short (a timeout, a cancel), its
                # controller may have left the link already; bumble then never delivers the
                # disconnection this waits for, and closing would hang for ever.
                async with asyncio.timeout(_DISCONNECT_TIMEOUT_S):
                    await self._connection.disconnect()
        await self._radio.release(device)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._subscribed = set()
        self.connected.set()
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        if self._connection is connection:
            self._connection = None
            self._subscribed = set()
            self.connected.clear()

    def _subscription_handler(self, uuid: UuidSpec) -> Any:
        def on_subscription(connection: Connection, notify: bool, indicate: bool) -> None:
            if connection is not self._connection:
                return
            if notify or indicate:
                self._subscribed.add(uuid)
            else:
                self._subscribed.discard(uuid)
            self._maybe_play()

        return on_subscription

    def _maybe_play(self) -> None:
        idle = self._player is None or self._player.done()
        if idle and self.wants_to_send() and self._next < len(self.readings):
            self._player = asyncio.get_running_loop().create_task(self._play())

    # -- sending ---------------------------------------------------------------------

    async def _play(self) -> None:
        while self._next < len(self.readings) and self._connection is not None:
            index = self._next
            reading = self.stamp(self.readings[index])
            if self.faults.malformed_at == index and not self._malformed_sent:
                self._malformed_sent = True
                uuid, data = self.encode(reading)[0]
                await self.send_value(uuid, data[:-1], count=False)
            if not await self._send_all(self.encode(reading)):
                return
            self._next += 1
            if self.interval and self._next < len(self.readings):
                await asyncio.sleep(self.interval)
        if self._next >= len(self.readings):
            self.finished.set()

    async def _send_all(self, values: list[tuple[UuidSpec, bytes]]) -> bool:
        for uuid, data in values:
            if not await self.send_value(uuid, data):
                return False
        return True

    def measure(self, *readings: Measurement) -> None:
        """Take readings now, as the patient does: they queue in the device's memory.

        They go to the central that is connected, or to the next one that connects.

        Examples:
            >>> from telemedroom import BodyWeight
            >>> scale = VirtualWeightScale()
            >>> scale.measure(BodyWeight(value=80.4)); len(scale.readings)
            1
        """
        for reading in readings:
            self.encode(reading)  # a reading the profile cannot carry fails here
        self.readings.extend(readings)
        if readings:
            self.finished.clear()
        if self._connection is not None:
            self._maybe_play()

    async def go_away(self) -> None:
        """Out of range, or switched off: drop the link and stop advertising.

        Readings taken meanwhile (:meth:`measure`) queue until :meth:`come_back`.
        """
        await self.aclose()

    async def come_back(self) -> None:
        """Back in range: advertise again on the same radio."""
        if self._device is None and self._radio is not None:
            await self.start(self._radio)

    async def send(self, measurement: Measurement) -> bool:
        """Take a reading now (outside the script); ``False`` if no central listens.

        Examples:
            >>> from telemedroom import BodyTemperature
            >>> import asyncio
            >>> asyncio.run(VirtualThermometer().send(BodyTemperature(value=36.6)))  # not on a radio
            False
        """
        return await self._send_all(self.encode(self.stamp(measurement)))

    async def send_value(self, uuid: UuidSpec, data: bytes, *, count: bool = True) -> bool:
        """Indicate or notify raw bytes on a measurement characteristic.

        Returns ``False`` (and sends nothing) when no central is connected or the link
        dropped while sending. Counts towards ``faults.drop_after`` unless ``count`` is false.
        """
        from bumble import core

        connection, device = self._connection, self._device
        if connection is None or device is None:
            return False
        characteristic = self._gatt[uuid]
        try:
            if self.characteristics[uuid] == "indicate":
                await device.indicate_subscriber(connection, characteristic, data)
            else:
                await device.notify_subscriber(connection, characteristic, data)
        except (core.BaseBumbleError, ConnectionError, TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and self._connection is connection:
                raise
            logger.debug("%s: link dropped while sending %s", self.name, data.hex())
            return False
        if count:
            self.sent += 1
            for waiter in [w for w in self._waiters if w[0] <= self.sent]:
                self._waiters.remove(waiter)
                if not waiter[1].done():
                    waiter[1].set_result(None)
            if (
                self.faults.drop_after is not None
                and not self._dropped
                and self.sent >= self.faults.drop_after
            ):
                self._dropped = True
                logger.debug("%s: dropping the connection after %d values (fault)", self.name, self.sent)
                await connection.disconnect()
        return True


def _refusing_delegate() -> Any:
    """A bumble pairing delegate that declines every pairing request."""
    from bumble.pairing import PairingDelegate

    class Refuse(PairingDelegate):
        async def accept(self) -> bool:
            return False

    return Refuse()


class VirtualBloodPressureCuff(VirtualDevice):
    """A blood-pressure cuff: Blood Pressure Measurement (indicate), Intermediate Cuff Pressure (notify).

    Examples:
        >>> VirtualBloodPressureCuff().characteristics
        {10805: 'indicate', 10806: 'notify'}
    """

    service = 0x1810
    characteristics: ClassVar[dict[UuidSpec, Mode]] = {
        gatt.blood_pressure.BLOOD_PRESSURE_MEASUREMENT: "indicate",
        gatt.blood_pressure.INTERMEDIATE_CUFF_PRESSURE: "notify",
    }
    default_address = "C0:FF:EE:00:00:01"
    default_name = "TM Cuff"
    default_info = DeviceInfo(manufacturer="Acme Medical", model="BP-7", serial_number="SN-0001")


class VirtualPulseOximeter(VirtualDevice):
    """A pulse oximeter: PLX Spot-Check (indicate) and PLX Continuous Measurement (notify).

    Examples:
        >>> VirtualPulseOximeter().service == 0x1822
        True
    """

    service = 0x1822
    characteristics: ClassVar[dict[UuidSpec, Mode]] = {
        gatt.pulse_oximeter.PLX_SPOT_CHECK_MEASUREMENT: "indicate",
        gatt.pulse_oximeter.PLX_CONTINUOUS_MEASUREMENT: "notify",
    }
    default_address = "C0:FF:EE:00:00:02"
    default_name = "TM Oximeter"
    default_info = DeviceInfo(manufacturer="Acme Medical", model="PLX-2", serial_number="SN-0002")


class VirtualThermometer(VirtualDevice):
    """A thermometer: Temperature Measurement (indicate), Intermediate Temperature (notify).

    Examples:
        >>> VirtualThermometer().name
        'TM Thermometer'
    """

    service = 0x1809
    characteristics: ClassVar[dict[UuidSpec, Mode]] = {
        gatt.health_thermometer.TEMPERATURE_MEASUREMENT: "indicate",
        gatt.health_thermometer.INTERMEDIATE_TEMPERATURE: "notify",
    }
    default_address = "C0:FF:EE:00:00:03"
    default_name = "TM Thermometer"
    default_info = DeviceInfo(manufacturer="Acme Medical", model="TH-1", serial_number="SN-0003")


class VirtualWeightScale(VirtualDevice):
    """A weight scale: Weight Measurement (indicate) and Weight Scale Feature (read).

    With ``users`` (user index -> consent code) it is a multi-user scale: it also offers
    the User Data Service (0x181C) with its User Control Point (0x2A9F, write with
    encryption, indicate) and User Index (0x2A9A), advertises it (so the room pairs), and
    sends nothing until a user's consent code is given; readings then carry that user's
    index. A wrong code is answered "user not authorized" (UDS 1.0 §3.3.2.2).

    Attributes:
        user_index: The user who consented on this connection, ``None`` before.

    Examples:
        >>> VirtualWeightScale().feature.weight_resolution_kg
        0.005
        >>> VirtualWeightScale(users={1: 1234}).advertised_services() == [0x181D, 0x181C]
        True
    """

    service = 0x181D
    characteristics: ClassVar[dict[UuidSpec, Mode]] = {gatt.weight_scale.WEIGHT_MEASUREMENT: "indicate"}
    default_address = "C0:FF:EE:00:00:04"
    default_name = "TM Scale"
    default_info = DeviceInfo(manufacturer="Acme Medical", model="WS-3", serial_number="SN-0004")
    # Time stamp, multiple users, BMI; 0.005 kg and 0.001 m resolution (GSS Weight Scale Feature).
    feature = gatt.weight_scale.decode_weight_scale_feature(bytes.fromhex("bf010000"))

    def __init__(
        self, readings: Sequence[Measurement] = (), *, users: dict[int, int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(readings, **kwargs)
        self.users = dict(users or {})
        self.user_index: int | None = None
        self._control_point: Characteristic[Any] | None = None

    def advertised_services(self) -> list[UuidSpec]:
        """Weight Scale, and User Data when it has users."""
        return [self.service, _USER_DATA] if self.users else [self.service]

    def wants_to_send(self) -> bool:
        """Subscribed, and (for a multi-user scale) a user has consented."""
        return super().wants_to_send() and (not self.users or self.user_index is not None)

    def stamp(self, measurement: Measurement) -> Measurement:
        """Stamp the clock, and the consented user's index."""
        stamped = super().stamp(measurement)
        if self.user_index is not None and stamped.user_index is None:
            stamped = stamped.model_copy(update={"user_index": self.user_index})
        return stamped

    def _on_connection(self, connection: Connection) -> None:
        super()._on_connection(connection)
        self.user_index = None

    def extra_characteristics(self) -> list[Characteristic[Any]]:
        """Weight Scale Feature (0x2A9E), read-only."""
        from bumble import gatt as bgatt

        return [
            bgatt.Characteristic(
                _uuid(gatt.weight_scale.WEIGHT_SCALE_FEATURE),
                bgatt.Characteristic.Properties.READ,
                bgatt.Characteristic.READABLE,
                gatt.weight_scale.encode_weight_scale_feature(self.feature),
            )
        ]

    def extra_services(self) -> list[Any]:
        """The User Data Service, for a multi-user scale."""
        if not self.users:
            return []
        from bumble import gatt as bgatt

        control_point: Characteristic[Any] = bgatt.Characteristic(
            _uuid(uds.USER_CONTROL_POINT),
            bgatt.Characteristic.Properties.WRITE | bgatt.Characteristic.Properties.INDICATE,
            bgatt.Characteristic.WRITE_REQUIRES_ENCRYPTION,
            bgatt.CharacteristicValue(write=self._on_control_point_write),
        )
        self._control_point = control_point
        user_index: Characteristic[bytes] = bgatt.Characteristic(
            _uuid(uds.USER_INDEX),
            bgatt.Characteristic.Properties.READ,
            bgatt.Characteristic.READABLE,
            bgatt.CharacteristicValue(
                read=lambda _c: bytes([0xFF if self.user_index is None else self.user_index])
            ),
        )
        return [bgatt.Service(_uuid(_USER_DATA), [control_point, user_index])]

    def _on_control_point_write(self, connection: Connection | None, value: bytes) -> None:
        from bumble import att

        try:
            request = uds.decode_request(bytes(value))
        except MeasurementDecodeError:
            if value[:1] and value[0] not in {int(o) for o in uds.UcpOpCode}:
                self._spawn(self._answer(uds.UcpResponse(value[0], uds.UcpResult.OP_CODE_NOT_SUPPORTED)))
                return
            raise att.ATT_Error(_ATT_VALUE_NOT_ALLOWED) from None
        if request.op_code != uds.UcpOpCode.CONSENT:
            self._spawn(self._answer(uds.UcpResponse(request.op_code, uds.UcpResult.OP_CODE_NOT_SUPPORTED)))
            return
        if request.user_index not in self.users:
            result = uds.UcpResult.INVALID_PARAMETER
        elif self.users[request.user_index] != request.consent_code:
            result = uds.UcpResult.USER_NOT_AUTHORIZED
        else:
            result = uds.UcpResult.SUCCESS
            self.user_index = request.user_index
        self._spawn(self._answer(uds.UcpResponse(request.op_code, result)))

    async def _answer(self, response: uds.UcpResponse) -> None:
        from bumble import core

        connection, device = self._connection, self._device
        if connection is None or device is None or self._control_point is None:
            return
        with contextlib.suppress(core.BaseBumbleError, ConnectionError, TimeoutError):
            await device.indicate_subscriber(connection, self._control_point, uds.encode_response(response))
        self._maybe_play()


class VirtualHeartRateStrap(VirtualDevice):
    """A heart-rate chest strap: Heart Rate Measurement (notify).

    Examples:
        >>> VirtualHeartRateStrap().address
        'C0:FF:EE:00:00:05'
    """

    service = 0x180D
    characteristics: ClassVar[dict[UuidSpec, Mode]] = {gatt.heart_rate.HEART_RATE_MEASUREMENT: "notify"}
    default_address = "C0:FF:EE:00:00:05"
    default_name = "TM Strap"
    default_info = DeviceInfo(manufacturer="Acme Medical", model="HR-9", serial_number="SN-0005")


class VirtualGlucometer(VirtualDevice):
    """A glucometer with a record store, answering the Record Access Control Point.

    ``records`` are its stored readings (each with its own sequence number and maybe a
    context). Nothing is sent unprompted: a central asks through RACP (0x2A52, write and
    indicate, encryption required, so pairing comes first) and the glucometer notifies
    Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34) per record,
    then indicates the response code. It implements report stored records, report
    number of stored records, delete stored records and abort, with the operators all,
    first, last, ``<=``, ``>=`` and range on sequence numbers; a procedure while one is
    running is refused with ATT error 0xFE, a request while RACP indications are off with
    0xFD (GSS RACP; Core Specification Supplement Part B).

    ``operators`` limits the operators it supports (older meters know only "all
    records"); others are answered with "operator not supported".

    Attributes:
        records: The stored records, by sequence number.
        requests: Every RACP request received, decoded, in order.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom import BloodGlucose
        >>> at = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
        >>> meter = VirtualGlucometer(records=[BloodGlucose(value=95, sequence_number=1, measured_at=at)])
        >>> [r.sequence_number for r in meter.records]
        [1]
    """

    service = 0x1808
    characteristics: ClassVar[dict[UuidSpec, Mode]] = {
        gatt.glucose.GLUCOSE_MEASUREMENT: "notify",
        gatt.glucose.GLUCOSE_MEASUREMENT_CONTEXT: "notify",
    }
    default_address = "C0:FF:EE:00:00:06"
    default_name = "TM Glucometer"
    default_info = DeviceInfo(manufacturer="Acme Medical", model="GL-5", serial_number="SN-0006")

    def __init__(
        self,
        readings: Sequence[Measurement] = (),
        *,
        records: Sequence[BloodGlucose] = (),
        operators: Collection[racp.Operator] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(readings, **kwargs)
        self.operators = frozenset(racp.Operator if operators is None else operators)
        self.records = sorted(records, key=lambda r: r.sequence_number)
        for record in self.records:
            self.encode(record)
        self.requests: list[racp.RacpRequest] = []
        self._racp: Characteristic[Any] | None = None
        self._racp_subscribed = False
        self._procedure: asyncio.Task[None] | None = None
        self._busy = False
        self._abort = False

    def encode(self, measurement: Measurement) -> list[tuple[UuidSpec, bytes]]:
        """A glucose record: the measurement, then its context when it has one."""
        values = super().encode(measurement)
        if isinstance(measurement, BloodGlucose) and measurement.context is not None:
            context = gatt.glucose.encode_glucose_context(measurement.sequence_number, measurement.context)
            values.append((gatt.glucose.GLUCOSE_MEASUREMENT_CONTEXT, context))
        return values

    def extra_characteristics(self) -> list[Characteristic[Any]]:
        """The Record Access Control Point: write (encrypted) and indicate."""
        from bumble import gatt as bgatt

        racp_characteristic: Characteristic[Any] = bgatt.Characteristic(
            _uuid(racp.RECORD_ACCESS_CONTROL_POINT),
            bgatt.Characteristic.Properties.WRITE | bgatt.Characteristic.Properties.INDICATE,
            bgatt.Characteristic.WRITE_REQUIRES_ENCRYPTION,
            bgatt.CharacteristicValue(write=self._on_racp_write),
        )

        def on_subscription(connection: Connection, notify: bool, indicate: bool) -> None:
            if connection is self._connection:
                self._racp_subscribed = indicate

        racp_characteristic.on("subscription", on_subscription)
        self._racp = racp_characteristic
        return [racp_characteristic]

    def _on_connection(self, connection: Connection) -> None:
        super()._on_connection(connection)
        self._racp_subscribed = False

    def _select(self, request: racp.RacpRequest) -> list[BloodGlucose]:
        records, operand, op = self.records, request.operand, racp.Operator
        match request.operator:
            case op.ALL_RECORDS:
                return list(records)
            case op.FIRST_RECORD:
                return records[:1]
            case op.LAST_RECORD:
                return records[-1:]
            case op.LESS_THAN_OR_EQUAL_TO:
                return [r for r in records if r.sequence_number <= operand[0]]
            case op.GREATER_THAN_OR_EQUAL_TO:
                return [r for r in records if r.sequence_number >= operand[0]]
            case op.WITHIN_RANGE_OF:
                return [r for r in records if operand[0] <= r.sequence_number <= operand[1]]
        return []

    def _on_racp_write(self, connection: Connection | None, value: bytes) -> None:
        from bumble import att

        value = bytes(value)
        if not self._racp_subscribed:
            raise att.ATT_Error(_ATT_CCCD_IMPROPERLY_CONFIGURED)
        busy = self._busy
        if value[:1] == bytes([racp.OpCode.ABORT_OPERATION]):
            self._abort = True
            self._spawn(self._finish_abort(self._procedure if busy else None))
            return
        if busy:
            raise att.ATT_Error(_ATT_PROCEDURE_ALREADY_IN_PROGRESS)
        self._abort = False
        self._procedure = self._spawn(self._run(value))

    async def _respond(self, response: racp.NumberOfRecords | racp.ResponseCodeValue) -> None:
        from bumble import core

        connection, device = self._connection, self._device
        if connection is None or device is None or self._racp is None:
            return
        with contextlib.suppress(core.BaseBumbleError, ConnectionError, TimeoutError):
            await device.indicate_subscriber(connection, self._racp, racp.encode_response(response))

    async def _finish_abort(self, running: asyncio.Task[None] | None) -> None:
        if running is not None:
            await asyncio.gather(running, return_exceptions=True)
        await self._respond(racp.ResponseCodeValue(racp.OpCode.ABORT_OPERATION, racp.ResponseCode.SUCCESS))

    async def _run(self, value: bytes) -> None:
        self._busy = True
        try:
            answer = await self._procedure_answer(value)
        finally:
            self._busy = False  # free before the answer: the client may write again at once
        if answer is not None:
            await self._respond(answer)

    async def _procedure_answer(self, value: bytes) -> racp.NumberOfRecords | racp.ResponseCodeValue | None:
        code = racp.ResponseCode
        try:
            request = racp.decode_request(value)
        except MeasurementDecodeError:
            return racp.ResponseCodeValue(value[0], self._refusal(value))
        self.requests.append(request)
        if request.operator not in self.operators:
            return racp.ResponseCodeValue(request.op_code, code.OPERATOR_NOT_SUPPORTED)
        selected = self._select(request)
        if request.op_code == racp.OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            return racp.NumberOfRecords(len(selected))
        if not selected:
            return racp.ResponseCodeValue(request.op_code, code.NO_RECORDS_FOUND)
        if request.op_code == racp.OpCode.DELETE_STORED_RECORDS:
            gone = {r.sequence_number for r in selected}
            self.records = [r for r in self.records if r.sequence_number not in gone]
            return racp.ResponseCodeValue(request.op_code, code.SUCCESS)
        for record in selected:
            if self._abort:
                return None  # the abort's own response ends the procedure
            if not await self._send_all(self.encode(self.stamp(record))):
                return None  # link lost: the procedure ends without a response
            await asyncio.sleep(0)  # one record per turn, as a radio paces them: an abort can get in
        return racp.ResponseCodeValue(request.op_code, code.SUCCESS)

    @staticmethod
    def _refusal(value: bytes) -> int:
        """The response code for a request that does not decode (GSS RACP procedure rules)."""
        code = racp.ResponseCode
        if value[0] not in {int(o) for o in racp.OpCode}:
            return code.OP_CODE_NOT_SUPPORTED
        if len(value) < 2 or value[1] not in {int(o) for o in racp.Operator}:
            return code.INVALID_OPERATOR
        if len(value) > 2 and value[2] != racp.FilterType.SEQUENCE_NUMBER:
            return code.OPERAND_NOT_SUPPORTED
        return code.INVALID_OPERAND
