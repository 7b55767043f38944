"""IEEE 11073-20601 number formats and Bluetooth date/time, decoded and encoded.

Personal health devices send their numbers as *SFLOAT* (16 bit: 4-bit exponent,
12-bit mantissa) or *FLOAT* (32 bit: 8-bit exponent, 24-bit mantissa), both base ten,
so ``120.5 mmHg`` travels exactly as mantissa ``1205``, exponent ``-1``. A handful of
mantissas are reserved for values that are not numbers (IEEE 11073-20601 §F.8):

========  ==========  ==========  ==================================
special   SFLOAT      FLOAT       :class:`Special` (status flag)
========  ==========  ==========  ==================================
NaN       ``0x07FF``  ``0x007FFFFF``  ``value_nan``
NRes      ``0x0800``  ``0x00800000``  ``value_not_at_resolution``
+INF      ``0x07FE``  ``0x007FFFFE``  ``value_positive_infinity``
-INF      ``0x0802``  ``0x00800002``  ``value_negative_infinity``
reserved  ``0x0801``  ``0x00800001``  ``value_reserved``
========  ==========  ==========  ==================================

Decoders return either a ``float`` or a :class:`Special`; encoders accept both and
choose the smallest exponent that represents a float *exactly* (its shortest decimal
form, as ``repr`` prints it), raising :class:`~telemedroom.errors.CodecError` otherwise.

Examples:
    >>> decode_sfloat(0xF4B5)          # mantissa 1205, exponent -1
    120.5
    >>> hex(encode_sfloat(120.5))
    '0xf4b5'
    >>> decode_sfloat(0x07FF)
    <Special.NAN: 'value_nan'>
"""

from __future__ import annotations

import enum
import struct
from datetime import datetime, tzinfo
from decimal import Decimal

from telemedroom.errors import CodecError

__all__ = [
    "DATE_TIME_SIZE",
    "FLOAT_MANTISSA_MAX",
    "SFLOAT_MANTISSA_MAX",
    "Special",
    "decode_date_time",
    "decode_float",
    "decode_sfloat",
    "encode_date_time",
    "encode_float",
    "encode_sfloat",
    "sint",
    "uint",
]


class Special(enum.Enum):
    """A reserved IEEE 11073 value; its ``value`` is the status flag it becomes.

    Examples:
        >>> Special.NRES.value
        'value_not_at_resolution'
    """

    NAN = "value_nan"
    NRES = "value_not_at_resolution"
    POSITIVE_INFINITY = "value_positive_infinity"
    NEGATIVE_INFINITY = "value_negative_infinity"
    RESERVED = "value_reserved"


# IEEE 11073-20601 §F.8: normal mantissas are ±(2**11 - 3) and ±(2**23 - 3); the rest are special.
SFLOAT_MANTISSA_MAX = 2045
FLOAT_MANTISSA_MAX = 8_388_605

_SFLOAT_SPECIAL = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
    0x0801: Special.RESERVED,
}
_FLOAT_SPECIAL = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
    0x00800001: Special.RESERVED,
}
_SFLOAT_OF = {special: raw for raw, special in _SFLOAT_SPECIAL.items()}
_FLOAT_OF = {special: raw for raw, special in _FLOAT_SPECIAL.items()}

# Dividing by an exact power of ten is correctly rounded; multiplying by 0.1 is not
# (3 * 0.1 == 0.30000000000000004, 3 / 10 == 0.3).
_POW10: tuple[int, ...] = tuple(10**n for n in range(160))


def _scale(mantissa: int, exponent: int) -> float:
    if exponent >= 0:
        return float(mantissa * _POW10[exponent])
    return mantissa / _POW10[-exponent]


def decode_sfloat(raw: int, exponent_shift: int = 0) -> float | Special:
    """Decode a 16-bit SFLOAT.

    Args:
        raw: The unsigned 16-bit value as read little-endian from the wire.
        exponent_shift: Added to the exponent, to change the unit exactly
            (``3`` turns kilograms into grams; 5 turns kg/L into mg/dL).

    Returns:
        The value, or the :class:`Special` it stands for.

    Raises:
        CodecError: ``raw`` is not an unsigned 16-bit integer.

    Examples:
        >>> decode_sfloat(0xB05F, exponent_shift=5)   # 95e-5 kg/L
        95.0
    """
    if not 0 <= raw <= 0xFFFF:
        raise CodecError(f"SFLOAT raw value {raw} is not an unsigned 16-bit integer")
    mantissa = raw & 0x0FFF
    if 0x07FE <= mantissa <= 0x0802:
        return _SFLOAT_SPECIAL[mantissa]
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    return _scale(mantissa, exponent + exponent_shift)


def decode_float(raw: int, exponent_shift: int = 0) -> float | Special:
    """Decode a 32-bit FLOAT.

    Args:
        raw: The unsigned 32-bit value as read little-endian from the wire.
        exponent_shift: Added to the exponent, to change the unit exactly.

    Returns:
        The value, or the :class:`Special` it stands for.

    Raises:
        CodecError: ``raw`` is not an unsigned 32-bit integer.

    Examples:
        >>> decode_float(0xFF00016C)   # mantissa 364, exponent -1
        36.4
    """
    if not 0 <= raw <= 0xFFFFFFFF:
        raise CodecError(f"FLOAT raw value {raw} is not an unsigned 32-bit integer")
    mantissa = raw & 0x00FFFFFF
    if 0x007FFFFE <= mantissa <= 0x00800002:
        return _FLOAT_SPECIAL[mantissa]
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    return _scale(mantissa, exponent + exponent_shift)


def _mantissa_exponent(
    value: float, mantissa_max: int, exponent_min: int, exponent_max: int, kind: str
) -> tuple[int, int]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"{value!r} is not a number and cannot be encoded as an IEEE 11073 {kind}")
    if value != value or value in (float("inf"), float("-inf")):
        raise CodecError(f"{value} is not finite; pass a Special to encode it as an {kind}")
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    mantissa = int("".join(map(str, digits))) if digits else 0
    if mantissa == 0:
        return 0, 0
    # Prefer the wire exponent nearest zero (120 as 120e0, not 12e1), as devices do;
    # the wire's zero sits in the middle of the allowed range.
    wire_zero = (exponent_min + exponent_max + 1) // 2
    while exponent > wire_zero and mantissa * 10 <= mantissa_max:
        mantissa *= 10
        exponent -= 1
    if mantissa > mantissa_max or not exponent_min <= exponent <= exponent_max:
        raise CodecError(f"{value} cannot be represented exactly as an IEEE 11073 {kind}")
    return (-mantissa if sign else mantissa), exponent


def encode_sfloat(value: float | Special, exponent_shift: int = 0) -> int:
    """Encode a number (or a :class:`Special`) as a 16-bit SFLOAT.

    Args:
        value: The number in the caller's unit, or a special value.
        exponent_shift: The same shift :func:`decode_sfloat` will be given; the wire
            exponent is the value's exponent minus this shift.

    Returns:
        The unsigned 16-bit value to write little-endian.

    Raises:
        CodecError: The value has more significant digits than 4 (a mantissa above
            2045), or its exponent falls outside -8..7.

    Examples:
        >>> hex(encode_sfloat(95.0, exponent_shift=5))
        '0xb05f'
        >>> hex(encode_sfloat(Special.NRES))
        '0x800'
    """
    if isinstance(value, Special):
        return _SFLOAT_OF[value]
    mantissa, exponent = _mantissa_exponent(
        value, SFLOAT_MANTISSA_MAX, -8 + exponent_shift, 7 + exponent_shift, "SFLOAT"
    )
    if mantissa == 0:
        return 0
    return ((exponent - exponent_shift) & 0xF) << 12 | (mantissa & 0x0FFF)


def encode_float(value: float | Special, exponent_shift: int = 0) -> int:
    """Encode a number (or a :class:`Special`) as a 32-bit FLOAT.

    Args:
        value: The number in the caller's unit, or a special value.
        exponent_shift: The same shift :func:`decode_float` will be given.

    Returns:
        The unsigned 32-bit value to write little-endian.

    Raises:
        CodecError: The value needs a mantissa above 8388605 or an exponent outside -128..127.

    Examples:
        >>> hex(encode_float(36.4))
        '0xff00016c'
    """
    if isinstance(value, Special):
        return _FLOAT_OF[value]
    mantissa, exponent = _mantissa_exponent(
        value, FLOAT_MANTISSA_MAX, -128 + exponent_shift, 127 + exponent_shift, "FLOAT"
    )
    if mantissa == 0:
        return 0
    return ((exponent - exponent_shift) & 0xFF) << 24 | (mantissa & 0x00FFFFFF)


# GATT Specification Supplement §3.70 Date Time: year (1582-9999, 0 = unknown), month
# (1-12, 0 = unknown), day (1-31, 0 = unknown), hours, minutes, seconds.
DATE_TIME_SIZE = 7
_DATE_TIME = struct.Struct("<H5B")


def decode_date_time(data: bytes, offset: int, tz: tzinfo) -> datetime | None:
    """Decode a 7-byte Bluetooth Date Time as an aware datetime in the device's zone.

    Devices keep local wall-clock time without an offset, so the caller says which zone
    the device lives in (the room's).

    Args:
        data: The characteristic value.
        offset: Where the Date Time starts.
        tz: The zone the device's clock runs in.

    Returns:
        The instant, or ``None`` when the device says year, month or day is not known
        (its clock was never set).

    Raises:
        CodecError: A field is out of range (month 13, 31 February, hour 24) or the
            buffer is too short; the message names the field.

    Examples:
        >>> from datetime import UTC
        >>> decode_date_time(bytes.fromhex("ea070b180e1e00"), 0, UTC)
        datetime.datetime(2026, 11, 24, 14, 30, tzinfo=datetime.timezone.utc)
    """
    if len(data) < offset + DATE_TIME_SIZE:
        raise CodecError(f"a Date Time needs 7 bytes at offset {offset}, {len(data) - offset} left")
    year, month, day, hours, minutes, seconds = _DATE_TIME.unpack_from(data, offset)
    if year == 0 or month == 0 or day == 0:
        return None
    if year < 1582:
        raise CodecError(f"year {year} is outside the Date Time range 1582-9999")
    try:
        return datetime(year, month, day, hours, minutes, seconds, tzinfo=tz)
    except ValueError as exc:  # month 13, 30 February, hour 24, ...
        raise CodecError(
            f"{year:04}-{month:02}-{day:02} {hours:02}:{minutes:02}:{seconds:02} "
            f"is not a valid date and time: {exc}"
        ) from exc


def encode_date_time(value: datetime | None, tz: tzinfo) -> bytes:
    """Encode an aware datetime as a 7-byte Bluetooth Date Time in the device's zone.

    The wire has whole seconds; fractions are dropped. ``None`` encodes "not known".

    Args:
        value: An aware datetime, or ``None``.
        tz: The zone the device's clock runs in.

    Returns:
        Seven bytes.

    Raises:
        CodecError: The datetime is naive or its year in ``tz`` is outside 1582-9999.

    Examples:
        >>> from datetime import UTC
        >>> encode_date_time(datetime(2026, 11, 24, 14, 30, tzinfo=UTC), UTC).hex()
        'ea070b180e1e00'
    """
    if value is None:
        return bytes(DATE_TIME_SIZE)
    if value.tzinfo is None or value.utcoffset() is None:
        raise CodecError(f"{value.isoformat()} is naive; give it a timezone")
    try:
        local = value.astimezone(tz)
    except OverflowError as exc:  # 9999-12-31 23:30 UTC is already year 10000 in Berlin
        raise CodecError(f"{value.isoformat()} is outside the Date Time range 1582-9999 in {tz}") from exc
    if not 1582 <= local.year <= 9999:
        raise CodecError(f"year {local.year} is outside the Date Time range 1582-9999")
    return _DATE_TIME.pack(local.year, local.month, local.day, local.hour, local.minute, local.second)


def uint(value: int, size: int) -> bytes:
    """Pack an unsigned little-endian integer of ``size`` bytes, checking its range.

    Raises:
        CodecError: The value does not fit.

    Examples:
        >>> uint(0x123456, 3).hex()
        '563412'
    """
    try:
        return value.to_bytes(size, "little", signed=False)
    except OverflowError as exc:
        raise CodecError(f"{value} does not fit an unsigned {8 * size}-bit field") from exc


def sint(value: int, size: int) -> bytes:
    """Pack a signed little-endian integer of ``size`` bytes, checking its range.

    Raises:
        CodecError: The value does not fit.

    Examples:
        >>> sint(-2, 2).hex()
        'feff'
    """
    try:
        return value.to_bytes(size, "little", signed=True)
    except OverflowError as exc:
        raise CodecError(f"{value} does not fit a signed {8 * size}-bit field") from exc
