"""Pulse Oximeter Service: PLX Spot-Check Measurement (0x2A5E), PLX Continuous Measurement (0x2A5F).

GATT Specification Supplement §3.173 (PLX Spot-Check Measurement), §3.172 (PLX
Continuous Measurement), §3.171.1/.2 (Measurement Status, Device and Sensor Status);
Pulse Oximeter Service 1.0.1.

Layouts, little-endian::

    spot-check:  flags u8 | SpO2 SFLOAT | PR SFLOAT | [time stamp Date Time]
                 [measurement status u16] [device and sensor status u24] [pulse amplitude index SFLOAT]
    continuous:  flags u8 | SpO2 SFLOAT | PR SFLOAT | [SpO2 fast, PR fast] [SpO2 slow, PR slow]
                 [measurement status u16] [device and sensor status u24] [pulse amplitude index SFLOAT]

Examples:
    >>> from datetime import UTC
    >>> m = decode_plx_spot_check(bytes.fromhex("04 6100 4400 200000"), UTC)
    >>> m.spo2_percent, m.pulse_rate, sorted(m.status)
    (97.0, 68.0, ['low_perfusion'])
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
from telemedroom.measurements import OxygenSaturation

__all__ = [
    "DEVICE_AND_SENSOR_STATUS",
    "MEASUREMENT_STATUS",
    "PLX_CONTINUOUS_MEASUREMENT",
    "PLX_SPOT_CHECK_MEASUREMENT",
    "decode_plx_continuous",
    "decode_plx_spot_check",
    "encode_plx",
]

PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
PLX_CONTINUOUS_MEASUREMENT = 0x2A5F

# Spot-check flags
_SC_TIME_STAMP = 0x01
_SC_MEASUREMENT_STATUS = 0x02
_SC_DEVICE_STATUS = 0x04
_SC_PULSE_AMPLITUDE = 0x08
_SC_CLOCK_NOT_SET = 0x10
_SC_RESERVED = 0xE0
# Continuous flags
_CM_FAST = 0x01
_CM_SLOW = 0x02
_CM_MEASUREMENT_STATUS = 0x04
_CM_DEVICE_STATUS = 0x08
_CM_PULSE_AMPLITUDE = 0x10
_CM_RESERVED = 0xE0

# The optional fields each flag announces (GSS §3.164.1 and §3.163.1), in wire order.
_SC_OPTIONAL: FieldSizes = (
    (_SC_TIME_STAMP, DATE_TIME_SIZE),
    (_SC_MEASUREMENT_STATUS, 2),
    (_SC_DEVICE_STATUS, 3),
    (_SC_PULSE_AMPLITUDE, 2),
)
_CM_OPTIONAL: FieldSizes = (
    (_CM_FAST, 4),
    (_CM_SLOW, 4),
    (_CM_MEASUREMENT_STATUS, 2),
    (_CM_DEVICE_STATUS, 3),
    (_CM_PULSE_AMPLITUDE, 2),
)

# GSS §3.171.1 Measurement Status; bits 0-4 are reserved.
MEASUREMENT_STATUS: StatusTable = (
    (0x0020, "measurement_ongoing"),
    (0x0040, "early_estimated_data"),
    (0x0080, "validated_data"),
    (0x0100, "fully_qualified_data"),
    (0x0200, "data_from_measurement_storage"),
    (0x0400, "data_for_demonstration"),
    (0x0800, "data_for_testing"),
    (0x1000, "calibration_ongoing"),
    (0x2000, "measurement_unavailable"),
    (0x4000, "questionable_measurement"),
    (0x8000, "invalid_measurement"),
)
# GSS §3.171.2 Device and Sensor Status (24 bits); bits 16-23 are reserved.
DEVICE_AND_SENSOR_STATUS: StatusTable = (
    (0x0001, "extended_display_update_ongoing"),
    (0x0002, "equipment_malfunction"),
    (0x0004, "signal_processing_irregularity"),
    (0x0008, "inadequate_signal"),
    (0x0010, "poor_signal"),
    (0x0020, "low_perfusion"),
    (0x0040, "erratic_signal"),
    (0x0080, "nonpulsatile_signal"),
    (0x0100, "questionable_pulse"),
    (0x0200, "signal_analysis_ongoing"),
    (0x0400, "sensor_interference"),
    (0x0800, "sensor_unconnected_to_user"),
    (0x1000, "unknown_sensor_connected"),
    (0x2000, "sensor_displaced"),
    (0x4000, "sensor_malfunctioning"),
    (0x8000, "sensor_disconnected"),
)

_U16 = struct.Struct("<H")
_PAIR = struct.Struct("<HH")


def _status_fields(
    data: bytes, offset: int, has_measurement: bool, has_device: bool, status: set[str]
) -> int:
    if has_measurement:
        status.update(names(_U16.unpack_from(data, offset)[0], MEASUREMENT_STATUS))
        offset += 2
    if has_device:
        bits = int.from_bytes(data[offset : offset + 3], "little")
        status.update(names(bits, DEVICE_AND_SENSOR_STATUS))
        offset += 3
    return offset


def decode_plx_spot_check(data: bytes, tz: tzinfo) -> OxygenSaturation:
    """Decode a PLX Spot-Check Measurement (0x2A5E).

    Args:
        data: The indicated value.
        tz: The zone of the oximeter's clock (the room's).

    Raises:
        MeasurementDecodeError: The value is truncated, has unannounced trailing bytes
            or an impossible time stamp.

    Examples:
        >>> from datetime import UTC
        >>> decode_plx_spot_check(bytes.fromhex("10 6200 4800"), UTC).status
        frozenset({'device_clock_not_set'})
    """
    uuid = PLX_SPOT_CHECK_MEASUREMENT
    flags, needed = announced(uuid, data, 5, _SC_OPTIONAL)
    check_length(uuid, data, needed, flags, _SC_RESERVED)

    status: set[str] = set()
    raw_spo2, raw_pr = _PAIR.unpack_from(data, 1)
    spo2 = special(decode_sfloat(raw_spo2), status)
    pulse_rate = special(decode_sfloat(raw_pr), status)
    offset = 5
    measured_at = None
    if flags & _SC_TIME_STAMP:
        measured_at = date_time(uuid, data, offset, tz, status)
        offset += DATE_TIME_SIZE
    offset = _status_fields(
        data, offset, bool(flags & _SC_MEASUREMENT_STATUS), bool(flags & _SC_DEVICE_STATUS), status
    )
    pai = None
    if flags & _SC_PULSE_AMPLITUDE:
        pai = special(decode_sfloat(_U16.unpack_from(data, offset)[0]), status)
    if flags & _SC_CLOCK_NOT_SET:
        status.add("device_clock_not_set")
    return OxygenSaturation(
        spo2_percent=spo2,
        pulse_rate=pulse_rate,
        pulse_amplitude_index=pai,
        measured_at=measured_at,
        status=frozenset(status),
    )


def decode_plx_continuous(data: bytes, tz: tzinfo) -> OxygenSaturation:
    """Decode a PLX Continuous Measurement (0x2A5F).

    The normal SpO2/PR pair goes to ``spo2_percent``/``pulse_rate``; the fast and slow
    averages, when sent, to the ``*_fast``/``*_slow`` fields.

    Args:
        data: The notified value.
        tz: Unused (the profile has no time stamp); present for a uniform signature.

    Examples:
        >>> from datetime import UTC
        >>> m = decode_plx_continuous(bytes.fromhex("01 6100 4400 6200 4500"), UTC)
        >>> m.continuous, m.spo2_fast_percent, m.pulse_rate_fast
        (True, 98.0, 69.0)
    """
    uuid = PLX_CONTINUOUS_MEASUREMENT
    flags, needed = announced(uuid, data, 5, _CM_OPTIONAL)
    check_length(uuid, data, needed, flags, _CM_RESERVED)

    status: set[str] = set()
    raw_spo2, raw_pr = _PAIR.unpack_from(data, 1)
    spo2 = special(decode_sfloat(raw_spo2), status)
    pulse_rate = special(decode_sfloat(raw_pr), status)
    offset = 5
    # (SpO2, PR) of the fast and of the slow average, when the flags announce them
    averages: list[tuple[float | None, float | None]] = []
    for flag in (_CM_FAST, _CM_SLOW):
        if flags & flag:
            raw_spo2, raw_pr = _PAIR.unpack_from(data, offset)
            averages.append(
                (special(decode_sfloat(raw_spo2), status), special(decode_sfloat(raw_pr), status))
            )
            offset += 4
        else:
            averages.append((None, None))
    offset = _status_fields(
        data, offset, bool(flags & _CM_MEASUREMENT_STATUS), bool(flags & _CM_DEVICE_STATUS), status
    )
    pai = None
    if flags & _CM_PULSE_AMPLITUDE:
        pai = special(decode_sfloat(_U16.unpack_from(data, offset)[0]), status)
    (spo2_fast, pr_fast), (spo2_slow, pr_slow) = averages
    return OxygenSaturation(
        spo2_percent=spo2,
        pulse_rate=pulse_rate,
        pulse_amplitude_index=pai,
        continuous=True,
        spo2_fast_percent=spo2_fast,
        pulse_rate_fast=pr_fast,
        spo2_slow_percent=spo2_slow,
        pulse_rate_slow=pr_slow,
        status=frozenset(status),
    )


def _status_bytes(m: OxygenSaturation) -> tuple[bytes, bytes]:
    measurement = bits_of(m.status, MEASUREMENT_STATUS)
    device = bits_of(m.status, DEVICE_AND_SENSOR_STATUS)
    return (
        _U16.pack(measurement) if measurement else b"",
        device.to_bytes(3, "little") if device else b"",
    )


def encode_plx(m: OxygenSaturation, tz: tzinfo) -> bytes:
    """Encode an oxygen-saturation reading as 0x2A5E (or 0x2A5F when ``m.continuous``).

    Raises:
        MeasurementEncodeError: A value does not fit an SFLOAT exactly.

    Examples:
        >>> from datetime import UTC
        >>> encode_plx(OxygenSaturation(spo2_percent=97, pulse_rate=68), UTC).hex()
        '0061004400'
    """
    absent = encode_sfloat(special_of(m.status))

    def sfloat(value: float | None) -> int:
        return absent if value is None else encode_sfloat(value)

    measurement_status, device_status = _status_bytes(m)
    try:
        out = bytearray(_PAIR.pack(sfloat(m.spo2_percent), sfloat(m.pulse_rate)))
        if m.continuous:
            flags = 0
            if m.spo2_fast_percent is not None or m.pulse_rate_fast is not None:
                flags |= _CM_FAST
                out += _PAIR.pack(sfloat(m.spo2_fast_percent), sfloat(m.pulse_rate_fast))
            if m.spo2_slow_percent is not None or m.pulse_rate_slow is not None:
                flags |= _CM_SLOW
                out += _PAIR.pack(sfloat(m.spo2_slow_percent), sfloat(m.pulse_rate_slow))
            flags |= _CM_MEASUREMENT_STATUS if measurement_status else 0
            flags |= _CM_DEVICE_STATUS if device_status else 0
            out += measurement_status + device_status
            if m.pulse_amplitude_index is not None:
                flags |= _CM_PULSE_AMPLITUDE
                out += _U16.pack(encode_sfloat(m.pulse_amplitude_index))
            return bytes([flags]) + bytes(out)
        flags = _SC_CLOCK_NOT_SET if "device_clock_not_set" in m.status else 0
        if m.measured_at is not None:
            flags |= _SC_TIME_STAMP
            out += encode_date_time(m.measured_at, tz)
        flags |= _SC_MEASUREMENT_STATUS if measurement_status else 0
        flags |= _SC_DEVICE_STATUS if device_status else 0
        out += measurement_status + device_status
        if m.pulse_amplitude_index is not None:
            flags |= _SC_PULSE_AMPLITUDE
            out += _U16.pack(encode_sfloat(m.pulse_amplitude_index))
    except CodecError as exc:
        raise MeasurementEncodeError(f"oxygen saturation {m!r} cannot be encoded: {exc}") from exc
    return bytes([flags]) + bytes(out)
