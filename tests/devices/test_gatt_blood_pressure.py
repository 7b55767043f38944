"""Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36): golden packets.

Every vector below is worked out byte by byte from the GATT Specification Supplement
(GSS) §3.31 Blood Pressure Measurement and §3.133 Intermediate Cuff Pressure, with the
IEEE 11073-20601 §F.8 SFLOAT special values and the GSS §3.70 Date Time.
"""

from __future__ import annotations

import functools
import struct
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.devices._gatt_support import (
    BERLIN,
    SPECIALS,
    assert_refused,
    at,
    check_golden_packet,
    check_round_trip,
    date_time_bytes,
    instant,
    sfloats,
)

from telemedroom import BloodPressure, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.codecs import Special, encode_sfloat
from telemedroom.devices.gatt import blood_pressure

BPM = blood_pressure.BLOOD_PRESSURE_MEASUREMENT
ICP = blood_pressure.INTERMEDIATE_CUFF_PRESSURE
h = bytes.fromhex


# GSS §3.31: flags (bit 0 kPa, 1 time stamp, 2 pulse rate, 3 user id, 4 measurement status,
# 5-7 reserved) | systolic | diastolic | MAP (SFLOAT) | [Date Time] | [pulse SFLOAT] | [user u8]
# | [status u16: bit 0 body movement, 1 cuff fit, 2 irregular pulse, 3-4 pulse rate range
# (0 in range, 1 above upper limit, 2 below lower limit, 3 reserved), 5 position, 6-15 reserved].
# (uuid, bytes, expected model, whether encode(expected) gives these bytes back)
VECTORS = [
    pytest.param(
        BPM,
        h("00 7800 5000 5900"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89),
        True,
        id="mmHg-minimal",
    ),
    pytest.param(
        BPM,
        # 16.5 = 165e-1 (0xF0A5), 10.7 = 107e-1 (0xF06B), 12 = 12e0 (0x000C)
        h("01 a5f0 6bf0 0c00"),
        BloodPressure(systolic=16.5, diastolic=10.7, mean_arterial=12, unit="kPa"),
        True,
        id="kPa",
    ),
    pytest.param(
        BPM,
        # 16 kPa sent as 160e-1 (0xF0A0): same number, the encoder picks 16e0 (0x0010)
        h("01 a0f0 6bf0 0c00"),
        BloodPressure(systolic=16, diastolic=10.7, mean_arterial=12, unit="kPa"),
        False,
        id="kPa-non-canonical-exponent",
    ),
    pytest.param(
        BPM,
        # 2026-11-24 14:30:00: year 0x07EA, month 11, day 24, 14:30:00 (CET, +01:00)
        h("02 7800 5000 5900 ea070b180e1e00"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, measured_at=at(2026, 11, 24, 14, 30)),
        True,
        id="time-stamp-winter",
    ),
    pytest.param(
        BPM,
        h("02 7800 5000 5900 ea0707140e1e00"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, measured_at=at(2026, 7, 20, 14, 30)),
        True,
        id="time-stamp-summer",
    ),
    pytest.param(
        BPM,
        # GSS §3.70: year 0 means "not known" -> clock never set
        h("02 7800 5000 5900 00000b180e1e00"),
        BloodPressure(
            systolic=120, diastolic=80, mean_arterial=89, status=frozenset({"device_clock_not_set"})
        ),
        False,
        id="clock-not-set-year-0",
    ),
    pytest.param(
        BPM,
        h("02 7800 5000 5900 ea07000c0e1e00"),
        BloodPressure(
            systolic=120, diastolic=80, mean_arterial=89, status=frozenset({"device_clock_not_set"})
        ),
        False,
        id="clock-not-set-month-0",
    ),
    pytest.param(
        BPM,
        h("02 7800 5000 5900 ea070b000e1e00"),
        BloodPressure(
            systolic=120, diastolic=80, mean_arterial=89, status=frozenset({"device_clock_not_set"})
        ),
        False,
        id="clock-not-set-day-0",
    ),
    pytest.param(
        BPM,
        h("02 7800 5000 5900 00000000000000"),
        BloodPressure(
            systolic=120, diastolic=80, mean_arterial=89, status=frozenset({"device_clock_not_set"})
        ),
        True,
        id="clock-not-set-all-zero",
    ),
    pytest.param(
        BPM,
        # 2026-10-25 02:30 happens twice in Berlin; the wire has no offset, the first (CEST) is taken
        h("02 7800 5000 5900 ea070a19021e00"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, measured_at=at(2026, 10, 25, 2, 30)),
        True,
        id="dst-overlap-first-occurrence",
    ),
    pytest.param(
        BPM,
        # 2026-03-29 02:30 does not exist in Berlin; it is kept as the wall-clock time the
        # device showed (PEP 495 gives it the offset before the gap, +01:00)
        h("02 7800 5000 5900 ea07031d021e00"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, measured_at=at(2026, 3, 29, 2, 30)),
        True,
        id="dst-gap",
    ),
    pytest.param(
        BPM,
        h("04 7800 5000 5900 4000"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, pulse_rate=64),
        True,
        id="pulse-rate",
    ),
    pytest.param(
        BPM,
        h("08 7800 5000 5900 03"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, user_index=3),
        True,
        id="user-3",
    ),
    pytest.param(
        BPM,
        h("08 7800 5000 5900 00"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, user_index=0),
        True,
        id="user-0",
    ),
    pytest.param(
        BPM,
        # GSS §3.31: user id 0xFF is "unknown user"
        h("08 7800 5000 5900 ff"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89),
        False,
        id="user-unknown",
    ),
    *(
        pytest.param(
            BPM,
            h("10 7800 5000 5900") + bits.to_bytes(2, "little"),
            BloodPressure(systolic=120, diastolic=80, mean_arterial=89, status=frozenset(names)),
            canonical,
            id=f"status-{bits:04x}",
        )
        for bits, names, canonical in [
            (0x0001, {"body_movement"}, True),
            (0x0002, {"cuff_too_loose"}, True),
            (0x0004, {"irregular_pulse"}, True),
            (0x0008, {"pulse_rate_exceeds_upper_limit"}, True),
            (0x0010, {"pulse_rate_below_lower_limit"}, True),
            (0x0018, set(), False),  # pulse rate range 3 is reserved
            (0x0020, {"improper_measurement_position"}, True),
            (
                0x002F,
                {
                    "body_movement",
                    "cuff_too_loose",
                    "irregular_pulse",
                    "pulse_rate_exceeds_upper_limit",
                    "improper_measurement_position",
                },
                True,
            ),
            (0xFFC0, set(), False),  # bits 6-15 are reserved: the reading is kept
            (0x0000, set(), False),  # a zero status is the same as none
        ]
    ),
    *(
        pytest.param(
            BPM,
            h(f"00 {raw} 5000 5900"),
            BloodPressure(systolic=None, diastolic=80, mean_arterial=89, status=frozenset({flag.value})),
            True,
            id=f"systolic-{flag.name}",
        )
        for raw, flag in [
            ("ff07", Special.NAN),
            ("0008", Special.NRES),
            ("fe07", Special.POSITIVE_INFINITY),
            ("0208", Special.NEGATIVE_INFINITY),
            ("0108", Special.RESERVED),
        ]
    ),
    *(
        pytest.param(
            BPM,
            h(f"04 7800 {raw} {raw} {raw}"),
            BloodPressure(
                systolic=120,
                diastolic=None,
                mean_arterial=None,
                pulse_rate=None,
                status=frozenset({flag.value}),
            ),
            False,  # an absent pulse rate is not written back
            id=f"diastolic-map-pulse-{flag.name}",
        )
        for raw, flag in [
            ("ff07", Special.NAN),
            ("0008", Special.NRES),
            ("fe07", Special.POSITIVE_INFINITY),
            ("0208", Special.NEGATIVE_INFINITY),
            ("0108", Special.RESERVED),
        ]
    ),
    pytest.param(
        BPM,
        # negative exponent and mantissa: -1 = 0xFFF... SFLOAT 0xFFFF is -1e-1
        h("00 ffff 5000 5900"),
        BloodPressure(systolic=-0.1, diastolic=80, mean_arterial=89),
        True,
        id="negative-mantissa",
    ),
    pytest.param(
        BPM,
        # every flag: kPa, time stamp, pulse rate, user 2, status 0x0025 (bits 0, 2 and 5)
        h("1f a5f0 6bf0 0c00 ea070b180e1e00 4000 02 2500"),
        BloodPressure(
            systolic=16.5,
            diastolic=10.7,
            mean_arterial=12,
            unit="kPa",
            measured_at=at(2026, 11, 24, 14, 30),
            pulse_rate=64,
            user_index=2,
            status=frozenset({"body_movement", "irregular_pulse", "improper_measurement_position"}),
        ),
        True,
        id="full-kPa",
    ),
    pytest.param(
        BPM,
        # a newer specification's flag (bit 5) announces a field we do not know: it is ignored
        h("24 7800 5000 5900 4000 aabbcc"),
        BloodPressure(systolic=120, diastolic=80, mean_arterial=89, pulse_rate=64),
        False,
        id="reserved-flag-trailing-field",
    ),
    pytest.param(
        ICP,
        # GSS §3.133: the current cuff pressure in the systolic field, diastolic and MAP unused (NaN)
        h("00 a000 ff07 ff07"),
        BloodPressure(systolic=160, diastolic=None, intermediate=True),
        True,
        id="intermediate-cuff",
    ),
    pytest.param(
        ICP,
        h("1f 1500 ff07 ff07 ea070b180e1e00 4400 01 0100"),
        BloodPressure(
            systolic=21,
            diastolic=None,
            unit="kPa",
            intermediate=True,
            measured_at=at(2026, 11, 24, 14, 30),
            pulse_rate=68,
            user_index=1,
            status=frozenset({"body_movement"}),
        ),
        True,
        id="intermediate-cuff-full",
    ),
    pytest.param(
        ICP,
        # unused fields that are not NaN are ignored, not flagged
        h("00 a000 5000 5900"),
        BloodPressure(systolic=160, diastolic=None, intermediate=True),
        False,
        id="intermediate-cuff-unused-not-nan",
    ),
    pytest.param(
        ICP,
        h("00 0008 ff07 ff07"),
        BloodPressure(
            systolic=None,
            diastolic=None,
            intermediate=True,
            status=frozenset({"value_not_at_resolution"}),
        ),
        True,
        id="intermediate-cuff-nres",
    ),
]


@pytest.mark.parametrize(("uuid", "data", "expected", "canonical"), VECTORS)
def test_golden_packet_decodes_to_the_expected_reading(
    uuid: int, data: bytes, expected: BloodPressure, canonical: bool
) -> None:
    check_golden_packet(uuid, data, expected, canonical)


def test_two_different_specials_are_read_but_encoded_as_one() -> None:
    """A reading keeps one set of flags, so two absent numbers share one special value on the way out."""
    got = gatt.decode(BPM, h("00 ff07 0008 5900"), tz=BERLIN)
    assert got == BloodPressure(
        systolic=None,
        diastolic=None,
        mean_arterial=89,
        status=frozenset({"value_nan", "value_not_at_resolution"}),
    )
    assert gatt.encode(got, tz=BERLIN) == h("00 ff07 ff07 5900")  # NaN first (see _wire.special_of)


def test_dst_gap_time_is_read_with_the_offset_before_the_gap() -> None:
    got = gatt.decode(BPM, h("02 7800 5000 5900 ea07031d021e00"), tz=BERLIN)
    assert got.measured_at is not None
    assert got.measured_at.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # the same instant given in UTC is written as the wall-clock time after the gap, 03:30
    in_utc = got.model_copy(update={"measured_at": got.measured_at.astimezone(UTC)})
    assert gatt.encode(in_utc, tz=BERLIN)[7:14] == h("ea07031d031e00")


def test_second_occurrence_of_an_overlap_hour_cannot_travel() -> None:
    """The wire has no offset: 02:30 CET (the second 02:30) comes back as 02:30 CEST."""
    second = BloodPressure(systolic=120, diastolic=80, measured_at=at(2026, 10, 25, 2, 30, fold=1))
    got = gatt.decode(BPM, gatt.encode(second, tz=BERLIN), tz=BERLIN)
    assert got.measured_at is not None
    assert got.measured_at.utcoffset() == at(2026, 10, 25, 2, 30).utcoffset()
    assert instant(got.measured_at) == instant(second.measured_at) - 3600  # type: ignore[operator]


def test_time_stamp_is_read_in_the_zone_given() -> None:
    data = h("02 7800 5000 5900 ea070b180e1e00")
    assert gatt.decode(BPM, data, tz=UTC).measured_at == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    assert gatt.decode(BPM, data, tz=BERLIN).measured_at == datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


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
            BloodPressure(systolic=120, diastolic=80, measured_at=when),
            tz=BERLIN if when.year > 1582 else ZoneInfo("America/New_York"),
        )


# --- *_truncated / *_invalid ---------------------------------------------------------------

FULL = h("1f a5f0 6bf0 0c00 ea070b180e1e00 4000 02 2500")


@pytest.mark.parametrize("uuid", [BPM, ICP])
@pytest.mark.parametrize("cut", range(len(FULL)))
def test_blood_pressure_truncated(uuid: int, cut: int) -> None:
    error = assert_refused(uuid, FULL[:cut], cut)
    assert "truncated" in error.reason


@pytest.mark.parametrize("uuid", [BPM, ICP])
@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (h("00 7800 5000 5900 00"), 7),
        (FULL + b"\x00", len(FULL)),
        (h("02 7800 5000 5900 ea070b180e1e00 4000"), 14),  # a pulse rate the flags do not announce
    ],
)
def test_blood_pressure_invalid_trailing_bytes(uuid: int, data: bytes, offset: int) -> None:
    error = assert_refused(uuid, data, offset)
    assert "trailing" in error.reason


@pytest.mark.parametrize(
    "date_time",
    [
        "ea070d180e1e00",  # month 13
        "ea07021e0e1e00",  # 30 February
        "ea0702 1d0e1e00",  # 29 February 2026 (not a leap year)
        "ea070b18181e00",  # hour 24
        "ea070b180e3c00",  # minute 60
        "ea070b180e1e3c",  # second 60
        "ea070b200e1e00",  # day 32
        "2d060b180e1e00",  # year 1581, before the Date Time range
    ],
)
def test_blood_pressure_invalid_date(date_time: str) -> None:
    assert_refused(BPM, h("02 7800 5000 5900" + date_time), 7)


# --- hypothesis round trip ------------------------------------------------------------------

ZONES = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])


# Strategies are built once (functools.cache): hypothesis validates each new strategy object,
# which would otherwise cost more than the property itself.


@functools.cache
def optional_sfloats() -> st.SearchStrategy[float | None]:
    return st.none() | sfloats()


NAIVE_WALL_TIMES = st.datetimes(min_value=datetime(1583, 1, 1), max_value=datetime(9999, 12, 30))


@functools.cache
def optional_wall_times(tz: tzinfo) -> st.SearchStrategy[datetime | None]:
    """None, or a whole-second local time in ``tz`` that exists and, if repeated, is its first occurrence."""

    def exists(local: datetime) -> bool:
        return local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None)

    return st.none() | NAIVE_WALL_TIMES.map(lambda naive: naive.replace(microsecond=0, tzinfo=tz)).filter(
        exists
    )


STATUS_NAMES = st.sets(st.sampled_from([name for _, name in blood_pressure.MEASUREMENT_STATUS]))
USER_INDEXES = st.none() | st.integers(0, 254)
PULSE_RANGES = st.sampled_from([(), ("pulse_rate_exceeds_upper_limit",), ("pulse_rate_below_lower_limit",)])


@st.composite
def blood_pressures(draw: st.DrawFn, tz: tzinfo) -> BloodPressure:
    intermediate = draw(st.booleans())
    systolic = draw(optional_sfloats())
    diastolic = mean_arterial = None
    if not intermediate:
        diastolic = draw(optional_sfloats())
        mean_arterial = draw(optional_sfloats())
    status = set(draw(STATUS_NAMES)) | set(draw(PULSE_RANGES))
    # An absent number travels as the special value its flag names (one flag per reading);
    # the intermediate cuff pressure's unused diastolic and MAP carry no flag.
    if systolic is None or (not intermediate and None in (diastolic, mean_arterial)):
        status.add(draw(st.sampled_from(SPECIALS)))
    measured_at = draw(optional_wall_times(tz))
    if measured_at is None and draw(st.booleans()):
        status.add("device_clock_not_set")
    return BloodPressure(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=mean_arterial,
        unit=draw(st.sampled_from(["mm[Hg]", "kPa"])),
        pulse_rate=draw(optional_sfloats()),
        intermediate=intermediate,
        measured_at=measured_at,
        user_index=draw(USER_INDEXES),
        status=frozenset(status),
    )


@given(st.data(), ZONES)
def test_every_representable_reading_survives_encode_and_decode(data: st.DataObject, tz: tzinfo) -> None:
    check_round_trip(data.draw(blood_pressures(tz)), tz)


# Canonical bytes built field by field from the specification, independently of the encoder.
optional_naive_times = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
)


@st.composite
def canonical_wires(draw: st.DrawFn) -> tuple[int, bytes]:
    intermediate = draw(st.booleans())
    special = draw(st.sampled_from(list(Special)))  # one status set: one special value per reading

    def pressure() -> int:
        value = draw(optional_sfloats())
        return encode_sfloat(special if value is None else value)

    systolic = pressure()
    diastolic, mean_arterial = (0x07FF, 0x07FF) if intermediate else (pressure(), pressure())
    flags = draw(st.integers(0, 0x1F))
    wire = bytes([flags]) + struct.pack("<HHH", systolic, diastolic, mean_arterial)
    if flags & 0x02:
        wire += date_time_bytes(draw(optional_naive_times))
    if flags & 0x04:
        wire += struct.pack("<H", encode_sfloat(draw(sfloats())))
    if flags & 0x08:
        wire += bytes([draw(st.integers(0, 254))])
    if flags & 0x10:  # defined status bits and a pulse-rate range of 0-2, not all zero
        bits = draw(st.integers(0, 0x27)) & 0x27  # body movement, cuff fit, irregular pulse, position
        bits |= draw(st.integers(0, 2)) << 3
        assume(bits)
        wire += struct.pack("<H", bits)
    return (ICP if intermediate else BPM), wire


@given(canonical_wires(), ZONES)
def test_canonical_bytes_survive_decode_and_encode(uuid_and_wire: tuple[int, bytes], tz: tzinfo) -> None:
    uuid, wire = uuid_and_wire
    assert gatt.encode(gatt.decode(uuid, wire, tz=tz), tz=tz) == wire
