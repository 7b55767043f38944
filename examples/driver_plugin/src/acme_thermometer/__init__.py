"""A telemedroom driver for the Acme T-100 thermometer (a vendor GATT layout).

The T-100 advertises the vendor service ``7e5a0001-...`` and notifies readings on the
vendor characteristic ``7e5a0002-...``, five bytes, little-endian::

    temperature s16, 0.01 °C | mode u8 (0 forehead, 1 ear, 2 object) | battery u8, % | flags u8

Mode "object" measures a surface (a bottle, a wall), not a person: not a body
temperature, so it yields nothing. Flag bit 0 set means "reading out of range".
"""

from __future__ import annotations

import struct
from datetime import tzinfo

from telemedroom import BodyTemperature, Measurement, MeasurementDecodeError
from telemedroom.devices import DeviceDriver, DiscoveredDevice

__all__ = ["ACME_SERVICE", "ACME_TEMPERATURE", "AcmeThermometerDriver", "decode_t100", "encode_t100"]

ACME_SERVICE = "7e5a0001-1d2c-4e7b-9a3f-6c7d8e9fa0b1"
ACME_TEMPERATURE = "7e5a0002-1d2c-4e7b-9a3f-6c7d8e9fa0b1"

_LAYOUT = struct.Struct("<hBBB")
_SITES = {0: "forehead", 1: "ear"}
_OBJECT = 2
_OUT_OF_RANGE = 0x01


def decode_t100(data: bytes) -> list[Measurement]:
    """Decode one T-100 value; an object reading gives no measurement."""
    if len(data) != _LAYOUT.size:
        raise MeasurementDecodeError(
            ACME_TEMPERATURE, data, min(len(data), _LAYOUT.size), "a T-100 value is 5 bytes"
        )
    centi, mode, _battery, flags = _LAYOUT.unpack(data)
    if mode == _OBJECT:
        return []
    if mode not in _SITES:
        raise MeasurementDecodeError(ACME_TEMPERATURE, data, 2, f"mode {mode} is not 0-2")
    status = frozenset({"out_of_range"}) if flags & _OUT_OF_RANGE else frozenset()
    return [BodyTemperature(value=centi / 100, site=_SITES[mode], status=status)]


def encode_t100(reading: BodyTemperature, battery: int = 80) -> bytes:
    """What a T-100 sends for ``reading`` (used by the virtual T-100)."""
    assert reading.value is not None
    mode = {site: code for code, site in _SITES.items()}[reading.site or "forehead"]
    flags = _OUT_OF_RANGE if "out_of_range" in reading.status else 0
    return _LAYOUT.pack(round(reading.value * 100), mode, battery, flags)


class AcmeThermometerDriver(DeviceDriver):
    """Handles devices advertising the Acme vendor service."""

    name = "acme-t100"
    characteristics = frozenset({ACME_TEMPERATURE})

    def matches(self, device: DiscoveredDevice) -> bool:
        return ACME_SERVICE in device.services

    def decode(self, uuid: str, data: bytes, tz: tzinfo) -> list[Measurement]:
        return decode_t100(data)
