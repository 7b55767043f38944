"""``BumbleBackend``: a virtual Bluetooth radio that bleak, and so ``DeviceManager``, can use."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from telemedroom.errors import MissingExtraError

if TYPE_CHECKING:
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.scanner import BaseBleakScanner
    from bumble.controller import Controller
    from bumble.device import Device
    from bumble.link import LocalLink

    from telemedroom.testing._virtual_devices import VirtualDevice

__all__ = ["BumbleBackend"]

_Virtual = TypeVar("_Virtual", bound="VirtualDevice")


def _load() -> tuple[type[BaseBleakScanner], type[BaseBleakClient], type[LocalLink]]:
    try:
        from bumble.link import LocalLink
    except ImportError as exc:
        raise MissingExtraError("sim", "telemedroom.testing.BumbleBackend (bumble)") from exc
    try:
        from telemedroom.testing._bumble_bleak import BumbleClient, BumbleScanner
    except ImportError as exc:
        raise MissingExtraError("ble", "telemedroom.testing.BumbleBackend (bleak)") from exc
    return BumbleScanner, BumbleClient, LocalLink


class BumbleBackend:
    """A virtual Bluetooth LE radio: bumble controllers on one in-process link.

    Virtual devices (:class:`VirtualBloodPressureCuff`, ...) advertise on it, and it is a
    bleak backend: pass it as ``DeviceManager(backend=...)`` and the manager's own bleak
    code path (``BleakScanner``/``BleakClient`` with ``backend=``) scans, connects,
    pairs, discovers and subscribes through real bumble controllers speaking real ATT,
    GATT and SMP, exactly as it would through a USB dongle. This is a fake only in that
    the radio is in memory.

    Attributes:
        scanner_backend: The ``BaseBleakScanner`` subclass bound to this radio.
        client_backend: The ``BaseBleakClient`` subclass bound to this radio.

    Examples:
        >>> import asyncio
        >>> from telemedroom import HeartRate
        >>> from telemedroom.devices import DeviceManager
        >>> from telemedroom.testing import BumbleBackend, VirtualHeartRateStrap
        >>> async def main():
        ...     async with BumbleBackend() as radio:
        ...         strap = await radio.add(VirtualHeartRateStrap([HeartRate(bpm=64)]))
        ...         async with DeviceManager(backend=radio) as dm, await dm.connect(strap.address) as conn:
        ...             async for reading in conn.measurements():
        ...                 return reading.bpm
        >>> asyncio.run(main())
        64
    """

    def __init__(self) -> None:
        scanner, client, local_link = _load()
        self.link: LocalLink = local_link()
        self.scanner_backend: type[BaseBleakScanner] = type("BumbleScanner", (scanner,), {"radio": self})
        self.client_backend: type[BaseBleakClient] = type("BumbleClient", (client,), {"radio": self})
        self._devices: dict[str, VirtualDevice] = {}
        self._centrals = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._controllers: dict[Device, Controller] = {}
        self.adapter_present = True

    @property
    def devices(self) -> list[VirtualDevice]:
        """The virtual devices on the radio, in the order they were added."""
        return list(self._devices.values())

    async def add(self, device: _Virtual) -> _Virtual:
        """Power a virtual device on and let it advertise; returns it for chaining.

        Raises:
            ValueError: Another device on this radio already has its address.
        """
        if device.address in self._devices:
            raise ValueError(f"a device with address {device.address} is already on this radio")
        self._devices[device.address] = device
        await device.start(self)
        return device

    def has_device(self, address: str) -> bool:
        """Whether a controller with this address is on the link."""
        wanted = address.upper()
        return any(
            str(c.public_address).split("/")[0] == wanted or str(c.random_address).split("/")[0] == wanted
            for c in self.link.controllers
        )

    def new_device(self, name: str, address: str) -> Device:
        """A bumble device with its own virtual controller on this radio's link (not powered on)."""
        from bumble.controller import Controller
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.transport.common import AsyncPipeSink

        controller = Controller(name, link=self.link, public_address=address)
        device = Device(name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller)))
        self._controllers[device] = controller
        return device

    def unplug(self) -> None:
        """The host's Bluetooth adapter goes away: scanning and connecting fail until :meth:`plug_in`.

        bleak raises ``BleakError`` then, as BlueZ does when its adapter is removed.
        """
        self.adapter_present = False

    def plug_in(self) -> None:
        """The adapter is back."""
        self.adapter_present = True

    async def central(self, role: str) -> Device:
        """Bring a fresh central (controller + host) onto the link, powered on."""
        from bumble.pairing import PairingConfig

        if not self.adapter_present:
            from bleak.exc import BleakError

            raise BleakError("Bluetooth adapter not available (hci0 was removed)")

        self._centrals += 1
        address = f"F0:00:00:00:{self._centrals >> 8 & 0xFF:02X}:{self._centrals & 0xFF:02X}"
        device = self.new_device(f"telemedroom-{role}-{self._centrals}", address)
        # LE Secure Connections, Just Works, bonding: what a room's adapter offers.
        device.pairing_config_factory = lambda _connection: PairingConfig(sc=True, mitm=False, bonding=True)
        await device.power_on()
        return device

    async def release(self, device: Device) -> None:
        """Power a device off and take its controller off the link."""
        controller = self._controllers.pop(device, None)
        await device.power_off()
        if controller is not None and controller in self.link.controllers:
            self.link.remove_controller(controller)

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a background task until it finishes (the loop keeps only weak references)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Power every virtual device off."""
        for device in reversed(self.devices):
            await device.aclose()
        self._devices.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
