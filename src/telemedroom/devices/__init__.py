"""Turning medical hardware into :class:`~telemedroom.Measurement` objects.

- :mod:`telemedroom.devices.codecs`: IEEE 11073-20601 SFLOAT/FLOAT and Bluetooth Date Time.
- :mod:`telemedroom.devices.gatt`: one module per Bluetooth SIG health profile,
  ``gatt.decode(uuid, data)`` / ``gatt.encode(measurement)``.
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

from telemedroom.devices import codecs, gatt

if typing.TYPE_CHECKING:
    from telemedroom.devices import media

__all__ = ["codecs", "gatt", "media"]

# Submodules that need an extra: imported when first accessed (PEP 562).
_LAZY = frozenset({"media"})


def __getattr__(name: str) -> types.ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
