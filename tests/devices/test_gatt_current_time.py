"""Current Time (0x2A2B): golden values, invalid values, round trips.

Vectors worked out from the GATT Specification Supplement (GSS) §3.62 Current Time:
Exact Time 256 (Date Time §3.70, Day of Week 1 = Monday .. 7 = Sunday with 0 unknown,
Fractions256 in 1/256 s) and Adjust Reason (bit 0 manual time update, 1 external
reference time update, 2 change of time zone, 3 change of DST, 4-7 reserved).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.devices._gatt_support import BERLIN, instant, wall_times

from telemedroom import MeasurementDecodeError, MeasurementEncodeError
from telemedroom.devices import gatt
from telemedroom.devices.gatt import current_time
from telemedroom.devices.gatt.current_time import CurrentTime

h = bytes.fromhex
NOV_24 = "ea070b180e1e00 02"  # 2026-11-24 14:30:00, a Tuesday (2)


def at(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=BERLIN)  # type: ignore[misc]


VECTORS = [
    pytest.param(
        h(f"{NOV_24} 00 01"),
        CurrentTime(time=at(2026, 11, 24, 14, 30), adjust_reason=frozenset({"manual_time_update"})),
        True,
        id="manual-update",
    ),
    *(
        pytest.param(
            h(f"{NOV_24} 00 {mask:02x}"),
            CurrentTime(time=at(2026, 11, 24, 14, 30), adjust_reason=frozenset({name})),
            True,
            id=f"reason-{name}",
        )
        for mask, name in current_time.ADJUST_REASONS
    ),
    pytest.param(
        h(f"{NOV_24} 00 0f"),
        CurrentTime(
            time=at(2026, 11, 24, 14, 30),
            adjust_reason=frozenset(name for _, name in current_time.ADJUST_REASONS),
        ),
        True,
        id="every-reason",
    ),
    pytest.param(
        h(f"{NOV_24} 00 f0"), CurrentTime(time=at(2026, 11, 24, 14, 30)), False, id="reserved-reasons"
    ),
    # fractions: 128/256 s = 0.5 s; 1/256 s rounds up to 3907 µs so that it encodes back to 1
    pytest.param(
        h(f"{NOV_24} 80 00"), CurrentTime(time=at(2026, 11, 24, 14, 30, 0, 500_000)), True, id="half"
    ),
    pytest.param(h(f"{NOV_24} 01 00"), CurrentTime(time=at(2026, 11, 24, 14, 30, 0, 3907)), True, id="1/256"),
    pytest.param(
        h(f"{NOV_24} ff 00"), CurrentTime(time=at(2026, 11, 24, 14, 30, 0, 996_094)), True, id="255/256"
    ),
    # GSS: day of week 0 is "unknown": accepted, and written back as the real one
    pytest.param(
        h("ea070b180e1e00 00 00 00"), CurrentTime(time=at(2026, 11, 24, 14, 30)), False, id="dow-unknown"
    ),
    pytest.param(h("00000000000000 00 00 00"), CurrentTime(time=None), True, id="time-unknown"),
    pytest.param(
        h("00000000000000 03 80 01"),
        CurrentTime(time=None, adjust_reason=frozenset({"manual_time_update"})),
        False,
        id="time-unknown-with-dow-and-fractions",
    ),
    pytest.param(h("ea0700180e1e00 00 00 00"), CurrentTime(time=None), False, id="time-unknown-month-0"),
    pytest.param(
        h("ea07031d021e00 07 00 08"),  # 2026-03-29 02:30, inside the Berlin gap, a Sunday
        CurrentTime(time=at(2026, 3, 29, 2, 30), adjust_reason=frozenset({"change_of_dst"})),
        True,
        id="dst-gap",
    ),
    pytest.param(
        h("ea070a19021e00 07 00 08"),  # 2026-10-25 02:30, its first (CEST) occurrence
        CurrentTime(time=at(2026, 10, 25, 2, 30), adjust_reason=frozenset({"change_of_dst"})),
        True,
        id="dst-overlap",
    ),
    pytest.param(
        h("2e06 0a0f 000000 05 00 00"),  # 1582-10-15, first day of the Gregorian calendar, a Friday
        CurrentTime(time=at(1582, 10, 15, 0, 0)),
        True,
        id="first-gregorian-day",
    ),
    pytest.param(
        h("0f27 0c1f 173b3b 05 ff 00"),  # 9999-12-31 23:59:59, a Friday
        CurrentTime(time=at(9999, 12, 31, 23, 59, 59, 996_094)),
        True,
        id="last-representable",
    ),
]


@pytest.mark.parametrize(("data", "expected", "canonical"), VECTORS)
def test_golden_value(data: bytes, expected: CurrentTime, canonical: bool) -> None:
    got = current_time.decode_current_time(data, BERLIN)
    assert got == expected
    assert instant(got.time) == instant(expected.time)
    encoded = current_time.encode_current_time(expected, BERLIN)
    if canonical:
        assert encoded == data
    else:
        assert encoded != data
        assert current_time.decode_current_time(encoded, BERLIN) == expected


def test_every_fraction_survives_decode_and_encode() -> None:
    """Fractions256 become the next whole microsecond, which encodes back to the same fraction."""
    for fractions in range(256):
        data = h(NOV_24) + bytes([fractions, 0])
        got = current_time.decode_current_time(data, BERLIN)
        assert got.time is not None
        assert got.time.microsecond == -(-fractions * 1_000_000 // 256)
        assert current_time.encode_current_time(got, BERLIN) == data


def test_time_is_written_in_the_device_zone() -> None:
    ct = CurrentTime(time=datetime(2026, 11, 24, 13, 30, tzinfo=UTC))
    assert current_time.encode_current_time(ct, BERLIN) == h(f"{NOV_24} 00 00")  # 14:30 CET


def test_decoder_keeps_the_device_time() -> None:
    decoder = gatt.Decoder(tz=BERLIN)
    assert decoder.feed(0x2A2B, h(f"{NOV_24} 80 01")) == []
    assert decoder.device_time == CurrentTime(
        time=at(2026, 11, 24, 14, 30, 0, 500_000), adjust_reason=frozenset({"manual_time_update"})
    )


# --- *_invalid ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"", 0, "ten bytes"),
        (h("ea070b180e1e00 02 00"), 9, "ten bytes"),
        (h("ea070b180e1e00 02 00 00 00"), 10, "ten bytes"),
        (h("ea070d180e1e00 02 00 00"), 0, "month"),  # month 13
        (h("ea07021e0e1e00 02 00 00"), 0, "valid date"),  # 30 February
        (h("ea070b18181e00 02 00 00"), 0, "valid date"),  # hour 24
        (h("2d060b180e1e00 02 00 00"), 0, "1582-9999"),  # year 1581
        (h("ea070b180e1e00 08 00 00"), 7, "not 0-7"),  # day of week 8
        (h("ea070b180e1e00 03 00 00"), 7, "contradicts"),  # 2026-11-24 is a Tuesday, not a Wednesday
    ],
)
def test_current_time_invalid(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(MeasurementDecodeError) as caught:
        current_time.decode_current_time(data, BERLIN)
    error = caught.value
    assert (error.uuid, error.data_hex, error.offset) == ("2a2b", data.hex(), offset)
    assert reason in error.reason


@pytest.mark.parametrize(
    "value",
    [
        CurrentTime(time=datetime(2026, 11, 24, 14, 30)),  # naive
        CurrentTime(time=datetime(10000 - 1, 12, 31, 23, 30, tzinfo=UTC)),  # 10000-01-01 in Berlin
    ],
    ids=["naive", "past-9999"],
)
def test_unrepresentable_time_is_refused(value: CurrentTime) -> None:
    with pytest.raises(MeasurementEncodeError):
        current_time.encode_current_time(value, BERLIN)


# --- hypothesis round trip ------------------------------------------------------------------

ZONES = st.sampled_from([UTC, BERLIN, ZoneInfo("America/Los_Angeles"), ZoneInfo("Australia/Adelaide")])
REASONS = tuple(name for _, name in current_time.ADJUST_REASONS)


@st.composite
def current_times(draw: st.DrawFn, tz: tzinfo) -> tuple[CurrentTime, bytes]:
    """A Current Time and its bytes, packed field by field from GSS §3.62."""
    reasons = draw(st.sets(st.sampled_from(REASONS)))
    reason_bits = sum(1 << REASONS.index(name) for name in reasons)
    if draw(st.integers(0, 9)) == 0:
        return CurrentTime(time=None, adjust_reason=frozenset(reasons)), bytes(9) + bytes([reason_bits])
    local = draw(wall_times(tz))
    fractions = draw(st.integers(0, 255))
    time = local.replace(microsecond=-(-fractions * 1_000_000 // 256))  # the next whole microsecond
    wire = struct.pack(
        "<H8B",
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.isoweekday(),
        fractions,
        reason_bits,
    )
    return CurrentTime(time=time, adjust_reason=frozenset(reasons)), wire


@given(st.data(), ZONES)
def test_every_current_time_survives_both_ways(data: st.DataObject, tz: tzinfo) -> None:
    value, wire = data.draw(current_times(tz))
    assert current_time.encode_current_time(value, tz) == wire
    got = current_time.decode_current_time(wire, tz)
    assert got == value
    assert instant(got.time) == instant(value.time)
