"""Weight Scale Service: Weight Measurement (0x2A9D), Weight Scale Feature (0x2A9E).

GATT Specification Supplement §3.252 (Weight Measurement), §3.253 (Weight Scale
Feature); Weight Scale Service 1.0.

Layout, little-endian::

    flags u8 | weight u16 | [time stamp Date Time] | [user id u8] | [BMI u16, height u16]

Weight is in units of 0.005 kg (SI) or 0.01 lb (imperial), BMI of 0.1 kg/m², height of
0.001 m or 0.1 in. A weight of 0xFFFF means "measurement unsuccessful".

Examples:
    >>> from datetime import UTC
    >>> m = decode_weight(bytes.fromhex("08 4038 e500 f406"), UTC)
    >>> m.value, m.unit, m.bmi, m.height, m.height_unit
    (72.0, 'kg', 22.9, 1.78, 'm')
"""

from __future__ import annotations

import math
import struct
from datetime import tzinfo

from pydantic import BaseModel, ConfigDict

from telemedroom.devices.codecs import DATE_TIME_SIZE, encode_date_time
from telemedroom.devices.gatt._wire import announced, check_length, date_time, fail
from telemedroom.errors import CodecError, MeasurementEncodeError
from telemedroom.measurements import BodyWeight

__all__ = [
    "WEIGHT_MEASUREMENT",
    "WEIGHT_SCALE_FEATURE",
    "WeightScaleFeature",
    "decode_weight",
    "decode_weight_scale_feature",
    "encode_weight",
    "encode_weight_scale_feature",
]

WEIGHT_MEASUREMENT = 0x2A9D
WEIGHT_SCALE_FEATURE = 0x2A9E

_IMPERIAL = 0x01
_TIME_STAMP = 0x02
_USER_ID = 0x04
_BMI_HEIGHT = 0x08
_RESERVED = 0xF0
_UNKNOWN_USER = 0xFF
_UNSUCCESSFUL = 0xFFFF

# Resolutions as divisors: value = raw / divisor (exact decimal rounding, see codecs).
_WEIGHT_DIVISOR = {"kg": 200, "[lb_av]": 100}
_HEIGHT_DIVISOR = {"m": 1000, "[in_i]": 10}
_BMI_DIVISOR = 10

_U16 = struct.Struct("<H")
_BMI_HEIGHT_PAIR = struct.Struct("<HH")

# GSS §3.253: weight resolution code -> (kg, lb); height resolution code -> (m, in).
_WEIGHT_RESOLUTIONS = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
_HEIGHT_RESOLUTIONS = {1: (0.01, 1.0), 2: (0.005, 0.5), 3: (0.001, 0.1)}


class WeightScaleFeature(BaseModel):
    """What a scale supports and how finely it measures (Weight Scale Feature, 0x2A9E).

    Resolutions are ``None`` when the scale does not specify them.

    Examples:
        >>> f = decode_weight_scale_feature(bytes.fromhex("27010000"))
        >>> f.bmi_supported, f.weight_resolution_kg, f.height_resolution_m
        (True, 0.05, 0.005)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_stamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_resolution_kg: float | None = None
    weight_resolution_lb: float | None = None
    height_resolution_m: float | None = None
    height_resolution_in: float | None = None


def decode_weight(data: bytes, tz: tzinfo) -> BodyWeight:
    """Decode a Weight Measurement (0x2A9D).

    Args:
        data: The indicated value.
        tz: The zone of the scale's clock (the room's).

    Raises:
        MeasurementDecodeError: The value is truncated, has unannounced trailing bytes
            or an impossible time stamp.

    Examples:
        >>> from datetime import UTC
        >>> m = decode_weight(bytes.fromhex("00 ffff"), UTC)
        >>> m.value, sorted(m.status)
        (None, ['measurement_unsuccessful'])
    """
    uuid = WEIGHT_MEASUREMENT
    flags, needed = announced(uuid, data, 3, ((_TIME_STAMP, DATE_TIME_SIZE), (_USER_ID, 1), (_BMI_HEIGHT, 4)))
    check_length(uuid, data, needed, flags, _RESERVED)

    status: set[str] = set()
    unit = "[lb_av]" if flags & _IMPERIAL else "kg"
    height_unit = "[in_i]" if flags & _IMPERIAL else "m"
    raw = _U16.unpack_from(data, 1)[0]
    if raw == _UNSUCCESSFUL:
        value = None
        status.add("measurement_unsuccessful")
    else:
        value = raw / _WEIGHT_DIVISOR[unit]
    offset = 3
    measured_at = None
    if flags & _TIME_STAMP:
        measured_at = date_time(uuid, data, offset, tz, status)
        offset += DATE_TIME_SIZE
    user_index = None
    if flags & _USER_ID:
        user_index = None if data[offset] == _UNKNOWN_USER else data[offset]
        offset += 1
    bmi = height = None
    if flags & _BMI_HEIGHT:
        raw_bmi, raw_height = _BMI_HEIGHT_PAIR.unpack_from(data, offset)
        bmi = raw_bmi / _BMI_DIVISOR
        height = raw_height / _HEIGHT_DIVISOR[height_unit]
    return BodyWeight(
        value=value,
        unit=unit,  # type: ignore[arg-type]  # one of the two literals above
        height=height,
        height_unit=height_unit,  # type: ignore[arg-type]
        bmi=bmi,
        measured_at=measured_at,
        user_index=user_index,
        status=frozenset(status),
    )


def _fixed_point(value: float, divisor: int, what: str, unit: str, top: int = 0xFFFF) -> int:
    # NaN and infinity have no integer; round() would raise a bare ValueError/OverflowError.
    raw = round(value * divisor) if math.isfinite(value) else -1
    if raw / divisor != value or not 0 <= raw <= top:
        raise MeasurementEncodeError(
            f"{what} {value} {unit} is not a multiple of the {1 / divisor:g} {unit} resolution "
            "of the Weight Measurement"
        )
    return raw


def encode_weight(m: BodyWeight, tz: tzinfo) -> bytes:
    """Encode a weight reading as a Weight Measurement (0x2A9D).

    Raises:
        MeasurementEncodeError: A value is not a multiple of the profile's resolution,
            the height unit does not match the weight unit (the profile has one unit
            flag for both), or only one of height and BMI is given.

    Examples:
        >>> from datetime import UTC
        >>> encode_weight(BodyWeight(value=72.0, bmi=22.9, height=1.78), UTC).hex()
        '084038e500f406'
    """
    imperial = m.unit == "[lb_av]"
    if (m.height_unit == "[in_i]") != imperial and m.height is not None:
        raise MeasurementEncodeError(
            f"weight in {m.unit} with height in {m.height_unit}: the Weight Measurement "
            "uses one unit system for both"
        )
    flags = _IMPERIAL if imperial else 0
    unit_label = "lb" if imperial else "kg"
    if m.value is None:
        weight = _UNSUCCESSFUL
    else:
        # 0xFFFF is "measurement unsuccessful" (GSS §3.252), so the largest weight is 0xFFFE
        weight = _fixed_point(m.value, _WEIGHT_DIVISOR[m.unit], "weight", unit_label, top=0xFFFE)
    out = bytearray(_U16.pack(weight))
    if m.measured_at is not None or "device_clock_not_set" in m.status:
        flags |= _TIME_STAMP
        try:
            out += encode_date_time(m.measured_at, tz)
        except CodecError as exc:
            raise MeasurementEncodeError(f"weight {m!r} cannot be encoded: {exc}") from exc
    if m.user_index is not None:
        flags |= _USER_ID
        out.append(m.user_index)
    if (m.bmi is None) != (m.height is None):
        raise MeasurementEncodeError("the Weight Measurement sends BMI and height together; give both")
    if m.bmi is not None and m.height is not None:
        flags |= _BMI_HEIGHT
        height_unit = "in" if imperial else "m"
        out += _BMI_HEIGHT_PAIR.pack(
            _fixed_point(m.bmi, _BMI_DIVISOR, "BMI", "kg/m²"),
            _fixed_point(m.height, _HEIGHT_DIVISOR[m.height_unit], "height", height_unit),
        )
    return bytes([flags]) + bytes(out)


def decode_weight_scale_feature(data: bytes) -> WeightScaleFeature:
    """Decode the Weight Scale Feature characteristic (0x2A9E).

    Raises:
        MeasurementDecodeError: The value is not four bytes.

    Examples:
        >>> decode_weight_scale_feature(bytes.fromhex("03000000")).multiple_users_supported
        True
    """
    if len(data) != 4:
        fail(WEIGHT_SCALE_FEATURE, data, min(len(data), 4), "Weight Scale Feature is four bytes")
    bits = int.from_bytes(data, "little")
    weight = _WEIGHT_RESOLUTIONS.get((bits >> 3) & 0xF, (None, None))
    height = _HEIGHT_RESOLUTIONS.get((bits >> 7) & 0x7, (None, None))
    return WeightScaleFeature(
        time_stamp_supported=bool(bits & 0x1),
        multiple_users_supported=bool(bits & 0x2),
        bmi_supported=bool(bits & 0x4),
        weight_resolution_kg=weight[0],
        weight_resolution_lb=weight[1],
        height_resolution_m=height[0],
        height_resolution_in=height[1],
    )


def encode_weight_scale_feature(feature: WeightScaleFeature) -> bytes:
    """Encode a Weight Scale Feature value; resolutions must be ones the profile lists.

    Raises:
        MeasurementEncodeError: A resolution has no code in the profile.

    Examples:
        >>> encode_weight_scale_feature(WeightScaleFeature(bmi_supported=True,
        ...     weight_resolution_kg=0.05, weight_resolution_lb=0.1)).hex()
        '24000000'
    """
    bits = (
        int(feature.time_stamp_supported)
        | int(feature.multiple_users_supported) << 1
        | int(feature.bmi_supported) << 2
    )
    weight = (feature.weight_resolution_kg, feature.weight_resolution_lb)
    height = (feature.height_resolution_m, feature.height_resolution_in)
    for shift, table, pair in ((3, _WEIGHT_RESOLUTIONS, weight), (7, _HEIGHT_RESOLUTIONS, height)):
        if pair == (None, None):
            continue
        codes = [code for code, resolution in table.items() if resolution == pair]
        if not codes:
            raise MeasurementEncodeError(f"resolution {pair} has no code in the Weight Scale Feature")
        bits |= codes[0] << shift
    return bits.to_bytes(4, "little")
