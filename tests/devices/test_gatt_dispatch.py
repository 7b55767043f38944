"""``gatt.decode``/``gatt.encode`` dispatch, UUID spellings, and the bad-input guarantee."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemedroom import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    MeasurementDecodeError,
    MeasurementEncodeError,
    OxygenSaturation,
    UnsupportedCharacteristic,
)
from telemedroom.devices import gatt
from telemedroom.devices.codecs import Special

SPECIAL_FLAGS = {special.value for special in Special}
ALL_MEASUREMENT_UUIDS = sorted(gatt.MEASUREMENT_CHARACTERISTICS)
# CI (HYPOTHESIS_PROFILE=ci) feeds many thousands of byte strings per characteristic.
FUZZ_EXAMPLES = 5000 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 300
BP = bytes.fromhex("00 7800 5000 5900")


def test_every_profile_of_the_foundation_is_dispatched() -> None:
    assert set(ALL_MEASUREMENT_UUIDS) == {
        0x2A35,
        0x2A36,
        0x2A37,
        0x2A1C,
        0x2A1E,
        0x2A5E,
        0x2A5F,
        0x2A9D,
        0x2A18,
    }


@pytest.mark.parametrize(
    "spelling",
    [
        0x2A35,
        "2a35",
        "2A35",
        "0x2A35",
        "00002a35",
        "00002a35-0000-1000-8000-00805f9b34fb",
        "00002A35-0000-1000-8000-00805F9B34FB",
        " 2a35 ",
    ],
)
def test_uuid_spellings(spelling: str | int) -> None:
    reading = gatt.decode(spelling, BP)
    assert isinstance(reading, BloodPressure)
    assert reading.systolic == 120.0


@pytest.mark.parametrize(
    "uuid",
    [
        0x2A00,
        "2a00",
        "12345678-1234-5678-1234-567812345678",  # a vendor's 128-bit UUID
        "00002a35-0000-1000-8000-00805f9b34fc",  # not the SIG base
        "zz35",
        0x12345,
        -1,
        "",
    ],
)
def test_unknown_characteristics_are_unsupported(uuid: str | int) -> None:
    with pytest.raises(UnsupportedCharacteristic) as info:
        gatt.decode(uuid, BP)
    assert info.value.uuid


def test_glucose_context_alone_is_a_decode_error() -> None:
    with pytest.raises(MeasurementDecodeError, match="without its measurement") as info:
        gatt.decode(0x2A34, bytes.fromhex("02 1100 03"))
    assert info.value.uuid == "2a34"


def test_bytearray_and_memoryview_are_accepted() -> None:
    assert gatt.decode(0x2A35, bytearray(BP)) == gatt.decode(0x2A35, memoryview(BP))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("measurement", "uuid"),
    [
        (BloodPressure(systolic=120, diastolic=80, mean_arterial=93.3), 0x2A35),
        (BloodPressure(systolic=150, diastolic=None, intermediate=True), 0x2A36),
        (HeartRate(bpm=60), 0x2A37),
        (BodyTemperature(value=36.6), 0x2A1C),
        (BodyTemperature(value=36.1, intermediate=True), 0x2A1E),
        (OxygenSaturation(spo2_percent=97, pulse_rate=61), 0x2A5E),
        (OxygenSaturation(spo2_percent=97, pulse_rate=61, continuous=True), 0x2A5F),
        (BodyWeight(value=70.0), 0x2A9D),
        (
            BloodGlucose(value=100, sequence_number=1, measured_at=datetime(2026, 1, 1, tzinfo=UTC)),
            0x2A18,
        ),
    ],
)
def test_characteristic_of_and_round_trip(measurement: Measurement, uuid: int) -> None:
    assert gatt.characteristic_of(measurement) == uuid
    assert gatt.decode(uuid, gatt.encode(measurement)) == measurement


def test_encoding_a_bare_measurement_is_refused() -> None:
    with pytest.raises(MeasurementEncodeError, match="no Bluetooth profile"):
        gatt.encode(Measurement())
    with pytest.raises(MeasurementEncodeError, match="no Bluetooth profile"):
        gatt.characteristic_of(Measurement())


@settings(max_examples=FUZZ_EXAMPLES)
@given(uuid=st.sampled_from([*ALL_MEASUREMENT_UUIDS, 0x2A34]), data=st.binary(max_size=40))
def test_any_bytes_decode_or_raise_a_decode_error(uuid: int, data: bytes) -> None:
    """The guarantee: a Measurement or MeasurementDecodeError, never anything else."""
    try:
        reading = gatt.decode(uuid, data)
    except MeasurementDecodeError as exc:
        assert exc.uuid == f"{uuid:04x}"
        assert exc.data_hex == data.hex()
        assert 0 <= exc.offset <= len(data)
    else:
        assert isinstance(reading, Measurement)
        assert all(name == name.lower() and " " not in name for name in reading.status)


@settings(max_examples=FUZZ_EXAMPLES)
@given(
    uuid=st.sampled_from(ALL_MEASUREMENT_UUIDS),
    flags=st.integers(0, 0xFF),
    body=st.binary(min_size=0, max_size=40),
)
def test_any_flags_with_any_body(uuid: int, flags: int, body: bytes) -> None:
    """Plain st.binary() rarely hits valid lengths; fixing the flags byte reaches deeper.

    What decodes re-encodes to a value that decodes the same, with one documented
    exception: a measurement keeps one status set, so when an *optional* field carried a
    special value (NaN, NRes, ...) the re-encoded value omits that field and its flag.
    """
    data = bytes([flags]) + body
    try:
        reading = gatt.decode(uuid, data)
    except MeasurementDecodeError:
        return
    # what decodes must re-encode to something that decodes the same (for representable input)
    try:
        again = gatt.encode(reading)
    except MeasurementEncodeError:
        return
    decoded = gatt.decode(gatt.characteristic_of(reading), again)
    assert decoded.status <= reading.status
    assert reading.status - decoded.status <= SPECIAL_FLAGS
    assert decoded.model_copy(update={"status": reading.status}) == reading


@settings(max_examples=FUZZ_EXAMPLES)
@given(uuid=st.one_of(st.integers(), st.text(max_size=40)), data=st.binary(max_size=8))
def test_any_uuid_is_supported_or_unsupported(uuid: int | str, data: bytes) -> None:
    with contextlib.suppress(MeasurementDecodeError, UnsupportedCharacteristic):
        gatt.decode(uuid, data)
