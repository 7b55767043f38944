"""Temperature Measurement (0x2A1C), Intermediate Temperature (0x2A1E), Temperature Type (0x2A1D).

Vectors worked out from the GATT Specification Supplement (GSS) §3.216 Temperature
Measurement, §3.134 Intermediate Temperature and §3.219 Temperature Type, the IEEE
11073-20601 §F.8 FLOAT and the GSS §3.70 Date Time.
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
    SPECIALS,
    assert_refused,
    at,
    check_golden_packet,
    check_round_trip,
    date_time_bytes,
    floats_11073,
    naive_times,
    wall_times,
)

from telemedroom import BodyTemperature, MeasurementDecodeError, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.codecs import Special, encode_float
from telemedroom.devices.gatt import health_thermometer

TM = health_thermometer.TEMPERATURE_MEASUREMENT
IT = health_thermometer.INTERMEDIATE_TEMPERATURE
h = bytes.fromhex


# GSS §3.216 Temperature Measurement: flags (bit 0 Fahrenheit, bit 1 time stamp, bit 2 temperature
# type, 3-7 reserved) | temperature FLOAT | [Date Time] | [Temperature Type u8: 1 armpit,
# 2 body, 3 ear, 4 finger, 5 gastrointestinal tract, 6 mouth, 7 rectum, 8 toe, 9 tympanum;
# 0 and 10-255 reserved]. FLOAT: exponent s8 in the top byte, mantissa s24 below, little-endian.
VECTORS = [
    # 36.4 = 364e-1: 0xFF00016C
    pytest.param(TM, h("00 6c0100ff"), BodyTemperature(value=36.4), True, id="celsius"),
    pytest.param(TM, h("00 25000000"), BodyTemperature(value=37), True, id="celsius-integer"),
    # 98.6 = 986e-1: 0xFF0003DA
    pytest.param(TM, h("01 da0300ff"), BodyTemperature(value=98.6, unit="[degF]"), True, id="fahrenheit"),
    # 36.4567 = 364567e-4: 0xFC059017
    pytest.param(TM, h("00 179005fc"), BodyTemperature(value=36.4567), True, id="four-decimals"),
    # -40 = -40e0: mantissa 0xFFFFD8 (two's complement), exponent 0
    pytest.param(TM, h("00 d8ffff00"), BodyTemperature(value=-40), True, id="negative"),
    # 36.4 sent as 3640e-2 (0xFE000E38): the same number, written back as 364e-1
    pytest.param(TM, h("00 380e00fe"), BodyTemperature(value=36.4), False, id="non-canonical-exponent"),
    *(
        pytest.param(
            TM,
            h("00" + raw),
            BodyTemperature(value=None, status=frozenset({flag.value})),
            True,
            id=f"special-{flag.name}",
        )
        for raw, flag in [
            ("ffff7f00", Special.NAN),
            ("00008000", Special.NRES),
            ("feff7f00", Special.POSITIVE_INFINITY),
            ("02008000", Special.NEGATIVE_INFINITY),
            ("01008000", Special.RESERVED),
        ]
    ),
    pytest.param(
        TM,
        h("02 6c0100ff ea070b180e1e00"),
        BodyTemperature(value=36.4, measured_at=at(2026, 11, 24, 14, 30)),
        True,
        id="time-stamp",
    ),
    pytest.param(
        TM,
        h("02 6c0100ff 00000000000000"),
        BodyTemperature(value=36.4, status=frozenset({"device_clock_not_set"})),
        True,
        id="clock-not-set",
    ),
    pytest.param(
        TM,
        h("02 6c0100ff ea0700000e1e00"),
        BodyTemperature(value=36.4, status=frozenset({"device_clock_not_set"})),
        False,
        id="clock-not-set-month-and-day-0",
    ),
    pytest.param(
        TM,
        h("02 6c0100ff ea070a19021e00"),  # 2026-10-25 02:30, the first (CEST) of two in Berlin
        BodyTemperature(value=36.4, measured_at=at(2026, 10, 25, 2, 30)),
        True,
        id="dst-overlap",
    ),
    pytest.param(
        TM,
        h("02 6c0100ff ea07031d021e00"),  # 2026-03-29 02:30, inside the Berlin gap: kept as shown
        BodyTemperature(value=36.4, measured_at=at(2026, 3, 29, 2, 30)),
        True,
        id="dst-gap",
    ),
    *(
        pytest.param(
            TM,
            h(f"04 6c0100ff {code:02x}"),
            BodyTemperature(value=36.4, site=site),
            True,
            id=f"site-{site}",
        )
        for code, site in health_thermometer.TEMPERATURE_TYPES.items()
    ),
    # reserved site codes keep the reading and flag it; the encoder writes reserved code 0
    pytest.param(
        TM,
        h("04 6c0100ff 00"),
        BodyTemperature(value=36.4, status=frozenset({"temperature_type_reserved"})),
        True,
        id="site-reserved-0",
    ),
    pytest.param(
        TM,
        h("04 6c0100ff 0a"),
        BodyTemperature(value=36.4, status=frozenset({"temperature_type_reserved"})),
        False,
        id="site-reserved-10",
    ),
    pytest.param(
        TM,
        h("04 6c0100ff ff"),
        BodyTemperature(value=36.4, status=frozenset({"temperature_type_reserved"})),
        False,
        id="site-reserved-255",
    ),
    pytest.param(
        TM,
        h("07 da0300ff ea070b180e1e00 06"),
        BodyTemperature(value=98.6, unit="[degF]", measured_at=at(2026, 11, 24, 14, 30), site="mouth"),
        True,
        id="full",
    ),
    pytest.param(
        TM,
        h("07 ffff7f00 00000000000000 00"),
        BodyTemperature(
            value=None,
            unit="[degF]",
            status=frozenset({"value_nan", "device_clock_not_set", "temperature_type_reserved"}),
        ),
        True,
        id="full-nothing-known",
    ),
    # a reserved flag announces a field of a newer specification: ignored
    pytest.param(TM, h("08 6c0100ff aabb"), BodyTemperature(value=36.4), False, id="reserved-flag"),
    pytest.param(
        IT, h("00 690100ff"), BodyTemperature(value=36.1, intermediate=True), True, id="intermediate"
    ),
    pytest.param(
        IT,
        h("07 da0300ff ea070b180e1e00 09"),
        BodyTemperature(
            value=98.6,
            unit="[degF]",
            measured_at=at(2026, 11, 24, 14, 30),
            site="tympanum",
            intermediate=True,
        ),
        True,
        id="intermediate-full",
    ),
]


@pytest.mark.parametrize(("uuid", "data", "expected", "canonical"), VECTORS)
def test_golden_packet_decodes_to_the_expected_reading(
    uuid: int, data: bytes, expected: BodyTemperature, canonical: bool
) -> None:
    check_golden_packet(uuid, data, expected, canonical)


def test_dst_gap_time_is_read_with_the_offset_before_the_gap() -> None:
    got = gatt.decode(TM, h("02 6c0100ff ea07031d021e00"), tz=BERLIN)
    assert got.measured_at is not None
    assert got.measured_at.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


# GSS §3.219 Temperature Type: one byte.
@pytest.mark.parametrize(("code", "site"), [*health_thermometer.TEMPERATURE_TYPES.items()])
def test_temperature_type_round_trip(code: int, site: str) -> None:
    assert health_thermometer.decode_temperature_type(bytes([code])) == site
    assert health_thermometer.encode_temperature_type(site) == bytes([code])


@pytest.mark.parametrize("code", [0, 10, 0x7F, 0xFF])
def test_temperature_type_reserved_code_is_none(code: int) -> None:
    assert health_thermometer.decode_temperature_type(bytes([code])) is None


@pytest.mark.parametrize(("data", "offset"), [(b"", 0), (h("0300"), 1), (h("030000"), 1)])
def test_temperature_type_invalid_length(data: bytes, offset: int) -> None:
    with pytest.raises(MeasurementDecodeError) as caught:
        health_thermometer.decode_temperature_type(data)
    assert (caught.value.uuid, caught.value.data_hex, caught.value.offset) == ("2a1d", data.hex(), offset)


def test_site_without_a_code_is_refused() -> None:
    with pytest.raises(MeasurementEncodeError, match="forehead"):
        gatt.encode(BodyTemperature(value=36.4, site="forehead"))


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
            BodyTemperature(value=36.4, measured_at=when),
            tz=BERLIN if when.year > 1582 else ZoneInfo("America/New_York"),
        )


# --- *_truncated / *_invalid ---------------------------------------------------------------

FULL = h("07 da0300ff ea070b180e1e00 06")


@pytest.mark.parametrize("uuid", [TM, IT])
@pytest.mark.parametrize("cut", range(len(FULL)))
def test_temperature_truncated(uuid: int, cut: int) -> None:
    assert "truncated" in assert_refused(uuid, FULL[:cut], cut).reason


@pytest.mark.parametrize("uuid", [TM, IT])
@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (h("00 6c0100ff 00"), 5),
        (FULL + b"\x00", len(FULL)),
        (h("02 6c0100ff ea070b180e1e00 06"), 12),  # a site the flags do not announce
    ],
)
def test_temperature_invalid_trailing_bytes(uuid: int, data: bytes, offset: int) -> None:
    assert "trailing" in assert_refused(uuid, data, offset).reason


@pytest.mark.parametrize(
    "date_time",
    [
        "ea070d180e1e00",
        "ea07021e0e1e00",
        "ea070b18181e00",
        "ea070b180e3c00",
        "ea070b180e1e3c",
        "2d060b180e1e00",
    ],
    ids=["month-13", "feb-30", "hour-24", "minute-60", "second-60", "year-1581"],
)
def test_temperature_invalid_date(date_time: str) -> None:
    assert_refused(TM, h("02 6c0100ff" + date_time), 5)


# --- hypothesis round trip ------------------------------------------------------------------

ZONES = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")])


@st.composite
def temperatures(draw: st.DrawFn, tz: tzinfo) -> BodyTemperature:
    value = draw(st.none() | floats_11073())
    status = set()
    if value is None:
        status.add(draw(st.sampled_from(SPECIALS)))
    measured_at = draw(st.none() | wall_times(tz))
    if measured_at is None and draw(st.booleans()):
        status.add("device_clock_not_set")
    site = draw(st.none() | st.sampled_from(tuple(sorted(health_thermometer.TEMPERATURE_TYPES.values()))))
    if site is None and draw(st.booleans()):
        status.add("temperature_type_reserved")
    return BodyTemperature(
        value=value,
        unit=draw(st.sampled_from(["Cel", "[degF]"])),
        site=site,
        intermediate=draw(st.booleans()),
        measured_at=measured_at,
        status=frozenset(status),
    )


@given(st.data(), ZONES)
def test_every_representable_reading_survives_encode_and_decode(data: st.DataObject, tz: tzinfo) -> None:
    check_round_trip(data.draw(temperatures(tz)), tz)


# Canonical bytes built field by field from the specification, independently of the encoder.


@st.composite
def canonical_wires(draw: st.DrawFn) -> tuple[int, bytes]:
    flags = draw(st.integers(0, 0x07))
    value = draw(st.none() | floats_11073())
    raw = encode_float(draw(st.sampled_from(tuple(Special))) if value is None else value)
    wire = bytes([flags]) + struct.pack("<I", raw)
    if flags & 0x02:
        wire += date_time_bytes(draw(st.none() | naive_times))
    if flags & 0x04:
        wire += bytes([draw(st.integers(0, 9))])  # the nine sites, or reserved code 0
    return draw(st.sampled_from([TM, IT])), wire


@given(canonical_wires(), ZONES)
def test_canonical_bytes_survive_decode_and_encode(uuid_and_wire: tuple[int, bytes], tz: tzinfo) -> None:
    uuid, wire = uuid_and_wire
    assert gatt.encode(gatt.decode(uuid, wire, tz=tz), tz=tz) == wire
