"""Current Time Service: Current Time (0x2A2B).

GATT Specification Supplement §3.62 Current Time: Exact Time 256 (Date Time, Day of
Week, Fractions256) and Adjust Reason. Ten bytes::

    Date Time (7) | day of week u8 (1 = Monday .. 7 = Sunday, 0 = unknown)
    fractions256 u8 | adjust reason u8

Writing it sets the clock of cuffs and scales that stamp readings with their own time.

Examples:
    >>> from datetime import datetime, UTC
    >>> ct = CurrentTime(time=datetime(2026, 11, 24, 14, 30, tzinfo=UTC),
    ...                  adjust_reason=frozenset({"manual_time_update"}))
    >>> encode_current_time(ct, UTC).hex()
    'ea070b180e1e00020001'
    >>> decode_current_time(bytes.fromhex("ea070b180e1e00020001"), UTC) == ct
    True
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from pydantic import BaseModel, ConfigDict

from telemedroom.devices.codecs import decode_date_time, encode_date_time
from telemedroom.devices.gatt._wire import StatusTable, bits_of, fail, names
from telemedroom.errors import CodecError, MeasurementEncodeError

__all__ = ["ADJUST_REASONS", "CURRENT_TIME", "CurrentTime", "decode_current_time", "encode_current_time"]

CURRENT_TIME = 0x2A2B

# GSS §3.62.1 Adjust Reason; bits 4-7 reserved.
ADJUST_REASONS: StatusTable = (
    (0x01, "manual_time_update"),
    (0x02, "external_reference_time_update"),
    (0x04, "change_of_time_zone"),
    (0x08, "change_of_dst"),
)


class CurrentTime(BaseModel):
    """The time on a device's clock, and why it was last changed.

    Attributes:
        time: The device's time (aware, in the zone the caller gave), ``None`` if unknown.
            Its microseconds carry the 1/256 s fractions.
        adjust_reason: Names from :data:`ADJUST_REASONS`.

    Examples:
        >>> CurrentTime(time=None).adjust_reason
        frozenset()
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time: datetime | None
    adjust_reason: frozenset[str] = frozenset()


def decode_current_time(data: bytes, tz: tzinfo) -> CurrentTime:
    """Decode a Current Time value.

    Raises:
        MeasurementDecodeError: The value is not ten bytes, the date is impossible, or the
            day of week contradicts the date.

    Examples:
        >>> from datetime import UTC
        >>> decode_current_time(bytes.fromhex("ea070b180e1e00028000"), UTC).time.isoformat()
        '2026-11-24T14:30:00.500000+00:00'
    """
    if len(data) != 10:
        fail(CURRENT_TIME, data, min(len(data), 10), "Current Time is ten bytes")
    try:
        time = decode_date_time(data, 0, tz)
    except CodecError as exc:
        fail(CURRENT_TIME, data, 0, str(exc))
    day_of_week, fractions, reason = data[7], data[8], data[9]
    if day_of_week > 7:
        fail(CURRENT_TIME, data, 7, f"day of week {day_of_week} is not 0-7")
    if time is not None:
        if day_of_week and day_of_week != time.isoweekday():
            fail(CURRENT_TIME, data, 7, f"day of week {day_of_week} contradicts {time.date()}")
        # Round up so that encoding gives the same fractions back.
        time = time.replace(microsecond=-(-fractions * 1_000_000 // 256))
    return CurrentTime(time=time, adjust_reason=frozenset(names(reason, ADJUST_REASONS)))


def encode_current_time(value: CurrentTime, tz: tzinfo) -> bytes:
    """Encode a Current Time value in the device's zone (fractions rounded down to 1/256 s).

    Raises:
        MeasurementEncodeError: The time is naive or outside the Date Time range.

    Examples:
        >>> from datetime import UTC
        >>> encode_current_time(CurrentTime(time=None), UTC).hex()
        '00000000000000000000'
    """
    try:
        date_time = encode_date_time(value.time, tz)
    except CodecError as exc:
        raise MeasurementEncodeError(f"current time cannot be encoded: {exc}") from exc
    if value.time is None:
        day_of_week = fractions = 0
    else:
        local = value.time.astimezone(tz)
        day_of_week = local.isoweekday()
        fractions = local.microsecond * 256 // 1_000_000
    return date_time + bytes([day_of_week, fractions, bits_of(value.adjust_reason, ADJUST_REASONS)])
