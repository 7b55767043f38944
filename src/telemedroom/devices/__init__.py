"""Turning medical hardware into :class:`~telemedroom.Measurement` objects.

- :mod:`telemedroom.devices.codecs`: IEEE 11073-20601 SFLOAT/FLOAT and Bluetooth Date Time.
- :mod:`telemedroom.devices.gatt`: one module per Bluetooth SIG health profile,
  ``gatt.decode(uuid, data)`` / ``gatt.encode(measurement)``.

Examples:
    >>> from telemedroom.devices import gatt
    >>> gatt.decode(0x2A37, bytes.fromhex("0048")).bpm
    72
"""

from __future__ import annotations

from telemedroom.devices import codecs, gatt

__all__ = ["codecs", "gatt"]
