"""Turning medical hardware into :class:`~telemedroom.Measurement` objects.

- :mod:`telemedroom.devices.codecs`: IEEE 11073-20601 SFLOAT/FLOAT and Bluetooth Date Time.
- :mod:`telemedroom.devices.gatt`: one module per Bluetooth SIG health profile,
  ``gatt.decode(uuid, data)`` / ``gatt.encode(measurement)``.
- :mod:`telemedroom.devices.ble`: :class:`DeviceManager` and :class:`Connection`, live
  Bluetooth LE links through bleak (extra ``ble``).
- :mod:`telemedroom.devices.registry`: :class:`DeviceDriver` and the plugins found in
  the ``telemedroom.drivers`` entry-point group.
- :mod:`telemedroom.devices.media`: cameras, microphone and stethoscope as aiortc tracks
  (extra ``video``; imported on first use, so this package does not load aiortc).

Examples:
    >>> from telemedroom.devices import gatt
    >>> gatt.decode(0x2A37, bytes.fromhex("0048")).bpm
    72
"""

from __future__ import annotations

import importlib
import types
import typing

from telemedroom.devices import ble, codecs, gatt, registry
from telemedroom.devices.ble import (
    Backend,
    Connection,
    ConnectionStats,
    DeviceManager,
    DiscoveredDevice,
    ReconnectPolicy,
)
from telemedroom.devices.registry import DeviceDriver, StandardProfileDriver, load_drivers

if typing.TYPE_CHECKING:
    from telemedroom.devices import media

__all__ = [
    "Backend",
    "Connection",
    "ConnectionStats",
    "DeviceDriver",
    "DeviceManager",
    "DiscoveredDevice",
    "ReconnectPolicy",
    "StandardProfileDriver",
    "ble",
    "codecs",
    "gatt",
    "load_drivers",
    "media",
    "registry",
]

for _obj in (
    Backend,
    Connection,
    ConnectionStats,
    DeviceDriver,
    DeviceManager,
    DiscoveredDevice,
    ReconnectPolicy,
    StandardProfileDriver,
    load_drivers,
):
    _obj.__module__ = __name__
del _obj

# Submodules that need an extra: imported when first accessed (PEP 562).
_LAZY = frozenset({"media"})


def __getattr__(name: str) -> types.ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
