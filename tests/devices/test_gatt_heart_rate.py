"""Heart Rate Measurement (0x2A37): golden packets, truncations, round trips.

Vectors worked out from the GATT Specification Supplement §3.113 Heart Rate Measurement
and the Heart Rate Service 1.0 §3.1 (sensor contact, energy expended, RR-interval).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.devices._gatt_support import check_golden_packet

from telemedroom import HeartRate, MeasurementDecodeError, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.gatt import heart_rate

HRM = heart_rate.HEART_RATE_MEASUREMENT
h = bytes.fromhex

# GSS §3.113: flags (bit 0 value format u8/u16, bit 1 sensor contact detected, bit 2 sensor
# contact supported, bit 3 energy expended present, bit 4 RR-intervals present, 5-7 reserved)
# | heart rate u8 or u16 | [energy expended u16, kJ] | [RR-interval u16, 1/1024 s]...
# (bytes, expected, whether encode(expected) gives these bytes back)
VECTORS = [
    pytest.param(h("00 48"), HeartRate(bpm=72), True, id="u8"),
    pytest.param(h("00 00"), HeartRate(bpm=0), True, id="u8-zero"),
    pytest.param(h("00 ff"), HeartRate(bpm=255), True, id="u8-max"),
    # the encoder sends u8 when the value fits, as HRS §3.1.1.1 recommends
    pytest.param(h("01 4800"), HeartRate(bpm=72), False, id="u16-small-value"),
    pytest.param(h("01 0001"), HeartRate(bpm=256), True, id="u16-256"),
    pytest.param(h("01 2c01"), HeartRate(bpm=300), True, id="u16-300"),
    pytest.param(h("01 ffff"), HeartRate(bpm=65535), True, id="u16-max"),
    # sensor contact: bit 2 clear -> not supported, whatever bit 1 says (HRS §3.1.1.2)
    pytest.param(h("02 48"), HeartRate(bpm=72), False, id="contact-detected-but-unsupported"),
    pytest.param(h("04 48"), HeartRate(bpm=72, sensor_contact=False), True, id="contact-not-detected"),
    pytest.param(h("06 48"), HeartRate(bpm=72, sensor_contact=True), True, id="contact-detected"),
    pytest.param(h("08 48 e803"), HeartRate(bpm=72, energy_expended_kj=1000), True, id="energy"),
    pytest.param(h("08 48 0000"), HeartRate(bpm=72, energy_expended_kj=0), True, id="energy-zero"),
    pytest.param(h("08 48 ffff"), HeartRate(bpm=72, energy_expended_kj=65535), True, id="energy-max"),
    pytest.param(h("10 48 0004"), HeartRate(bpm=72, rr_intervals_s=(1.0,)), True, id="rr-1"),
    pytest.param(h("10 48 0004 0002"), HeartRate(bpm=72, rr_intervals_s=(1.0, 0.5)), True, id="rr-2"),
    pytest.param(
        h("10 48 0004 0002 0100"),
        HeartRate(bpm=72, rr_intervals_s=(1.0, 0.5, 1 / 1024)),
        True,
        id="rr-3",
    ),
    pytest.param(
        # nine RR-intervals fill a 20-byte notification with a u8 value (HRS §3.1.1.5)
        h("10 48" + "cd03" * 8 + "ffff"),
        HeartRate(bpm=72, rr_intervals_s=(973 / 1024,) * 8 + (65535 / 1024,)),
        True,
        id="rr-9-with-max",
    ),
    pytest.param(h("10 48 0000"), HeartRate(bpm=72, rr_intervals_s=(0.0,)), True, id="rr-zero"),
    pytest.param(
        h("18 48 e803 0004"),
        HeartRate(bpm=72, energy_expended_kj=1000, rr_intervals_s=(1.0,)),
        True,
        id="energy-and-rr",
    ),
    pytest.param(
        h("1f 2c01 e803 0004 0002 0100"),
        HeartRate(
            bpm=300,
            sensor_contact=True,
            energy_expended_kj=1000,
            rr_intervals_s=(1.0, 0.5, 1 / 1024),
        ),
        True,
        id="full",
    ),
    # reserved flags announce fields of a newer specification: ignored
    pytest.param(h("20 48 aa"), HeartRate(bpm=72), False, id="reserved-flag-trailing-byte"),
    pytest.param(
        h("30 48 0004 aa"), HeartRate(bpm=72, rr_intervals_s=(1.0,)), False, id="reserved-flag-odd-rr-byte"
    ),
]


@pytest.mark.parametrize(("data", "expected", "canonical"), VECTORS)
def test_golden_packet_decodes_to_the_expected_reading(
    data: bytes, expected: HeartRate, canonical: bool
) -> None:
    check_golden_packet(HRM, data, expected, canonical)


def test_the_profile_has_no_time_stamp_so_encoding_drops_it() -> None:
    m = HeartRate(bpm=72, measured_at=datetime(2026, 11, 24, 14, 30, tzinfo=UTC))
    assert gatt.encode(m) == h("00 48")


# --- *_truncated / *_invalid ---------------------------------------------------------------


def assert_refused(data: bytes, offset: int) -> MeasurementDecodeError:
    with pytest.raises(MeasurementDecodeError) as caught:
        gatt.decode(HRM, data)
    error = caught.value
    assert (error.uuid, error.data_hex, error.offset) == ("2a37", data.hex(), offset)
    return error


NO_RR = h("0f 2c01 e803")
FULL = h("1f 2c01 e803 0004 0002 0100")


@pytest.mark.parametrize("cut", range(len(NO_RR)))
def test_heart_rate_truncated(cut: int) -> None:
    assert "truncated" in assert_refused(NO_RR[:cut], cut).reason


@pytest.mark.parametrize("cut", range(1, len(FULL)))
def test_heart_rate_with_rr_truncated(cut: int) -> None:
    """The RR count is implied by the length: a cut on an RR boundary is a shorter, valid list."""
    data = FULL[:cut]
    rr_bytes = cut - 5
    if rr_bytes >= 2 and rr_bytes % 2 == 0:
        assert gatt.decode(HRM, data) == HeartRate(
            bpm=300,
            sensor_contact=True,
            energy_expended_kj=1000,
            rr_intervals_s=(1.0, 0.5, 1 / 1024)[: rr_bytes // 2],
        )
    elif rr_bytes >= 2:
        assert "one was sent" in assert_refused(data, cut - 1).reason
    elif rr_bytes >= 0:
        assert "none was sent" in assert_refused(data, cut).reason
    else:  # the heart rate or the energy expended itself is cut
        assert "truncated" in assert_refused(data, cut).reason


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (h("00 48 00"), 2),
        (h("01 2c01 00"), 3),
        (h("08 48 e803 00"), 4),
        (h("06 48 0004"), 2),  # RR-intervals the flags do not announce
    ],
)
def test_heart_rate_invalid_trailing_bytes(data: bytes, offset: int) -> None:
    assert "trailing" in assert_refused(data, offset).reason


@pytest.mark.parametrize(
    "rr",
    [float("nan"), float("inf"), float("-inf"), -1 / 1024, 64.0, 0.001, 1e300],
    ids=["nan", "inf", "-inf", "negative", "64s", "off-grid", "huge"],
)
def test_unrepresentable_rr_interval_is_refused_with_a_telemedroom_error(rr: float) -> None:
    """Bug fixed: NaN and ±inf used to escape as a bare ValueError / OverflowError from round()."""
    with pytest.raises(MeasurementEncodeError, match="RR-interval"):
        gatt.encode(HeartRate(bpm=60, rr_intervals_s=(1.0, rr)))


# --- hypothesis round trip ------------------------------------------------------------------

heart_rates = st.builds(
    HeartRate,
    bpm=st.integers(0, 0xFFFF),
    # RR-intervals are whole multiples of 1/1024 s (GSS §3.113), up to 0xFFFF of them
    rr_intervals_s=st.lists(st.integers(0, 0xFFFF).map(lambda raw: raw / 1024), max_size=12).map(tuple),
    energy_expended_kj=st.none() | st.integers(0, 0xFFFF),
    sensor_contact=st.none() | st.booleans(),
)


@given(heart_rates)
def test_every_representable_reading_survives_encode_and_decode(m: HeartRate) -> None:
    assert gatt.decode(gatt.characteristic_of(m), gatt.encode(m)) == m


@st.composite
def canonical_wires(draw: st.DrawFn) -> bytes:
    """Bytes built field by field: u8 whenever the value fits, contact bits 0, 0b100 or 0b110."""
    wide = draw(st.booleans())
    flags = int(wide) | draw(st.sampled_from([0, 0x04, 0x06])) | draw(st.sampled_from([0, 0x08]))
    wire = struct.pack("<H", draw(st.integers(256, 0xFFFF))) if wide else bytes([draw(st.integers(0, 255))])
    if flags & 0x08:
        wire += struct.pack("<H", draw(st.integers(0, 0xFFFF)))
    rr = draw(st.lists(st.integers(0, 0xFFFF), max_size=12))
    if rr:
        flags |= 0x10
        wire += struct.pack(f"<{len(rr)}H", *rr)
    return bytes([flags]) + wire


@given(canonical_wires())
def test_canonical_bytes_survive_decode_and_encode(wire: bytes) -> None:
    assert gatt.encode(gatt.decode(HRM, wire)) == wire
