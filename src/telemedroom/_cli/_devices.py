"""``telemedroom devices scan``: the health devices in radio range, as a table."""

from __future__ import annotations

import contextlib
from datetime import UTC

from rich.console import Console
from rich.table import Table

from telemedroom.devices.ble import Backend, DeviceManager, DiscoveredDevice


async def scan(
    *, timeout: float, adapter: str | None, backend: Backend | None = None, expect: int | None = None
) -> list[DiscoveredDevice]:
    """Every device that advertises within ``timeout`` seconds (stop early after ``expect``)."""
    found: list[DiscoveredDevice] = []
    async with (
        DeviceManager(adapter, backend, tz=UTC) as manager,
        contextlib.aclosing(manager.scan(timeout=timeout)) as advertising,
    ):
        async for device in advertising:
            found.append(device)
            if expect is not None and len(found) >= expect:
                break
    return found


async def simulated_scan(timeout: float) -> list[DiscoveredDevice]:
    """Scan a virtual radio holding one virtual device of each kind (needs ``sim`` and ``ble``)."""
    from telemedroom.testing import BumbleBackend, virtual_devices

    devices = virtual_devices(UTC)
    async with BumbleBackend() as radio:
        for device in devices:
            await radio.add(device)
        return await scan(timeout=timeout, adapter=None, backend=radio, expect=len(devices))


def table(found: list[DiscoveredDevice], title: str) -> Table:
    """The devices found, health devices first, then by signal strength."""
    rows = Table(title=title, title_justify="left")
    rows.add_column("address", no_wrap=True)
    rows.add_column("name")
    rows.add_column("rssi", justify="right")
    rows.add_column("health services")
    rows.add_column("driver")
    ordered = sorted(found, key=lambda d: (not d.health_services, -(d.rssi or -999), d.address))
    for device in ordered:
        rows.add_row(
            device.address,
            device.name or "—",
            "—" if device.rssi is None else f"{device.rssi} dBm",
            ", ".join(device.health_services) or "—",
            device.driver.name if device.driver is not None else "—",
        )
    return rows


def show(console: Console, found: list[DiscoveredDevice], where: str) -> None:
    """Print the table and a one-line count."""
    console.print(table(found, f"Bluetooth LE devices ({where})"))
    health = sum(1 for device in found if device.health_services)
    console.print(f"{len(found)} device(s), {health} with a health service")
