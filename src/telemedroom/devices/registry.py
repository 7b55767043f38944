"""Device drivers: which code talks to which device, and how vendors add their own.

A :class:`DeviceDriver` says whether it handles a discovered device, whether the device
needs pairing, which proprietary characteristics to subscribe to and how to decode them.
The built-in :class:`StandardProfileDriver` handles every device that advertises a
Bluetooth SIG health service. Third-party drivers are separate pip packages that declare
an entry point in the group ``telemedroom.drivers``::

    [project.entry-points."telemedroom.drivers"]
    acme-thermometer = "acme_telemedroom:AcmeThermometerDriver"

:func:`load_drivers` finds them through :func:`importlib.metadata.entry_points`, so no
code of telemedroom has to import or know them.

Examples:
    >>> from telemedroom.devices import DiscoveredDevice, StandardProfileDriver
    >>> cuff = DiscoveredDevice(address="C0:FF:EE:00:00:01", name="Cuff", rssi=-50,
    ...                         services=("00001810-0000-1000-8000-00805f9b34fb",))
    >>> StandardProfileDriver().matches(cuff), cuff.health_services
    (True, ('blood_pressure',))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import tzinfo
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from telemedroom.errors import DriverLoadError, UnsupportedCharacteristic

if TYPE_CHECKING:
    from telemedroom.measurements import Measurement

__all__ = [
    "ENTRY_POINT_GROUP",
    "HEALTH_SERVICES",
    "DeviceDriver",
    "DiscoveredDevice",
    "ReadingSource",
    "StandardProfileDriver",
    "load_drivers",
    "short_service",
]

ENTRY_POINT_GROUP = "telemedroom.drivers"

# Bluetooth SIG Assigned Numbers §3.4.2 (GATT services): the health services decoded here.
HEALTH_SERVICES: dict[int, str] = {
    0x1808: "glucose",
    0x1809: "health_thermometer",
    0x180D: "heart_rate",
    0x1810: "blood_pressure",
    0x181D: "weight_scale",
    0x1822: "pulse_oximeter",
}
# Services whose profile requires a bonded link: Glucose Profile 1.0.1 §5 ("bonding is
# mandatory"), User Data Service (0x181C) for scales that keep per-user data.
_PAIRING_SERVICES = frozenset({0x1808, 0x181C})
_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def short_service(uuid: str) -> int | None:
    """The 16-bit SIG number of a 128-bit UUID string, ``None`` for a vendor UUID.

    Examples:
        >>> hex(short_service("00001810-0000-1000-8000-00805f9b34fb"))
        '0x1810'
        >>> short_service("7e5a0001-1d2c-4e7b-9a3f-6c7d8e9fa0b1") is None
        True
    """
    text = uuid.lower()
    if len(text) == 36 and text.startswith("0000") and text.endswith(_BASE_SUFFIX):
        return int(text[4:8], 16)
    return None


class ReadingSource(Protocol):
    """What a driver reads from: a :class:`~telemedroom.devices.Connection` is one.

    The registry names this small protocol, not the BLE layer's class, so that the BLE
    layer builds on the registry and never the other way round.
    """

    def measurements(self) -> AsyncIterator[Measurement]:
        """Every reading of the connected device, as it arrives."""
        ...


class DeviceDriver(ABC):
    """What telemedroom needs to know to take readings from one kind of device.

    Subclass it in a plugin package and register the class (or an instance) in the
    ``telemedroom.drivers`` entry-point group. Only :meth:`matches` is required; the
    defaults stream the standard profiles.

    Attributes:
        name: A short, stable name for logs (``"acme-thermometer"``).
        characteristics: Proprietary characteristics (128-bit UUID strings, lower case)
            to subscribe to; their values go to :meth:`decode`.

    Examples:
        >>> class Nothing(DeviceDriver):
        ...     name = "nothing"
        ...     def matches(self, device):
        ...         return False
        >>> Nothing().characteristics
        frozenset()
    """

    name: ClassVar[str] = "driver"
    characteristics: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def matches(self, device: DiscoveredDevice) -> bool:
        """Whether this driver handles ``device`` (from its name, services, ...)."""

    def requires_pairing(self, device: DiscoveredDevice) -> bool:
        """Whether to pair (bond) right after connecting; the default says no."""
        return False

    def decode(self, uuid: str, data: bytes, tz: tzinfo) -> list[Measurement]:
        """Decode a value of one of :attr:`characteristics` into finished measurements.

        Raise :class:`~telemedroom.errors.MeasurementDecodeError` for a malformed value:
        the connection logs and counts it and goes on.

        Raises:
            UnsupportedCharacteristic: The default: this driver decodes nothing proprietary.
        """
        raise UnsupportedCharacteristic(uuid)

    async def stream(self, connection: ReadingSource) -> AsyncIterator[Measurement]:
        """The readings of a connected device; by default :meth:`Connection.measurements`."""
        async for measurement in connection.measurements():
            yield measurement


class StandardProfileDriver(DeviceDriver):
    """The built-in driver: any device advertising a Bluetooth SIG health service.

    It pairs with glucometers and with scales that advertise the User Data Service,
    whose profiles require a bonded link.

    Examples:
        >>> from telemedroom.devices import DiscoveredDevice
        >>> meter = DiscoveredDevice(address="C0:FF:EE:00:00:06", name=None, rssi=None,
        ...                          services=("00001808-0000-1000-8000-00805f9b34fb",))
        >>> StandardProfileDriver().requires_pairing(meter)
        True
    """

    name = "standard"

    def matches(self, device: DiscoveredDevice) -> bool:
        """Whether the device advertises at least one health service."""
        return bool(device.health_services)

    def requires_pairing(self, device: DiscoveredDevice) -> bool:
        """Glucose and User Data need bonding."""
        return any(short_service(uuid) in _PAIRING_SERVICES for uuid in device.services)


def load_drivers() -> list[DeviceDriver]:
    """Every installed driver plugin, by entry-point name, then the standard driver.

    An entry point may name a :class:`DeviceDriver` subclass (instantiated without
    arguments) or an instance.

    Raises:
        DriverLoadError: A plugin cannot be imported, or is not a :class:`DeviceDriver`.

    Examples:
        >>> load_drivers()[-1].name
        'standard'
    """
    drivers: list[DeviceDriver] = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        spelled = f"{entry_point.name} = {entry_point.value}"
        try:
            loaded = entry_point.load()
            driver = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:
            raise DriverLoadError(spelled, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(driver, DeviceDriver):
            raise DriverLoadError(
                spelled, f"{type(driver).__name__} is not a telemedroom.devices.DeviceDriver"
            )
        drivers.append(driver)
    drivers.append(StandardProfileDriver())
    return drivers


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """A device seen while scanning.

    Attributes:
        address: Its Bluetooth address (a UUID on macOS).
        name: Its advertised local name, if any.
        rssi: Received signal strength in dBm, if known.
        services: The advertised service UUIDs (128-bit, lower case).
        driver: The driver that will handle it, ``None`` if no driver matches.
        ble_device: bleak's handle for connecting (not part of equality).

    Examples:
        >>> d = DiscoveredDevice(address="C0:FF:EE:00:00:05", name="Strap", rssi=-60,
        ...                      services=("0000180d-0000-1000-8000-00805f9b34fb",))
        >>> d.health_services
        ('heart_rate',)
    """

    address: str
    name: str | None
    rssi: int | None
    services: tuple[str, ...] = ()
    driver: DeviceDriver | None = field(default=None, compare=False)
    ble_device: Any = field(default=None, repr=False, compare=False)

    @property
    def health_services(self) -> tuple[str, ...]:
        """The advertised Bluetooth SIG health services, by name."""
        names = (HEALTH_SERVICES.get(short_service(uuid) or -1) for uuid in self.services)
        return tuple(name for name in names if name is not None)
