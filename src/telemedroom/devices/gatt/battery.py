"""Battery Service: Battery Level (0x2A19).

GATT Specification Supplement §3.27 Battery Level: one byte, 0-100 percent.

Examples:
    >>> decode_battery_level(b"\\x57")
    87
"""

from __future__ import annotations

from telemedroom.devices.gatt._wire import fail
from telemedroom.errors import MeasurementEncodeError

__all__ = ["BATTERY_LEVEL", "decode_battery_level", "encode_battery_level"]

BATTERY_LEVEL = 0x2A19


def decode_battery_level(data: bytes) -> int:
    """Decode a Battery Level in percent.

    Raises:
        MeasurementDecodeError: The value is not one byte or above 100.

    Examples:
        >>> decode_battery_level(b"\\x64")
        100
    """
    if len(data) != 1:
        fail(BATTERY_LEVEL, data, min(len(data), 1), "Battery Level is one byte")
    if data[0] > 100:
        fail(BATTERY_LEVEL, data, 0, f"battery level {data[0]} % is above 100 %")
    return data[0]


def encode_battery_level(percent: int) -> bytes:
    """Encode a Battery Level.

    Raises:
        MeasurementEncodeError: The level is outside 0-100.

    Examples:
        >>> encode_battery_level(87)
        b'W'
    """
    if not 0 <= percent <= 100:
        raise MeasurementEncodeError(f"battery level {percent} % is outside 0-100 %")
    return bytes([percent])
