"""PLX Spot-Check (0x2A5E) and PLX Continuous (0x2A5F) Measurement: golden packets.

Vectors worked out from the GATT Specification Supplement (GSS) §3.173 PLX Spot-Check
Measurement, §3.172 PLX Continuous Measurement and §3.171 (Measurement Status, Device
and Sensor Status); Pulse Oximeter Service 1.0.1; SFLOAT per IEEE 11073-20601 §F.8.
"""

from __future__ import annotations

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
    naive_times,
    sfloats,
    wall_times,
)

from telemedroom import MeasurementEncodeError, OxygenSaturation
from telemedroom.devices import gatt
from telemedroom.devices.codecs import Special, encode_sfloat
from telemedroom.devices.gatt import pulse_oximeter

SPOT = pulse_oximeter.PLX_SPOT_CHECK_MEASUREMENT
CONT = pulse_oximeter.PLX_CONTINUOUS_MEASUREMENT
h = bytes.fromhex
SPECIAL_RAW = [
    ("ff07", Special.NAN),
    ("0008", Special.NRES),
    ("fe07", Special.POSITIVE_INFINITY),
    ("0208", Special.NEGATIVE_INFINITY),
    ("0108", Special.RESERVED),
]


def spot(**fields: object) -> OxygenSaturation:
    return OxygenSaturation(**{"spo2_percent": 97, "pulse_rate": 68, **fields})  # type: ignore[arg-type]


def cont(**fields: object) -> OxygenSaturation:
    return spot(continuous=True, **fields)


# GSS §3.173 spot-check: flags (bit 0 time stamp, 1 measurement status, 2 device and sensor
# status, 3 pulse amplitude index, 4 device clock is not set, 5-7 reserved) | SpO2 | PR (SFLOAT)
# | [Date Time] | [measurement status u16] | [device and sensor status u24] | [PAI SFLOAT].
# 97 % = 0x0061, 68 /min = 0x0044, PAI 2.5 % = 25e-1 = 0xF019.
SPOT_VECTORS = [
    pytest.param(h("00 6100 4400"), spot(), True, id="minimal"),
    pytest.param(
        h("01 6100 4400 ea070b180e1e00"), spot(measured_at=at(2026, 11, 24, 14, 30)), True, id="time-stamp"
    ),
    # the flag, not the time stamp, says the clock is not set; both can be sent
    pytest.param(h("10 6100 4400"), spot(status=frozenset({"device_clock_not_set"})), True, id="clock-flag"),
    pytest.param(
        h("11 6100 4400 ea070b180e1e00"),
        spot(measured_at=at(2026, 11, 24, 14, 30), status=frozenset({"device_clock_not_set"})),
        True,
        id="clock-flag-and-time-stamp",
    ),
    pytest.param(
        h("01 6100 4400 00000000000000"),
        spot(status=frozenset({"device_clock_not_set"})),
        False,  # written back with the flag instead of an all-zero time stamp
        id="clock-not-set-by-date",
    ),
    pytest.param(
        h("01 6100 4400 ea07031d021e00"),  # inside the 2026 Berlin DST gap: kept as shown
        spot(measured_at=at(2026, 3, 29, 2, 30)),
        True,
        id="dst-gap",
    ),
    pytest.param(
        h("01 6100 4400 ea070a19021e00"),  # repeated hour: the first (CEST) occurrence
        spot(measured_at=at(2026, 10, 25, 2, 30)),
        True,
        id="dst-overlap",
    ),
    *(
        pytest.param(
            h("02 6100 4400") + mask.to_bytes(2, "little"),
            spot(status=frozenset({name})),
            True,
            id=f"measurement-status-{name}",
        )
        for mask, name in pulse_oximeter.MEASUREMENT_STATUS
    ),
    pytest.param(h("02 6100 4400 1f00"), spot(), False, id="measurement-status-reserved-bits-0-4"),
    *(
        pytest.param(
            h("04 6100 4400") + mask.to_bytes(3, "little"),
            spot(status=frozenset({name})),
            True,
            id=f"device-status-{name}",
        )
        for mask, name in pulse_oximeter.DEVICE_AND_SENSOR_STATUS
    ),
    pytest.param(h("04 6100 4400 0000ff"), spot(), False, id="device-status-reserved-bits-16-23"),
    pytest.param(
        h("04 6100 4400 ffffff"),
        spot(status=frozenset(name for _, name in pulse_oximeter.DEVICE_AND_SENSOR_STATUS)),
        False,
        id="device-status-all-bits",
    ),
    pytest.param(h("08 6100 4400 19f0"), spot(pulse_amplitude_index=2.5), True, id="pai"),
    *(
        pytest.param(
            h(f"00 {raw} 4400"),
            spot(spo2_percent=None, status=frozenset({flag.value})),
            True,
            id=f"spo2-{flag.name}",
        )
        for raw, flag in SPECIAL_RAW
    ),
    *(
        pytest.param(
            h(f"00 6100 {raw}"),
            spot(pulse_rate=None, status=frozenset({flag.value})),
            True,
            id=f"pr-{flag.name}",
        )
        for raw, flag in SPECIAL_RAW
    ),
    pytest.param(
        # 97.5 % = 975e-1 = 0xF3CF
        h("1f cff3 4400 ea070b180e1e00 8000 200000 19f0"),
        spot(
            spo2_percent=97.5,
            measured_at=at(2026, 11, 24, 14, 30),
            pulse_amplitude_index=2.5,
            status=frozenset({"device_clock_not_set", "validated_data", "low_perfusion"}),
        ),
        True,
        id="full",
    ),
    pytest.param(h("20 6100 4400 aabbcc"), spot(), False, id="reserved-flag-trailing-field"),
]

# GSS §3.172 continuous: flags (bit 0 SpO2PR-Fast, 1 SpO2PR-Slow, 2 measurement status,
# 3 device and sensor status, 4 PAI, 5-7 reserved) | SpO2 | PR | [fast SpO2 | PR] [slow SpO2 | PR]
# | [measurement status u16] | [device and sensor status u24] | [PAI SFLOAT]. No time stamp.
CONT_VECTORS = [
    pytest.param(h("00 6100 4400"), cont(), True, id="minimal"),
    pytest.param(
        h("01 6100 4400 6200 4500"), cont(spo2_fast_percent=98, pulse_rate_fast=69), True, id="fast"
    ),
    pytest.param(
        h("02 6100 4400 6000 4600"), cont(spo2_slow_percent=96, pulse_rate_slow=70), True, id="slow"
    ),
    pytest.param(
        h("03 6100 4400 6200 4500 6000 4600"),
        cont(spo2_fast_percent=98, pulse_rate_fast=69, spo2_slow_percent=96, pulse_rate_slow=70),
        True,
        id="fast-and-slow",
    ),
    pytest.param(
        h("01 6100 4400 ff07 4500"),
        cont(spo2_fast_percent=None, pulse_rate_fast=69, status=frozenset({"value_nan"})),
        True,
        id="fast-spo2-nan",
    ),
    pytest.param(
        h("02 6100 4400 6000 0208"),
        cont(spo2_slow_percent=96, status=frozenset({"value_negative_infinity"})),
        True,
        id="slow-pr-minus-inf",
    ),
    pytest.param(
        h("04 6100 4400 2000"), cont(status=frozenset({"measurement_ongoing"})), True, id="measurement-status"
    ),
    pytest.param(
        h("08 6100 4400 000100"), cont(status=frozenset({"questionable_pulse"})), True, id="device-status"
    ),
    # 12.5 % = 125e-1 = 0xF07D
    pytest.param(h("10 6100 4400 7df0"), cont(pulse_amplitude_index=12.5), True, id="pai"),
    pytest.param(
        h("1f 6100 4400 6200 4500 6000 4600 0002 008000 7df0"),
        cont(
            spo2_fast_percent=98,
            pulse_rate_fast=69,
            spo2_slow_percent=96,
            pulse_rate_slow=70,
            pulse_amplitude_index=12.5,
            status=frozenset({"data_from_measurement_storage", "sensor_disconnected"}),
        ),
        True,
        id="full",
    ),
    pytest.param(h("20 6100 4400 aa"), cont(), False, id="reserved-flag-trailing-field"),
]


@pytest.mark.parametrize(
    ("uuid", "data", "expected", "canonical"),
    [pytest.param(SPOT, *p.values, id=f"spot-{p.id}") for p in SPOT_VECTORS]
    + [pytest.param(CONT, *p.values, id=f"continuous-{p.id}") for p in CONT_VECTORS],
)
def test_golden_packet_decodes_to_the_expected_reading(
    uuid: int, data: bytes, expected: OxygenSaturation, canonical: bool
) -> None:
    check_golden_packet(uuid, data, expected, canonical)


def test_two_different_specials_are_read_but_encoded_as_one() -> None:
    got = gatt.decode(CONT, h("00 0008 fe07"), tz=BERLIN)
    assert got == cont(
        spo2_percent=None,
        pulse_rate=None,
        status=frozenset({"value_not_at_resolution", "value_positive_infinity"}),
    )
    assert gatt.encode(got, tz=BERLIN) == h("00 0008 0008")  # NRes before +INF (_wire.special_of)


def test_special_in_the_pulse_amplitude_index_alone_loses_its_flag() -> None:
    """Documented limit: one status set per reading, so an absent optional PAI is not written back."""
    got = gatt.decode(SPOT, h("08 6100 4400 ff07"), tz=BERLIN)
    assert got == spot(status=frozenset({"value_nan"}))
    assert gatt.encode(got, tz=BERLIN) == h("00 6100 4400")


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
        gatt.encode(spot(measured_at=when), tz=BERLIN if when.year > 1582 else ZoneInfo("America/New_York"))


# --- *_truncated / *_invalid ---------------------------------------------------------------

FULL_SPOT = h("1f cff3 4400 ea070b180e1e00 8000 200000 19f0")
FULL_CONT = h("1f 6100 4400 6200 4500 6000 4600 0002 008000 7df0")


@pytest.mark.parametrize("cut", range(len(FULL_SPOT)))
def test_spot_check_truncated(cut: int) -> None:
    assert "truncated" in assert_refused(SPOT, FULL_SPOT[:cut], cut).reason


@pytest.mark.parametrize("cut", range(len(FULL_CONT)))
def test_continuous_truncated(cut: int) -> None:
    assert "truncated" in assert_refused(CONT, FULL_CONT[:cut], cut).reason


@pytest.mark.parametrize(
    ("uuid", "data", "offset"),
    [
        (SPOT, h("00 6100 4400 00"), 5),
        (SPOT, FULL_SPOT + b"\x00", len(FULL_SPOT)),
        (SPOT, h("10 6100 4400 ea070b180e1e00"), 5),  # the clock flag announces no time stamp
        (CONT, h("00 6100 4400 00"), 5),
        (CONT, FULL_CONT + b"\x00", len(FULL_CONT)),
        (CONT, h("01 6100 4400 6200 4500 6000 4600"), 9),  # slow pair without its flag
    ],
)
def test_invalid_trailing_bytes(uuid: int, data: bytes, offset: int) -> None:
    assert "trailing" in assert_refused(uuid, data, offset).reason


@pytest.mark.parametrize(
    "date_time",
    ["ea070d180e1e00", "ea07021e0e1e00", "ea070b18181e00", "ea070b180e3c00", "2d060b180e1e00"],
    ids=["month-13", "feb-30", "hour-24", "minute-60", "year-1581"],
)
def test_spot_check_invalid_date(date_time: str) -> None:
    assert_refused(SPOT, h("01 6100 4400" + date_time), 5)


# --- hypothesis round trip ------------------------------------------------------------------

ZONES = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kathmandu")])


@st.composite
def oxygen_saturations(draw: st.DrawFn, tz: tzinfo) -> OxygenSaturation:
    continuous = draw(st.booleans())
    number = st.none() | sfloats()
    fields: dict[str, float | None] = {"spo2_percent": draw(number), "pulse_rate": draw(number)}
    absent = None in fields.values()
    if continuous:
        for pair in (("spo2_fast_percent", "pulse_rate_fast"), ("spo2_slow_percent", "pulse_rate_slow")):
            values = draw(st.just((None, None)) | st.tuples(number, sfloats()) | st.tuples(sfloats(), number))
            fields.update(zip(pair, values, strict=True))
            absent = absent or (None in values and values != (None, None))
    status = set(draw(st.sets(st.sampled_from(tuple(name for _, name in pulse_oximeter.MEASUREMENT_STATUS)))))
    status |= draw(
        st.sets(st.sampled_from(tuple(name for _, name in pulse_oximeter.DEVICE_AND_SENSOR_STATUS)))
    )
    if absent:
        status.add(draw(st.sampled_from(SPECIALS)))
    measured_at = None
    if not continuous:  # only the spot-check has a time stamp and a clock flag
        measured_at = draw(st.none() | wall_times(tz))
        if draw(st.booleans()):
            status.add("device_clock_not_set")
    return OxygenSaturation(
        **fields,
        pulse_amplitude_index=draw(number),
        continuous=continuous,
        measured_at=measured_at,
        status=frozenset(status),
    )


@given(st.data(), ZONES)
def test_every_representable_reading_survives_encode_and_decode(data: st.DataObject, tz: tzinfo) -> None:
    check_round_trip(data.draw(oxygen_saturations(tz)), tz)


# Canonical bytes built field by field from the specification, independently of the encoder.


MEASUREMENT_BITS = sum(mask for mask, _ in pulse_oximeter.MEASUREMENT_STATUS)


@st.composite
def canonical_wires(draw: st.DrawFn) -> tuple[int, bytes]:
    continuous = draw(st.booleans())
    special = draw(st.sampled_from(tuple(Special)))  # one status set: one special value per reading

    def number(allow_special: bool = True) -> int:
        value = draw((st.none() | sfloats()) if allow_special else sfloats())
        return encode_sfloat(special if value is None else value)

    flags = draw(st.integers(0, 0x1F))
    wire = bytes([flags]) + struct.pack("<HH", number(), number())
    if continuous:
        for bit in (0x01, 0x02):  # fast, slow: a pair of two specials would not be written back
            if flags & bit:
                first_absent = draw(st.booleans())
                pair = (number(), number(False)) if first_absent else (number(False), number())
                wire += struct.pack("<HH", *pair)
        status_bits, device_bits, pai_bit = 0x04, 0x08, 0x10
    else:
        if flags & 0x01:
            wire += date_time_bytes(draw(naive_times))  # an unknown date is sent as the 0x10 flag
        status_bits, device_bits, pai_bit = 0x02, 0x04, 0x08
    if flags & status_bits:
        bits = draw(st.integers(1, 0xFFFF)) & MEASUREMENT_BITS
        assume(bits)
        wire += struct.pack("<H", bits)
    if flags & device_bits:
        wire += draw(st.integers(1, 0xFFFF)).to_bytes(3, "little")  # bits 16-23 reserved
    if flags & pai_bit:
        wire += struct.pack("<H", number(False))
    return (CONT if continuous else SPOT), wire


@given(canonical_wires(), ZONES)
def test_canonical_bytes_survive_decode_and_encode(uuid_and_wire: tuple[int, bytes], tz: tzinfo) -> None:
    uuid, wire = uuid_and_wire
    assert gatt.encode(gatt.decode(uuid, wire, tz=tz), tz=tz) == wire
