"""The stateful ``gatt.Decoder`` of one connection."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from telemedroom import (
    BloodGlucose,
    BodyTemperature,
    DeviceInfo,
    MeasurementDecodeError,
    UnsupportedCharacteristic,
)
from telemedroom.devices import gatt

GLUCOSE_WITH_CONTEXT = bytes.fromhex("12 1100 ea070b18071e00 5fb0 11")  # record 17, context follows
GLUCOSE_ALONE = bytes.fromhex("02 1200 ea070b18081e00 64b0 11")  # record 18
CONTEXT_17 = bytes.fromhex("02 1100 03")  # fasting


def test_glucose_context_is_joined_by_sequence_number() -> None:
    decoder = gatt.Decoder(tz=UTC)
    assert decoder.feed(0x2A18, GLUCOSE_WITH_CONTEXT) == []
    [reading] = decoder.feed(0x2A34, CONTEXT_17)
    assert isinstance(reading, BloodGlucose)
    assert reading.sequence_number == 17
    assert reading.context is not None
    assert reading.context.meal == "fasting"
    assert decoder.flush() == []


def test_a_measurement_whose_context_never_came_is_released_by_the_next_one() -> None:
    decoder = gatt.Decoder(tz=UTC)
    decoder.feed(0x2A18, GLUCOSE_WITH_CONTEXT)
    released = decoder.feed(0x2A18, GLUCOSE_ALONE)
    assert [m.sequence_number for m in released if isinstance(m, BloodGlucose)] == [17, 18]


def test_context_without_measurement_is_an_error_and_loses_nothing() -> None:
    decoder = gatt.Decoder(tz=UTC)
    decoder.feed(0x2A18, GLUCOSE_WITH_CONTEXT)
    with pytest.raises(MeasurementDecodeError, match="without its measurement") as info:
        decoder.feed(0x2A34, bytes.fromhex("02 0900 03"))  # record 9
    assert info.value.uuid == "2a34"
    # the pending record 17 is still there and still joins its own context
    [reading] = decoder.feed(0x2A34, CONTEXT_17)
    assert isinstance(reading, BloodGlucose)
    assert reading.sequence_number == 17


def test_a_malformed_value_keeps_the_pending_measurement() -> None:
    decoder = gatt.Decoder(tz=UTC)
    decoder.feed(0x2A18, GLUCOSE_WITH_CONTEXT)
    with pytest.raises(MeasurementDecodeError):
        decoder.feed(0x2A18, GLUCOSE_ALONE[:5])
    assert [m.sequence_number for m in decoder.flush() if isinstance(m, BloodGlucose)] == [17]


def test_device_information_is_attached_to_readings() -> None:
    decoder = gatt.Decoder(tz=UTC)
    decoder.feed("2a29", b"Acme Medical")
    decoder.feed("2a24", b"TH-3")
    decoder.feed("2a23", bytes.fromhex("5f4e3dfeff2c1b00"))
    reading = decoder.feed(0x2A1C, bytes.fromhex("00 6c0100ff"))[0]
    assert reading.device == DeviceInfo(
        manufacturer="Acme Medical", model="TH-3", system_id="00-1B-2C-FF-FE-3D-4E-5F"
    )


def test_temperature_type_supplies_the_site() -> None:
    decoder = gatt.Decoder(tz=UTC)
    decoder.feed(0x2A1D, b"\x09")
    reading = decoder.feed(0x2A1C, bytes.fromhex("00 6c0100ff"))[0]
    assert isinstance(reading, BodyTemperature)
    assert reading.site == "tympanum"
    # a site in the reading itself wins
    own = decoder.feed(0x2A1C, bytes.fromhex("04 6c0100ff 06"))[0]
    assert isinstance(own, BodyTemperature)
    assert own.site == "mouth"


def test_other_state_characteristics() -> None:
    decoder = gatt.Decoder(tz=ZoneInfo("Europe/Berlin"))
    assert decoder.feed(0x2A19, b"\x50") == []
    assert decoder.battery_level == 80
    decoder.feed(0x2A9E, bytes.fromhex("27010000"))
    assert decoder.weight_scale_feature is not None
    assert decoder.weight_scale_feature.weight_resolution_kg == 0.05
    decoder.feed(0x2A2B, bytes.fromhex("ea070b180e1e00020000"))
    assert decoder.device_time is not None
    assert decoder.device_time.time is not None
    assert decoder.device_time.time.utcoffset() is not None


def test_unknown_characteristic() -> None:
    with pytest.raises(UnsupportedCharacteristic):
        gatt.Decoder().feed(0x2A00, b"name")
