"""Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E): golden packets.

Vectors worked out from the GATT Specification Supplement (GSS) §3.252 Weight Measurement
and §3.253 Weight Scale Feature; Weight Scale Service 1.0; GSS §3.70 Date Time.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.devices._gatt_support import (
    BERLIN,
    at,
    check_golden_packet,
    check_round_trip,
    date_time_bytes,
    naive_times,
    wall_times,
)

from telemedroom import BodyWeight, MeasurementDecodeError, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.gatt import weight_scale
from telemedroom.devices.gatt.weight_scale import WeightScaleFeature

WM = weight_scale.WEIGHT_MEASUREMENT
h = bytes.fromhex


def lb(**fields: object) -> BodyWeight:
    return BodyWeight(unit="[lb_av]", height_unit="[in_i]", **fields)  # type: ignore[arg-type]


# GSS §3.252: flags (bit 0 imperial: lb and in, bit 1 time stamp, bit 2 user id, bit 3 BMI and
# height, 4-7 reserved) | weight u16 (0.005 kg or 0.01 lb; 0xFFFF measurement unsuccessful)
# | [Date Time] | [user id u8, 0xFF unknown] | [BMI u16, 0.1 kg/m² | height u16, 0.001 m or 0.1 in]
VECTORS = [
    # 72 kg = 14400 x 0.005 kg = 0x3840
    pytest.param(h("00 4038"), BodyWeight(value=72), True, id="kg"),
    pytest.param(h("00 4138"), BodyWeight(value=72.005), True, id="kg-finest-step"),
    pytest.param(h("00 0000"), BodyWeight(value=0), True, id="kg-zero"),
    pytest.param(h("00 feff"), BodyWeight(value=327.67), True, id="kg-largest"),
    pytest.param(
        h("00 ffff"),
        BodyWeight(value=None, status=frozenset({"measurement_unsuccessful"})),
        True,
        id="kg-unsuccessful",
    ),
    # 158.73 lb = 15873 x 0.01 lb = 0x3E01
    pytest.param(h("01 013e"), lb(value=158.73), True, id="lb"),
    pytest.param(h("01 feff"), lb(value=655.34), True, id="lb-largest"),
    pytest.param(
        h("01 ffff"),
        lb(value=None, status=frozenset({"measurement_unsuccessful"})),
        True,
        id="lb-unsuccessful",
    ),
    pytest.param(
        h("02 4038 ea070b180e1e00"),
        BodyWeight(value=72, measured_at=at(2026, 11, 24, 14, 30)),
        True,
        id="time",
    ),
    pytest.param(
        h("02 4038 00000000000000"),
        BodyWeight(value=72, status=frozenset({"device_clock_not_set"})),
        True,
        id="clock-not-set",
    ),
    pytest.param(
        h("02 4038 ea070b00000000"),
        BodyWeight(value=72, status=frozenset({"device_clock_not_set"})),
        False,
        id="clock-not-set-day-0",
    ),
    pytest.param(
        h("02 4038 ea07031d021e00"),  # inside the 2026 Berlin DST gap: kept as shown
        BodyWeight(value=72, measured_at=at(2026, 3, 29, 2, 30)),
        True,
        id="dst-gap",
    ),
    pytest.param(
        h("02 4038 ea070a19021e00"),  # the repeated hour: its first (CEST) occurrence
        BodyWeight(value=72, measured_at=at(2026, 10, 25, 2, 30)),
        True,
        id="dst-overlap",
    ),
    pytest.param(h("04 4038 05"), BodyWeight(value=72, user_index=5), True, id="user"),
    pytest.param(h("04 4038 fe"), BodyWeight(value=72, user_index=254), True, id="user-254"),
    pytest.param(h("04 4038 ff"), BodyWeight(value=72), False, id="user-unknown"),
    # BMI 22.9 = 229 x 0.1 = 0x00E5; height 1.78 m = 1780 x 0.001 m = 0x06F4
    pytest.param(
        h("08 4038 e500 f406"), BodyWeight(value=72, bmi=22.9, height=1.78), True, id="bmi-height-si"
    ),
    # height 70.1 in = 701 x 0.1 in = 0x02BD
    pytest.param(
        h("09 013e e500 bd02"), lb(value=158.73, bmi=22.9, height=70.1), True, id="bmi-height-imperial"
    ),
    pytest.param(
        h("08 4038 ffff ffff"), BodyWeight(value=72, bmi=6553.5, height=65.535), True, id="bmi-height-largest"
    ),
    pytest.param(h("08 4038 0000 0000"), BodyWeight(value=72, bmi=0, height=0), True, id="bmi-height-zero"),
    pytest.param(
        h("0f 013e ea070b180e1e00 02 e500 bd02"),
        lb(value=158.73, measured_at=at(2026, 11, 24, 14, 30), user_index=2, bmi=22.9, height=70.1),
        True,
        id="full-imperial",
    ),
    pytest.param(
        h("0e ffff 00000000000000 00 e500 f406"),
        BodyWeight(
            value=None,
            user_index=0,
            bmi=22.9,
            height=1.78,
            status=frozenset({"measurement_unsuccessful", "device_clock_not_set"}),
        ),
        True,
        id="full-unsuccessful",
    ),
    pytest.param(h("10 4038 aabb"), BodyWeight(value=72), False, id="reserved-flag-trailing-field"),
]


@pytest.mark.parametrize(("data", "expected", "canonical"), VECTORS)
def test_golden_packet_decodes_to_the_expected_reading(
    data: bytes, expected: BodyWeight, canonical: bool
) -> None:
    check_golden_packet(WM, data, expected, canonical)


@pytest.mark.parametrize(
    ("m", "match"),
    [
        (BodyWeight(value=70.123), "0.005 kg resolution"),
        (lb(value=150.005), "0.01 lb resolution"),
        (BodyWeight(value=-0.005), "weight"),
        (BodyWeight(value=327.675), "weight"),  # 0xFFFF would read as "measurement unsuccessful"
        (BodyWeight(value=float("nan")), "weight"),
        (BodyWeight(value=float("inf")), "weight"),
        (BodyWeight(value=72, bmi=22.95, height=1.78), "BMI"),
        (BodyWeight(value=72, bmi=float("nan"), height=1.78), "BMI"),
        (BodyWeight(value=72, bmi=22.9, height=1.7805), "height"),
        (BodyWeight(value=72, bmi=22.9, height=65.536), "height"),
        (BodyWeight(value=72, bmi=22.9, height=float("-inf")), "height"),
        (BodyWeight(value=72, bmi=22.9), "together"),
        (BodyWeight(value=72, height=1.78), "together"),
        (BodyWeight(value=72, height=70.1, height_unit="[in_i]", bmi=22.9), "one unit system"),
    ],
    ids=[
        "kg-off-grid",
        "lb-off-grid",
        "negative",
        "0xFFFF-is-unsuccessful",
        "weight-nan",
        "weight-inf",
        "bmi-off-grid",
        "bmi-nan",
        "height-off-grid",
        "height-too-large",
        "height-minus-inf",
        "bmi-without-height",
        "height-without-bmi",
        "kg-with-inches",
    ],
)
def test_unrepresentable_reading_is_refused_with_a_telemedroom_error(m: BodyWeight, match: str) -> None:
    """Bug fixed: NaN and ±inf used to escape as bare ValueError / OverflowError from round()."""
    with pytest.raises(MeasurementEncodeError, match=match):
        gatt.encode(m)


@pytest.mark.parametrize(
    "when",
    [
        datetime(9999, 12, 31, 23, 30, tzinfo=UTC),  # year 10000 in Berlin
        datetime(1582, 1, 1, tzinfo=UTC),  # 1581 in New York
        datetime(1, 1, 1, tzinfo=UTC),  # before year 1 in New York
    ],
    ids=["after-9999", "before-1582", "before-year-1"],
)
def test_time_outside_the_date_time_range_is_refused(when: datetime) -> None:
    """GSS §3.70 years 1582-9999; bug fixed: leaving datetime's range raised a bare OverflowError."""
    with pytest.raises(MeasurementEncodeError, match="1582-9999"):
        gatt.encode(
            BodyWeight(value=72, measured_at=when),
            tz=BERLIN if when.year > 1582 else ZoneInfo("America/New_York"),
        )


# --- *_truncated / *_invalid ---------------------------------------------------------------

FULL = h("0f 013e ea070b180e1e00 02 e500 bd02")


def assert_refused(data: bytes, offset: int) -> MeasurementDecodeError:
    with pytest.raises(MeasurementDecodeError) as caught:
        gatt.decode(WM, data, tz=BERLIN)
    error = caught.value
    assert (error.uuid, error.data_hex, error.offset) == ("2a9d", data.hex(), offset)
    return error


@pytest.mark.parametrize("cut", range(len(FULL)))
def test_weight_truncated(cut: int) -> None:
    assert "truncated" in assert_refused(FULL[:cut], cut).reason


@pytest.mark.parametrize(
    ("data", "offset"),
    [(h("00 4038 00"), 3), (FULL + b"\x00", len(FULL)), (h("04 4038 05 e500 f406"), 4)],
)
def test_weight_invalid_trailing_bytes(data: bytes, offset: int) -> None:
    assert "trailing" in assert_refused(data, offset).reason


@pytest.mark.parametrize(
    "date_time",
    ["ea070d180e1e00", "ea07021e0e1e00", "ea070b18181e00", "ea070b180e3c00", "2d060b180e1e00"],
    ids=["month-13", "feb-30", "hour-24", "minute-60", "year-1581"],
)
def test_weight_invalid_date(date_time: str) -> None:
    assert_refused(h("02 4038" + date_time), 3)


# --- Weight Scale Feature -------------------------------------------------------------------

# GSS §3.253: bit 0 time stamp, 1 multiple users, 2 BMI supported, bits 3-6 weight resolution
# (1 0.5 kg/1 lb, 2 0.2/0.5, 3 0.1/0.2, 4 0.05/0.1, 5 0.02/0.05, 6 0.01/0.02, 7 0.005/0.01;
# 0 unspecified, 8-15 reserved), bits 7-9 height resolution (1 0.01 m/1 in, 2 0.005/0.5,
# 3 0.001/0.1; 0 unspecified, 4-7 reserved), bits 10-31 reserved.
FEATURE_VECTORS = [
    pytest.param(h("00000000"), WeightScaleFeature(), True, id="nothing"),
    pytest.param(h("01000000"), WeightScaleFeature(time_stamp_supported=True), True, id="time-stamp"),
    pytest.param(h("02000000"), WeightScaleFeature(multiple_users_supported=True), True, id="users"),
    pytest.param(h("04000000"), WeightScaleFeature(bmi_supported=True), True, id="bmi"),
    *(
        pytest.param(
            (code << 3).to_bytes(4, "little"),
            WeightScaleFeature(weight_resolution_kg=kg, weight_resolution_lb=pounds),
            True,
            id=f"weight-resolution-{code}",
        )
        for code, kg, pounds in [
            (1, 0.5, 1.0),
            (2, 0.2, 0.5),
            (3, 0.1, 0.2),
            (4, 0.05, 0.1),
            (5, 0.02, 0.05),
            (6, 0.01, 0.02),
            (7, 0.005, 0.01),
        ]
    ),
    pytest.param(h("40000000"), WeightScaleFeature(), False, id="weight-resolution-reserved-8"),
    pytest.param(h("78000000"), WeightScaleFeature(), False, id="weight-resolution-reserved-15"),
    pytest.param(
        h("80000000"),
        WeightScaleFeature(height_resolution_m=0.01, height_resolution_in=1.0),
        True,
        id="height-1",
    ),
    pytest.param(
        h("00010000"),
        WeightScaleFeature(height_resolution_m=0.005, height_resolution_in=0.5),
        True,
        id="height-2",
    ),
    pytest.param(
        h("80010000"),
        WeightScaleFeature(height_resolution_m=0.001, height_resolution_in=0.1),
        True,
        id="height-3",
    ),
    pytest.param(h("00020000"), WeightScaleFeature(), False, id="height-resolution-reserved-4"),
    pytest.param(
        h("27010000"),
        WeightScaleFeature(
            time_stamp_supported=True,
            multiple_users_supported=True,
            bmi_supported=True,
            weight_resolution_kg=0.05,
            weight_resolution_lb=0.1,
            height_resolution_m=0.005,
            height_resolution_in=0.5,
        ),
        True,
        id="all",
    ),
    pytest.param(h("000400ff"), WeightScaleFeature(), False, id="reserved-bits-10-31"),
]


@pytest.mark.parametrize(("data", "expected", "canonical"), FEATURE_VECTORS)
def test_weight_scale_feature(data: bytes, expected: WeightScaleFeature, canonical: bool) -> None:
    assert weight_scale.decode_weight_scale_feature(data) == expected
    encoded = weight_scale.encode_weight_scale_feature(expected)
    assert (encoded == data) is canonical
    assert weight_scale.decode_weight_scale_feature(encoded) == expected


@pytest.mark.parametrize(("data", "offset"), [(b"", 0), (h("270100"), 3), (h("2701000000"), 4)])
def test_weight_scale_feature_invalid_length(data: bytes, offset: int) -> None:
    with pytest.raises(MeasurementDecodeError) as caught:
        weight_scale.decode_weight_scale_feature(data)
    assert (caught.value.uuid, caught.value.data_hex, caught.value.offset) == ("2a9e", data.hex(), offset)


@pytest.mark.parametrize(
    "feature",
    [
        WeightScaleFeature(weight_resolution_kg=0.05, weight_resolution_lb=0.2),
        WeightScaleFeature(weight_resolution_kg=0.05),
        WeightScaleFeature(height_resolution_m=0.002, height_resolution_in=0.1),
    ],
)
def test_weight_scale_feature_without_a_code_is_refused(feature: WeightScaleFeature) -> None:
    with pytest.raises(MeasurementEncodeError, match="no code"):
        weight_scale.encode_weight_scale_feature(feature)


# --- hypothesis round trip ------------------------------------------------------------------

ZONES = st.sampled_from([UTC, BERLIN, ZoneInfo("America/Sao_Paulo"), ZoneInfo("Pacific/Chatham")])


@st.composite
def weights(draw: st.DrawFn, tz: tzinfo) -> BodyWeight:
    imperial = draw(st.booleans())
    # the profile's grid: weight 0.005 kg / 0.01 lb, BMI 0.1, height 0.001 m / 0.1 in
    weight_divisor, height_divisor = (100, 10) if imperial else (200, 1000)
    raw = draw(st.integers(0, 0xFFFF))
    status = set()
    value = None
    if raw == 0xFFFF:
        status.add("measurement_unsuccessful")
    else:
        value = raw / weight_divisor
    measured_at = draw(st.none() | wall_times(tz))
    if measured_at is None and draw(st.booleans()):
        status.add("device_clock_not_set")
    bmi = height = None
    if draw(st.booleans()):
        bmi = draw(st.integers(0, 0xFFFF)) / 10
        height = draw(st.integers(0, 0xFFFF)) / height_divisor
    return BodyWeight(
        value=value,
        unit="[lb_av]" if imperial else "kg",
        height=height,
        height_unit="[in_i]" if imperial else "m",
        bmi=bmi,
        measured_at=measured_at,
        user_index=draw(st.none() | st.integers(0, 254)),
        status=frozenset(status),
    )


@given(st.data(), ZONES)
def test_every_representable_reading_survives_encode_and_decode(data: st.DataObject, tz: tzinfo) -> None:
    check_round_trip(data.draw(weights(tz)), tz)


# Canonical bytes built field by field from the specification, independently of the encoder.


@st.composite
def canonical_wires(draw: st.DrawFn) -> bytes:
    flags = draw(st.integers(0, 0x0F))
    wire = bytes([flags]) + struct.pack("<H", draw(st.integers(0, 0xFFFF)))
    if flags & 0x02:
        wire += date_time_bytes(draw(st.none() | naive_times))
    if flags & 0x04:
        wire += bytes([draw(st.integers(0, 254))])  # 0xFF "unknown user" is not written back
    if flags & 0x08:
        wire += struct.pack("<HH", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)))
    return wire


@given(canonical_wires(), ZONES)
def test_canonical_bytes_survive_decode_and_encode(wire: bytes, tz: tzinfo) -> None:
    assert gatt.encode(gatt.decode(WM, wire, tz=tz), tz=tz) == wire


@given(st.integers(0, 7), st.integers(0, 7), st.integers(0, 3))
def test_every_weight_scale_feature_survives_decode_and_encode(
    supported: int, weight_code: int, height_code: int
) -> None:
    data = (supported | weight_code << 3 | height_code << 7).to_bytes(4, "little")
    feature = weight_scale.decode_weight_scale_feature(data)
    assert weight_scale.encode_weight_scale_feature(feature) == data
    assert feature.bmi_supported is bool(supported & 0b100)
