"""bleak's backend interface implemented over a bumble central on a virtual link.

Imported only when a :class:`~telemedroom.testing.BumbleBackend` is created: it needs
both extras, ``ble`` (bleak) and ``sim`` (bumble). Every error of bumble is translated
here into the bleak error a real backend raises (``BleakGATTProtocolError`` for an ATT
error response, ``BleakDeviceNotFoundError``, ``BleakError``), so the code above bleak
sees exactly what it would see with a real adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, gatt
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.hci import Address

if TYPE_CHECKING:
    from bleak.args import SizedBuffer
    from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

    from telemedroom.testing._radio import Radio

__all__ = ["BumbleClient", "BumbleScanner", "bleak_uuid"]

logger = logging.getLogger("telemedroom.testing")

# Bluetooth Core Specification Vol 3 Part G §3.3.1.1 Characteristic Properties -> bleak's names.
_PROPERTY_NAMES: tuple[tuple[int, str], ...] = (
    (gatt.Characteristic.Properties.BROADCAST, "broadcast"),
    (gatt.Characteristic.Properties.READ, "read"),
    (gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (gatt.Characteristic.Properties.WRITE, "write"),
    (gatt.Characteristic.Properties.NOTIFY, "notify"),
    (gatt.Characteristic.Properties.INDICATE, "indicate"),
    (gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (gatt.Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)
_SERVICE_LISTS = (
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
# HCI error "Remote User Terminated Connection" (Core Vol 1 Part F §2.19).
_REMOTE_USER_TERMINATED = 0x13


@functools.lru_cache(maxsize=256)
def _parsed(data_bytes: bytes) -> tuple[str | None, tuple[str, ...], tuple[tuple[int, bytes], ...]]:
    """Name, service UUIDs and manufacturer data of one advertisement's bytes.

    Cached: a device advertises the same bytes every 20 ms, and bumble builds a UUID
    object (a linear search of its registry) for each service in each one, which was the
    largest share of the gateway's idle CPU spent in our code (``bench_apartment.py``).
    """
    data = AdvertisingData.from_bytes(data_bytes)
    name = data.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.Type.SHORTENED_LOCAL_NAME
    )
    # once each, as BlueZ reports them: bumble's virtual controller answers a scan request
    # with the advertising data, so the merged report holds every structure twice
    services = tuple(
        dict.fromkeys(
            bleak_uuid(uuid)
            for kind in _SERVICE_LISTS
            for uuids in data.get_all(kind)
            if isinstance(uuids, list)
            for uuid in uuids
        )
    )
    manufacturer = tuple(
        (company, bytes(payload))
        for company, payload in data.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA)
    )
    return (name if isinstance(name, str) else None), services, manufacturer


def bleak_uuid(uuid: core.UUID) -> str:
    """A bumble UUID as bleak spells it: 128-bit, lower case."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


@contextlib.contextmanager
def _as_bleak_errors(what: str) -> Iterator[None]:
    """Translate bumble's errors into the ones a real bleak backend raises."""
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(int(exc.error_code)) from exc
    except (core.BaseBumbleError, ConnectionError, TimeoutError) as exc:
        raise BleakError(f"{what}: {str(exc) or repr(exc)}") from exc


class BumbleScanner(BaseBleakScanner):
    """A bleak scanner whose radio is a bumble central on the virtual link."""

    radio: ClassVar[Radio]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode == "active"
        self._device: Device | None = None

    async def start(self) -> None:
        """Start scanning: a fresh central device listens on the link."""
        self.seen_devices = {}
        device = await self.radio.central("scanner")
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        with _as_bleak_errors("cannot start scanning"):
            await device.start_scanning(active=self._active)
        self._device = device

    async def stop(self) -> None:
        """Stop scanning and take the central off the link."""
        device, self._device = self._device, None
        if device is not None:
            with _as_bleak_errors("cannot stop scanning"):
                await device.stop_scanning()
            await self.radio.release(device)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        # the whole data, with the scan response merged in (not data_bytes: the last report only)
        name, services, manufacturer = _parsed(bytes(advertisement.data))
        if not self.is_allowed_uuid(list(services)):
            return
        address = advertisement.address.to_string(with_type_qualifier=False)
        advertisement_data = AdvertisementData(
            local_name=name,
            manufacturer_data=dict(manufacturer),
            service_data={},
            service_uuids=list(services),
            tx_power=advertisement.tx_power if advertisement.tx_power != 0x7F else None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, name, advertisement, advertisement_data)
        self.call_detection_callbacks(device, advertisement_data)


class BumbleClient(BaseBleakClient):
    """A bleak client whose radio is a bumble central on the virtual link.

    Each client brings its own central (controller + host) onto the link when it
    connects and takes it off when it disconnects, as a real adapter's connection would
    come and go.
    """

    radio: ClassVar[Radio]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=kwargs.get("timeout", 10.0),
        )
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._closing = False

    @property
    def name(self) -> str:
        """The peer's address: the virtual link has no Generic Access name cache."""
        return self.address

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU."""
        if self._connection is None:
            raise BleakError("Not connected")
        return int(self._connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        """Whether the link to the peripheral is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, pair if asked, and discover the whole GATT database."""
        if not self.radio.has_device(self.address):
            raise BleakDeviceNotFoundError(self.address, f"no device with address {self.address} on the link")
        device = await self.radio.central("client")
        self._device = device
        self._closing = False
        try:
            with _as_bleak_errors(f"cannot connect to {self.address}"):
                connection = await device.connect(Address(self.address), timeout=self._timeout)
            self._connection = connection
            connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            if pair:
                await self.pair()
            self.services = await self._discover(connection)
        except BaseException:
            await self._teardown()
            raise

    async def _discover(self, connection: Connection) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        peer = Peer(connection)
        with _as_bleak_errors("service discovery failed"):
            await peer.discover_services()
            for service in peer.services:
                await service.discover_characteristics()
                for characteristic in service.characteristics:
                    await characteristic.discover_descriptors()
        for service in peer.services:
            self._add_service(collection, service)
        return collection

    def _add_service(self, collection: BleakGATTServiceCollection, service: ServiceProxy) -> None:
        bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
        collection.add_service(bleak_service)
        for characteristic in service.characteristics:
            properties = [name for bit, name in _PROPERTY_NAMES if characteristic.properties & bit]
            bleak_characteristic = BleakGATTCharacteristic(
                characteristic,
                characteristic.handle,
                bleak_uuid(characteristic.uuid),
                properties,  # type: ignore[arg-type]  # names from the table above
                self._max_write_size,
                bleak_service,
            )
            collection.add_characteristic(bleak_characteristic)
            for descriptor in characteristic.descriptors:
                collection.add_descriptor(
                    BleakGATTDescriptor(
                        descriptor,
                        descriptor.handle,
                        bleak_uuid(
                            core.UUID(descriptor.type)
                            if not isinstance(descriptor.type, core.UUID)
                            else descriptor.type
                        ),
                        bleak_characteristic,
                    )
                )

    def _max_write_size(self) -> int:
        return self.mtu_size - 3

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()
        if self._device is not None and not self._closing:
            # The peer dropped us: take our central off the link, as the OS would.
            task = asyncio.get_running_loop().create_task(self._teardown())
            self.radio.keep(task)

    async def _teardown(self) -> None:
        device, self._device = self._device, None
        self._connection = None
        if device is not None:
            await self.radio.release(device)

    async def disconnect(self) -> None:
        """Disconnect (if connected) and take the central off the link."""
        self._closing = True
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(core.BaseBumbleError, ConnectionError, TimeoutError):
                await connection.disconnect(_REMOTE_USER_TERMINATED)
        await self._teardown()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (Just Works, bonding) with the peripheral."""
        if self._connection is None:
            raise BleakError("Not connected")
        with _as_bleak_errors("SMP"):
            await self._connection.pair()

    async def unpair(self) -> None:
        """Forget the bond; the virtual link keeps no bonds, so this only disconnects."""
        await self.disconnect()

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic's value."""
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        with _as_bleak_errors(f"reading {characteristic.uuid} failed"):
            return bytearray(await proxy.read_value())

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor's value."""
        proxy: DescriptorProxy = descriptor.obj
        with _as_bleak_errors(f"reading descriptor {descriptor.uuid} failed"):
            return bytearray(await proxy.read_value())

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write a characteristic's value, with or without response."""
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        with _as_bleak_errors(f"writing {characteristic.uuid} failed"):
            await proxy.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        """Write a descriptor's value."""
        proxy: DescriptorProxy = descriptor.obj
        with _as_bleak_errors(f"writing descriptor {descriptor.uuid} failed"):
            await proxy.write_value(bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Write the CCCD: notifications where offered, else indications (as bleak prefers)."""
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        deliver: Callable[[bytes], None] = lambda value: callback(bytearray(value))  # noqa: E731
        with _as_bleak_errors(f"subscribing to {characteristic.uuid} failed"):
            await proxy.subscribe(deliver, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Clear the CCCD."""
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        with _as_bleak_errors(f"unsubscribing from {characteristic.uuid} failed"):
            await proxy.unsubscribe()
