"""Battery Level (0x2A19): golden values, invalid values, round trip.

GATT Specification Supplement §3.27 Battery Level: uint8, percent, 0-100; 101-255 reserved.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import MeasurementDecodeError, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.gatt import battery


@pytest.mark.parametrize(
    ("data", "percent"),
    [(b"\x00", 0), (b"\x01", 1), (b"\x32", 50), (b"\x57", 87), (b"\x63", 99), (b"\x64", 100)],
)
def test_golden_level(data: bytes, percent: int) -> None:
    assert battery.decode_battery_level(data) == percent
    assert battery.encode_battery_level(percent) == data


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"", 0, "one byte"),
        (b"\x57\x00", 1, "one byte"),
        (b"\x65", 0, "above 100"),  # 101: reserved
        (b"\xff", 0, "above 100"),
    ],
)
def test_battery_level_invalid(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(MeasurementDecodeError) as caught:
        battery.decode_battery_level(data)
    error = caught.value
    assert (error.uuid, error.data_hex, error.offset) == ("2a19", data.hex(), offset)
    assert reason in error.reason


@pytest.mark.parametrize("percent", [-1, 101, 256])
def test_battery_level_out_of_range_is_refused(percent: int) -> None:
    with pytest.raises(MeasurementEncodeError, match="0-100"):
        battery.encode_battery_level(percent)


def test_decoder_keeps_the_last_level() -> None:
    decoder = gatt.Decoder()
    assert decoder.feed("2a19", b"\x57") == []
    assert decoder.feed(0x2A19, b"\x56") == []
    assert decoder.battery_level == 86


@given(st.integers(0, 100))
def test_every_level_survives_encode_and_decode(percent: int) -> None:
    assert battery.decode_battery_level(battery.encode_battery_level(percent)) == percent


@given(st.binary(max_size=3))
def test_any_bytes_decode_or_raise_the_decode_error(data: bytes) -> None:
    try:
        percent = battery.decode_battery_level(data)
    except MeasurementDecodeError as error:
        assert error.data_hex == data.hex()
        assert len(data) != 1 or data[0] > 100
    else:
        assert battery.encode_battery_level(percent) == data
