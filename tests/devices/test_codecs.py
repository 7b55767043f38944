"""IEEE 11073-20601 SFLOAT/FLOAT (§F.8) and Bluetooth Date Time (GSS §3.70)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.devices.codecs import (
    FLOAT_MANTISSA_MAX,
    SFLOAT_MANTISSA_MAX,
    Special,
    decode_date_time,
    decode_float,
    decode_sfloat,
    encode_date_time,
    encode_float,
    encode_sfloat,
    sint,
    uint,
)
from telemedroom.errors import CodecError

# (raw, value) pairs worked out by hand from the bit layout: exponent in the top 4 bits.
SFLOAT_VECTORS = [
    (0x0000, 0.0),
    (0x0078, 120.0),  # mantissa 120, exponent 0
    (0xF4B5, 120.5),  # mantissa 1205, exponent -1
    (0x0FFF, -0.1 * 10),  # mantissa -1, exponent 0
    (0xFFFF, -0.1),  # mantissa -1, exponent -1
    (0x1001, 10.0),  # mantissa 1, exponent 1
    (0x87FD, 2045 / 10**8),  # largest mantissa, smallest exponent
    (0x77FD, 2045 * 10**7),  # largest value
    (0x7803, -2045 * 10**7),  # smallest value
    (0xB05F, 95 / 10**5),  # 95e-5 kg/L, a glucose reading
]
FLOAT_VECTORS = [
    (0x00000000, 0.0),
    (0xFF00016C, 36.4),  # mantissa 364, exponent -1
    (0xFE000E3D, 36.45),  # mantissa 3645, exponent -2
    (0x00FFFFFF, -1.0),
    (0x017FFFFD, 83886050.0),
    (0x80000001, 1 / 10**128),
]
SPECIALS = [
    (0x07FF, 0x007FFFFF, Special.NAN),
    (0x0800, 0x00800000, Special.NRES),
    (0x07FE, 0x007FFFFE, Special.POSITIVE_INFINITY),
    (0x0802, 0x00800002, Special.NEGATIVE_INFINITY),
    (0x0801, 0x00800001, Special.RESERVED),
]


@pytest.mark.parametrize(("raw", "value"), SFLOAT_VECTORS)
def test_sfloat_vectors(raw: int, value: float) -> None:
    assert decode_sfloat(raw) == value
    assert decode_sfloat(encode_sfloat(value)) == value


@pytest.mark.parametrize(("raw", "value"), FLOAT_VECTORS)
def test_float_vectors(raw: int, value: float) -> None:
    assert decode_float(raw) == value
    assert decode_float(encode_float(value)) == value


@pytest.mark.parametrize(("sfloat", "float32", "special"), SPECIALS)
def test_special_values_both_ways(sfloat: int, float32: int, special: Special) -> None:
    assert decode_sfloat(sfloat) is special
    assert decode_float(float32) is special
    assert encode_sfloat(special) == sfloat
    assert encode_float(special) == float32


def test_special_mantissas_are_special_whatever_the_exponent() -> None:
    # §F.8 reserves the mantissas; a device setting an exponent with them still means NaN.
    assert decode_sfloat(0x37FF) is Special.NAN
    assert decode_float(0x0A800000) is Special.NRES


def test_encoder_prefers_the_exponent_nearest_zero() -> None:
    assert encode_sfloat(120.0) == 0x0078
    assert encode_sfloat(36.4) == 0xF16C
    assert encode_float(3_000_000.0) == 0x002DC6C0


def test_exact_decimal_scaling_avoids_binary_error() -> None:
    # 3 x 10^-1 must be 0.3, not 0.30000000000000004
    assert decode_sfloat(encode_sfloat(0.3)) == 0.3
    assert decode_sfloat(0xF003) == 0.3


@pytest.mark.parametrize("value", [2046.0, 20461.0, 0.123456, 1e-9, 1e12, 123456.7])
def test_sfloat_refuses_values_it_cannot_hold_exactly(value: float) -> None:
    with pytest.raises(CodecError, match="cannot be represented exactly"):
        encode_sfloat(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_python_non_finite_floats_need_a_special(value: float) -> None:
    with pytest.raises(CodecError, match="pass a Special"):
        encode_sfloat(value)
    with pytest.raises(ValueError, match="pass a Special"):  # a CodecError is a ValueError
        encode_float(value)


@pytest.mark.parametrize("raw", [-1, 0x10000])
def test_sfloat_raw_out_of_range(raw: int) -> None:
    with pytest.raises(CodecError):
        decode_sfloat(raw)


def test_float_raw_out_of_range() -> None:
    with pytest.raises(CodecError):
        decode_float(1 << 32)


@given(
    st.integers(-SFLOAT_MANTISSA_MAX, SFLOAT_MANTISSA_MAX),
    st.integers(-8, 7),
    st.integers(0, 6),
)
def test_sfloat_round_trip(mantissa: int, exponent: int, shift: int) -> None:
    # the value in the caller's unit, as decode_sfloat(raw, shift) returns it
    scaled = exponent + shift
    value = float(mantissa * 10**scaled) if scaled >= 0 else mantissa / 10**-scaled
    decoded = decode_sfloat(encode_sfloat(value, shift), shift)
    assert decoded == value


@given(st.integers(0, 0xFFFF), st.integers(0, 6))
def test_sfloat_every_raw_value_round_trips(raw: int, shift: int) -> None:
    value = decode_sfloat(raw, shift)
    assert decode_sfloat(encode_sfloat(value, shift), shift) == value


@given(st.integers(0, 0xFFFFFFFF))
def test_float_every_raw_value_round_trips(raw: int) -> None:
    value = decode_float(raw)
    assert decode_float(encode_float(value)) == value


@given(st.integers(-FLOAT_MANTISSA_MAX, FLOAT_MANTISSA_MAX), st.integers(-20, 20))
def test_float_round_trip(mantissa: int, exponent: int) -> None:
    value = float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent
    assert decode_float(encode_float(value)) == value


# --- Date Time ----------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def test_date_time_vector() -> None:
    data = bytes.fromhex("ea070b180e1e05")  # 2026-11-24 14:30:05
    assert decode_date_time(data, 0, UTC) == datetime(2026, 11, 24, 14, 30, 5, tzinfo=UTC)


def test_date_time_takes_the_room_zone() -> None:
    summer = decode_date_time(bytes.fromhex("ea070714091e00"), 0, BERLIN)
    assert summer is not None
    assert summer.utcoffset() == timedelta(hours=2)
    winter = decode_date_time(bytes.fromhex("ea070114091e00"), 0, BERLIN)
    assert winter is not None
    assert winter.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize("zeros", ["0000", "ea07000e", "ea070b00"])
def test_unknown_date_fields_mean_clock_not_set(zeros: str) -> None:
    data = bytes.fromhex(zeros.ljust(8, "0") + "0e1e00")[:7]
    assert decode_date_time(data.ljust(7, b"\x00"), 0, UTC) is None


@pytest.mark.parametrize(
    "hex_value",
    [
        "ea070d010000",  # month 13 (6 bytes: padded below)
        "ea07021e0000",  # 30 February
        "ea070b18180000",  # hour 24
        "ea070b180e3c00",  # minute 60
        "ea070b180e1e3c",  # second 60
        "0f0601010000",  # year 1551: before the Gregorian calendar
    ],
)
def test_impossible_dates_are_codec_errors(hex_value: str) -> None:
    data = bytes.fromhex(hex_value).ljust(7, b"\x00")
    with pytest.raises(CodecError):
        decode_date_time(data, 0, UTC)


def test_truncated_date_time() -> None:
    with pytest.raises(CodecError, match="needs 7 bytes"):
        decode_date_time(bytes(5), 0, UTC)


@given(
    st.datetimes(
        min_value=datetime(1582, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    ).map(lambda d: d.replace(microsecond=0))
)
def test_date_time_round_trip(value: datetime) -> None:
    assert decode_date_time(encode_date_time(value, UTC), 0, UTC) == value


def test_encode_date_time_converts_into_the_device_zone() -> None:
    instant = datetime(2026, 7, 20, 7, 30, tzinfo=UTC)
    assert encode_date_time(instant, BERLIN) == bytes.fromhex("ea070714091e00")
    assert decode_date_time(encode_date_time(instant, BERLIN), 0, BERLIN) == instant


def test_encode_date_time_refuses_naive_and_out_of_range() -> None:
    with pytest.raises(CodecError, match="naive"):
        encode_date_time(datetime(2026, 1, 1), UTC)
    with pytest.raises(CodecError, match="outside"):
        encode_date_time(datetime(1000, 1, 1, tzinfo=UTC), UTC)
    assert encode_date_time(None, UTC) == bytes(7)


def test_integer_helpers_check_bounds() -> None:
    assert uint(255, 1) == b"\xff"
    assert sint(-32768, 2) == b"\x00\x80"
    with pytest.raises(CodecError, match="unsigned 8-bit"):
        uint(256, 1)
    with pytest.raises(CodecError, match="signed 16-bit"):
        sint(40000, 2)
    with pytest.raises(CodecError):
        uint(-1, 2)
