"""Health Thermometer Service: Temperature Measurement, Temperature Type, Intermediate Temperature.

Characteristics 0x2A1C, 0x2A1D and 0x2A1E.

GATT Specification Supplement §3.216 (Temperature Measurement), §3.219 (Temperature
Type), §3.134 (Intermediate Temperature); Health Thermometer Service 1.0.

Layout, little-endian::

    flags u8 | temperature FLOAT | [time stamp Date Time] | [temperature type u8]

Examples:
    >>> from datetime import UTC
    >>> m = decode_temperature(bytes.fromhex("06 6c0100ff ea070b180e1e00 09"), UTC)
    >>> m.value, m.unit, m.site, m.measured_at.isoformat()
    (36.4, 'Cel', 'tympanum', '2026-11-24T14:30:00+00:00')
"""

from __future__ import annotations

import struct
from datetime import tzinfo

from telemedroom.devices.codecs import DATE_TIME_SIZE, decode_float, encode_date_time, encode_float
from telemedroom.devices.gatt._wire import announced, check_length, date_time, fail, special, special_of
from telemedroom.errors import CodecError, MeasurementEncodeError
from telemedroom.measurements import BodyTemperature

__all__ = [
    "INTERMEDIATE_TEMPERATURE",
    "TEMPERATURE_MEASUREMENT",
    "TEMPERATURE_TYPE",
    "TEMPERATURE_TYPES",
    "decode_intermediate_temperature",
    "decode_temperature",
    "decode_temperature_type",
    "encode_temperature",
    "encode_temperature_type",
]

TEMPERATURE_MEASUREMENT = 0x2A1C
TEMPERATURE_TYPE = 0x2A1D
INTERMEDIATE_TEMPERATURE = 0x2A1E

_FAHRENHEIT = 0x01
_TIME_STAMP = 0x02
_TEMPERATURE_TYPE = 0x04
_RESERVED = 0xF8

# GSS §3.219 Temperature Type; 0 and 10-255 are reserved.
TEMPERATURE_TYPES = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}
_TYPE_CODE = {site: code for code, site in TEMPERATURE_TYPES.items()}

_U32 = struct.Struct("<I")


def _decode(uuid: int, data: bytes, tz: tzinfo) -> BodyTemperature:
    flags, needed = announced(uuid, data, 5, ((_TIME_STAMP, DATE_TIME_SIZE), (_TEMPERATURE_TYPE, 1)))
    check_length(uuid, data, needed, flags, _RESERVED)

    status: set[str] = set()
    value = special(decode_float(_U32.unpack_from(data, 1)[0]), status)
    offset = 5
    measured_at = None
    if flags & _TIME_STAMP:
        measured_at = date_time(uuid, data, offset, tz, status)
        offset += DATE_TIME_SIZE
    site = None
    if flags & _TEMPERATURE_TYPE:
        site = TEMPERATURE_TYPES.get(data[offset])
        if site is None:  # keep the reading; a reserved site is not worth losing it
            status.add("temperature_type_reserved")
    return BodyTemperature(
        value=value,
        unit="[degF]" if flags & _FAHRENHEIT else "Cel",
        site=site,
        intermediate=uuid == INTERMEDIATE_TEMPERATURE,
        measured_at=measured_at,
        status=frozenset(status),
    )


def decode_temperature(data: bytes, tz: tzinfo) -> BodyTemperature:
    """Decode a Temperature Measurement (0x2A1C).

    Args:
        data: The indicated value.
        tz: The zone of the thermometer's clock (the room's).

    Raises:
        MeasurementDecodeError: The value is truncated, has unannounced trailing bytes
            or an impossible time stamp.

    Examples:
        >>> from datetime import UTC
        >>> decode_temperature(bytes.fromhex("01 da0300ff"), UTC).unit   # 986e-1: 98.6 °F
        '[degF]'
    """
    return _decode(TEMPERATURE_MEASUREMENT, data, tz)


def decode_intermediate_temperature(data: bytes, tz: tzinfo) -> BodyTemperature:
    """Decode an Intermediate Temperature (0x2A1E), sent while the reading settles.

    Examples:
        >>> from datetime import UTC
        >>> decode_intermediate_temperature(bytes.fromhex("00 690100ff"), UTC).intermediate
        True
    """
    return _decode(INTERMEDIATE_TEMPERATURE, data, tz)


def decode_temperature_type(data: bytes) -> str | None:
    """Decode the Temperature Type characteristic (0x2A1D): where the thermometer measures.

    Returns:
        The site name, or ``None`` for a reserved code.

    Raises:
        MeasurementDecodeError: The value is not one byte.

    Examples:
        >>> decode_temperature_type(b"\\x03")
        'ear'
    """
    if len(data) != 1:
        fail(TEMPERATURE_TYPE, data, min(len(data), 1), "Temperature Type is one byte")
    return TEMPERATURE_TYPES.get(data[0])


def encode_temperature_type(site: str) -> bytes:
    """Encode a measurement site as a Temperature Type value.

    Raises:
        MeasurementEncodeError: The site has no code in the profile.

    Examples:
        >>> encode_temperature_type("mouth").hex()
        '06'
    """
    try:
        return bytes([_TYPE_CODE[site]])
    except KeyError:
        raise MeasurementEncodeError(
            f"temperature site {site!r} has no code; use one of {sorted(_TYPE_CODE)}"
        ) from None


def encode_temperature(m: BodyTemperature, tz: tzinfo) -> bytes:
    """Encode a temperature as 0x2A1C (or 0x2A1E when ``m.intermediate``).

    Raises:
        MeasurementEncodeError: The value does not fit a FLOAT exactly or the site has no code.

    Examples:
        >>> from datetime import UTC
        >>> encode_temperature(BodyTemperature(value=36.4, site="tympanum"), UTC).hex()
        '046c0100ff09'
    """
    flags = _FAHRENHEIT if m.unit == "[degF]" else 0
    try:
        raw = encode_float(special_of(m.status) if m.value is None else m.value)
        out = bytearray(_U32.pack(raw))
        if m.measured_at is not None or "device_clock_not_set" in m.status:
            flags |= _TIME_STAMP
            out += encode_date_time(m.measured_at, tz)
    except CodecError as exc:
        raise MeasurementEncodeError(f"temperature {m!r} cannot be encoded: {exc}") from exc
    if m.site is not None:
        flags |= _TEMPERATURE_TYPE
        out += encode_temperature_type(m.site)
    elif "temperature_type_reserved" in m.status:
        flags |= _TEMPERATURE_TYPE
        out.append(0)  # a reserved code, as the device sent
    return bytes([flags]) + bytes(out)
