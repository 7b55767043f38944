"""Heart Rate Service: Heart Rate Measurement (0x2A37).

GATT Specification Supplement §3.113; Heart Rate Service 1.0.

Layout, little-endian::

    flags u8 | heart rate u8 or u16 | [energy expended u16, kJ] | [RR-interval u16, 1/1024 s]...

The RR-intervals fill the rest of the value, so their count is the remaining length / 2.

Examples:
    >>> from datetime import UTC
    >>> m = decode_heart_rate(bytes.fromhex("1e 48 e803 0004"), UTC)
    >>> m.bpm, m.sensor_contact, m.energy_expended_kj, m.rr_intervals_s
    (72, True, 1000, (1.0,))
"""

from __future__ import annotations

import math
import struct
from datetime import tzinfo

from telemedroom.devices.gatt._wire import check_length, fail
from telemedroom.errors import MeasurementEncodeError
from telemedroom.measurements import HeartRate

__all__ = ["HEART_RATE_MEASUREMENT", "decode_heart_rate", "encode_heart_rate"]

HEART_RATE_MEASUREMENT = 0x2A37

_UINT16_VALUE = 0x01
_CONTACT_SUPPORTED = 0x04
_CONTACT_DETECTED = 0x02
_ENERGY_EXPENDED = 0x08
_RR_INTERVALS = 0x10
_RESERVED = 0xE0
_RR_RESOLUTION = 1024  # RR-intervals are in units of 1/1024 second

_U16 = struct.Struct("<H")


def decode_heart_rate(data: bytes, tz: tzinfo) -> HeartRate:
    """Decode a Heart Rate Measurement (0x2A37).

    Args:
        data: The notified value.
        tz: Unused (the profile has no time stamp); present for a uniform signature.

    Raises:
        MeasurementDecodeError: The value is truncated, announces RR-intervals without
            sending any, or has an odd byte where RR-intervals should be.

    Examples:
        >>> from datetime import UTC
        >>> decode_heart_rate(bytes.fromhex("0048"), UTC).bpm
        72
    """
    uuid = HEART_RATE_MEASUREMENT
    if not data:
        check_length(uuid, data, 1, 0, 0)
    flags = data[0]
    needed = 1 + (2 if flags & _UINT16_VALUE else 1) + (2 if flags & _ENERGY_EXPENDED else 0)
    size = len(data)
    if flags & _RR_INTERVALS:
        if size < needed:  # the value or energy itself is cut, not only the RR-intervals
            check_length(uuid, data, needed, flags, _RESERVED)
        if size < needed + 2:
            fail(uuid, data, size, "RR-intervals are announced but none was sent")
        if (size - needed) % 2 and not flags & _RESERVED:
            fail(uuid, data, size - 1, "an RR-interval needs two bytes, one was sent")
    else:
        check_length(uuid, data, needed, flags, _RESERVED)

    if flags & _UINT16_VALUE:
        bpm = _U16.unpack_from(data, 1)[0]
        offset = 3
    else:
        bpm = data[1]
        offset = 2
    energy = None
    if flags & _ENERGY_EXPENDED:
        energy = _U16.unpack_from(data, offset)[0]
        offset += 2
    rr: tuple[float, ...] = ()
    if flags & _RR_INTERVALS:
        count = (size - offset) // 2
        rr = tuple(v / _RR_RESOLUTION for v in struct.unpack_from(f"<{count}H", data, offset))
    contact = None
    if flags & _CONTACT_SUPPORTED:
        contact = bool(flags & _CONTACT_DETECTED)
    return HeartRate(bpm=bpm, energy_expended_kj=energy, rr_intervals_s=rr, sensor_contact=contact)


def encode_heart_rate(m: HeartRate, tz: tzinfo) -> bytes:
    """Encode a heart-rate reading as a Heart Rate Measurement (0x2A37).

    The value is sent as u8 when it fits, as the profile recommends.

    Raises:
        MeasurementEncodeError: An RR-interval is not a multiple of 1/1024 s or exceeds 64 s.

    Examples:
        >>> from datetime import UTC
        >>> encode_heart_rate(HeartRate(bpm=72, sensor_contact=True, rr_intervals_s=(1.0,)), UTC).hex()
        '16480004'
    """
    flags = 0
    out = bytearray()
    if m.bpm > 0xFF:
        flags |= _UINT16_VALUE
        out += _U16.pack(m.bpm)
    else:
        out.append(m.bpm)
    if m.sensor_contact is not None:
        flags |= _CONTACT_SUPPORTED | (_CONTACT_DETECTED if m.sensor_contact else 0)
    if m.energy_expended_kj is not None:
        flags |= _ENERGY_EXPENDED
        out += _U16.pack(m.energy_expended_kj)
    if m.rr_intervals_s:
        flags |= _RR_INTERVALS
        for rr in m.rr_intervals_s:
            # NaN and infinity have no integer; round() would raise a bare ValueError/OverflowError.
            raw = round(rr * _RR_RESOLUTION) if math.isfinite(rr) else -1
            if raw / _RR_RESOLUTION != rr or not 0 <= raw <= 0xFFFF:
                raise MeasurementEncodeError(
                    f"RR-interval {rr} s is not a multiple of 1/1024 s between 0 and 64 s"
                )
            out += _U16.pack(raw)
    return bytes([flags]) + bytes(out)
