"""Blood Pressure Service: Blood Pressure Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36).

GATT Specification Supplement §3.31 (Blood Pressure Measurement) and §3.133
(Intermediate Cuff Pressure); Blood Pressure Service 1.1.1.

Layout, little-endian::

    flags u8 | systolic SFLOAT | diastolic SFLOAT | mean arterial SFLOAT
    [time stamp Date Time] [pulse rate SFLOAT] [user id u8] [measurement status u16]

Examples:
    >>> from datetime import UTC
    >>> m = decode_blood_pressure(bytes.fromhex("14 7800 5000 5900 4000 0400"), UTC)
    >>> m.systolic, m.diastolic, m.mean_arterial, m.pulse_rate, sorted(m.status)
    (120.0, 80.0, 89.0, 64.0, ['irregular_pulse'])
"""

from __future__ import annotations

import struct
from datetime import tzinfo

from telemedroom.devices.codecs import DATE_TIME_SIZE, decode_sfloat, encode_date_time, encode_sfloat
from telemedroom.devices.gatt._wire import (
    FieldSizes,
    StatusTable,
    announced,
    bits_of,
    check_length,
    date_time,
    names,
    special,
    special_of,
)
from telemedroom.errors import CodecError, MeasurementEncodeError
from telemedroom.measurements import BloodPressure

__all__ = [
    "BLOOD_PRESSURE_MEASUREMENT",
    "INTERMEDIATE_CUFF_PRESSURE",
    "MEASUREMENT_STATUS",
    "decode_blood_pressure",
    "decode_intermediate_cuff_pressure",
    "encode_blood_pressure",
]

BLOOD_PRESSURE_MEASUREMENT = 0x2A35
INTERMEDIATE_CUFF_PRESSURE = 0x2A36

_UNITS_KPA = 0x01
_TIME_STAMP = 0x02
_PULSE_RATE = 0x04
_USER_ID = 0x08
_MEASUREMENT_STATUS = 0x10
_RESERVED = 0xE0
_UNKNOWN_USER = 0xFF  # GSS §3.31: 0xFF means "unknown user"

# GSS §3.31.2 Measurement Status; bits 3-4 are a two-bit pulse-rate range field.
MEASUREMENT_STATUS: StatusTable = (
    (0x0001, "body_movement"),
    (0x0002, "cuff_too_loose"),
    (0x0004, "irregular_pulse"),
    (0x0020, "improper_measurement_position"),
)
_PULSE_RANGE_SHIFT = 3
_PULSE_RANGE = {1: "pulse_rate_exceeds_upper_limit", 2: "pulse_rate_below_lower_limit"}
_PULSE_RANGE_OF = {name: code for code, name in _PULSE_RANGE.items()}

_OPTIONAL: FieldSizes = (
    (_TIME_STAMP, DATE_TIME_SIZE),
    (_PULSE_RATE, 2),
    (_USER_ID, 1),
    (_MEASUREMENT_STATUS, 2),
)

_PRESSURES = struct.Struct("<HHH")
_U16 = struct.Struct("<H")


def _decode(uuid: int, data: bytes, tz: tzinfo) -> BloodPressure:
    flags, needed = announced(uuid, data, 7, _OPTIONAL)
    check_length(uuid, data, needed, flags, _RESERVED)

    status: set[str] = set()
    intermediate = uuid == INTERMEDIATE_CUFF_PRESSURE
    raw_sys, raw_dia, raw_map = _PRESSURES.unpack_from(data, 1)
    systolic = special(decode_sfloat(raw_sys), status)
    if intermediate:  # GSS §3.133: diastolic and mean arterial are unused (NaN)
        diastolic = mean_arterial = None
    else:
        diastolic = special(decode_sfloat(raw_dia), status)
        mean_arterial = special(decode_sfloat(raw_map), status)
    offset = 7
    measured_at = None
    if flags & _TIME_STAMP:
        measured_at = date_time(uuid, data, offset, tz, status)
        offset += DATE_TIME_SIZE
    pulse_rate = None
    if flags & _PULSE_RATE:
        pulse_rate = special(decode_sfloat(_U16.unpack_from(data, offset)[0]), status)
        offset += 2
    user_index = None
    if flags & _USER_ID:
        user = data[offset]
        user_index = None if user == _UNKNOWN_USER else user
        offset += 1
    if flags & _MEASUREMENT_STATUS:
        bits = _U16.unpack_from(data, offset)[0]
        status.update(names(bits, MEASUREMENT_STATUS))
        pulse_range = (bits >> _PULSE_RANGE_SHIFT) & 0x3
        if pulse_range in _PULSE_RANGE:
            status.add(_PULSE_RANGE[pulse_range])

    return BloodPressure(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=mean_arterial,
        unit="kPa" if flags & _UNITS_KPA else "mm[Hg]",
        pulse_rate=pulse_rate,
        intermediate=intermediate,
        measured_at=measured_at,
        user_index=user_index,
        status=frozenset(status),
    )


def decode_blood_pressure(data: bytes, tz: tzinfo) -> BloodPressure:
    """Decode a Blood Pressure Measurement (0x2A35).

    Args:
        data: The indicated value.
        tz: The zone of the cuff's clock (the room's).

    Raises:
        MeasurementDecodeError: The value is truncated, has unannounced trailing bytes
            or an impossible time stamp.

    Examples:
        >>> from datetime import UTC
        >>> decode_blood_pressure(bytes.fromhex("00780050005900"), UTC).systolic
        120.0
    """
    return _decode(BLOOD_PRESSURE_MEASUREMENT, data, tz)


def decode_intermediate_cuff_pressure(data: bytes, tz: tzinfo) -> BloodPressure:
    """Decode an Intermediate Cuff Pressure (0x2A36): the cuff pressure while inflating.

    The current pressure is in ``systolic``; ``diastolic`` and ``mean_arterial`` are
    ``None`` because the profile leaves them unused.

    Examples:
        >>> from datetime import UTC
        >>> m = decode_intermediate_cuff_pressure(bytes.fromhex("00a000ff07ff07"), UTC)
        >>> m.systolic, m.diastolic, m.intermediate
        (160.0, None, True)
    """
    return _decode(INTERMEDIATE_CUFF_PRESSURE, data, tz)


def encode_blood_pressure(m: BloodPressure, tz: tzinfo) -> bytes:
    """Encode a blood-pressure reading as 0x2A35 (or 0x2A36 when ``m.intermediate``).

    Absent values are written as the special value their status flag names; optional
    fields are written when present; status bits come from ``m.status``.

    Raises:
        MeasurementEncodeError: A value does not fit an SFLOAT exactly.

    Examples:
        >>> from datetime import UTC
        >>> encode_blood_pressure(BloodPressure(systolic=120, diastolic=80, mean_arterial=89), UTC).hex()
        '00780050005900'
    """
    absent = encode_sfloat(special_of(m.status))
    flags = _UNITS_KPA if m.unit == "kPa" else 0
    try:
        systolic = absent if m.systolic is None else encode_sfloat(m.systolic)
        if m.intermediate:
            diastolic = mean_arterial = 0x07FF
        else:
            diastolic = absent if m.diastolic is None else encode_sfloat(m.diastolic)
            mean_arterial = absent if m.mean_arterial is None else encode_sfloat(m.mean_arterial)
        out = bytearray(_PRESSURES.pack(systolic, diastolic, mean_arterial))
        if m.measured_at is not None or "device_clock_not_set" in m.status:
            flags |= _TIME_STAMP
            out += encode_date_time(m.measured_at, tz)
        if m.pulse_rate is not None:
            flags |= _PULSE_RATE
            out += _U16.pack(encode_sfloat(m.pulse_rate))
    except CodecError as exc:
        raise MeasurementEncodeError(f"blood pressure {m!r} cannot be encoded: {exc}") from exc
    if m.user_index is not None:
        flags |= _USER_ID
        out.append(m.user_index)
    bits = bits_of(m.status, MEASUREMENT_STATUS)
    for name, code in _PULSE_RANGE_OF.items():
        if name in m.status:
            bits |= code << _PULSE_RANGE_SHIFT
    if bits:
        flags |= _MEASUREMENT_STATUS
        out += _U16.pack(bits)
    return bytes([flags]) + bytes(out)
