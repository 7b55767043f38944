"""What the per-profile golden-packet tests share: the room's zone, refusals, number and time strategies."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume
from hypothesis import strategies as st

from telemedroom import Measurement, MeasurementDecodeError
from telemedroom.devices import gatt
from telemedroom.devices.codecs import Special

BERLIN = ZoneInfo("Europe/Berlin")
SPECIALS = tuple(s.value for s in Special)
# Naive wall-clock times for canonical bytes built field by field, independently of the encoder.
naive_times = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


def at(*fields: int, tz: tzinfo = BERLIN, fold: int = 0) -> datetime:
    """An aware local time, in the room's zone unless told otherwise."""
    return datetime(*fields, tzinfo=tz, fold=fold)  # type: ignore[misc]


def date_time_bytes(naive: datetime | None) -> bytes:
    """GSS §3.70 Date Time: year u16, month, day, hours, minutes, seconds; all zero: not known."""
    if naive is None:
        return bytes(7)
    return struct.pack("<H5B", naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second)


def check_golden_packet(uuid: int, data: bytes, expected: Measurement, canonical: bool) -> None:
    """``data`` decodes to ``expected`` (same instant too); ``expected`` encodes back to ``data``.

    A non-canonical packet (an optional field the encoder would leave out, another special
    value, ...) must encode to other bytes that decode to the same reading.
    """
    got = gatt.decode(uuid, data, tz=BERLIN)
    assert got == expected
    assert instant(got.measured_at) == instant(expected.measured_at)
    assert gatt.characteristic_of(expected) == uuid
    encoded = gatt.encode(expected, tz=BERLIN)
    if canonical:
        assert encoded == data
    else:
        assert encoded != data
        assert gatt.decode(uuid, encoded, tz=BERLIN) == expected


def check_round_trip(m: Measurement, tz: tzinfo) -> None:
    """``m`` survives encode and decode in zone ``tz``: equal fields and the same instant."""
    got = gatt.decode(gatt.characteristic_of(m), gatt.encode(m, tz=tz), tz=tz)
    assert got == m
    assert instant(got.measured_at) == instant(m.measured_at)


def instant(value: datetime | None) -> float | None:
    """The instant of an aware time: same-zone ``==`` compares wall time and ignores ``fold``."""
    return None if value is None else value.timestamp()


def assert_refused(
    uuid: int, data: bytes, offset: int, decode: Callable[[bytes], object] | None = None
) -> MeasurementDecodeError:
    """``data`` is refused with a decode error naming the characteristic, the bytes and ``offset``."""
    with pytest.raises(MeasurementDecodeError) as caught:
        (decode or (lambda d: gatt.decode(uuid, d, tz=BERLIN)))(data)
    error = caught.value
    assert (error.uuid, error.data_hex, error.offset) == (f"{uuid:04x}", data.hex(), offset)
    return error


def _ieee_numbers(mantissa: int, exponents: tuple[int, int]) -> st.SearchStrategy[float]:
    return st.builds(
        lambda m, e: float(m * 10**e) if e >= 0 else m / 10**-e,
        st.integers(-mantissa, mantissa),
        st.integers(*exponents),
    )


@functools.cache
def sfloats(shift: int = 0) -> st.SearchStrategy[float]:
    """Every number an SFLOAT carries in the caller's unit: mantissa ±2045, exponent -8..7 + shift.

    IEEE 11073-20601 §F.8.
    """
    return _ieee_numbers(2045, (-8 + shift, 7 + shift))


@functools.cache
def floats_11073() -> st.SearchStrategy[float]:
    """Every number a FLOAT carries: mantissa ±8388605, exponent -128..127 (IEEE 11073-20601 §F.8)."""
    return _ieee_numbers(8_388_605, (-128, 127))


@functools.cache
@st.composite
def wall_times(draw: st.DrawFn, tz: tzinfo) -> datetime:
    """A whole-second local time in ``tz`` that exists and, if repeated, is its first occurrence.

    The wire's Date Time carries no offset, so a repeated hour always decodes as its first
    occurrence: ``fold=0``. (``st.datetimes`` may draw ``fold=1``, which naive ``==`` ignores.)
    """
    naive = draw(st.datetimes(min_value=datetime(1583, 1, 1), max_value=datetime(9999, 12, 30)))
    local = naive.replace(microsecond=0, fold=0, tzinfo=tz)
    assume(local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None))
    return local
