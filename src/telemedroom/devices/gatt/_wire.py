"""Shared plumbing of the profile decoders: UUIDs, length checks, specials, flags."""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import NoReturn

from telemedroom.devices.codecs import Special, decode_date_time
from telemedroom.errors import CodecError, MeasurementDecodeError, UnsupportedCharacteristic

# Bluetooth Core Specification Vol 3 Part B §2.5.1: 16-bit UUIDs live in the base UUID.
_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

# A status table maps a bit of a status field to its stable snake_case name.
StatusTable = tuple[tuple[int, str], ...]

# The optional fields of a characteristic: (flag bit announcing it, its size in bytes).
FieldSizes = tuple[tuple[int, int], ...]


def short_uuid(uuid: str | int) -> int:
    """Return the 16-bit SIG UUID of ``uuid``, or raise ``UnsupportedCharacteristic``.

    Accepts ``0x2A35``, ``"2a35"``, ``"0x2A35"`` and ``"00002a35-0000-1000-8000-00805f9b34fb"``.
    """
    if isinstance(uuid, int) and not isinstance(uuid, bool):
        if 0 <= uuid <= 0xFFFF:
            return uuid
        raise UnsupportedCharacteristic(hex(uuid))
    if not isinstance(uuid, str):
        raise UnsupportedCharacteristic(repr(uuid))
    text = uuid.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) == 36 and text.startswith("0000") and text.endswith(_BASE_SUFFIX):
        text = text[4:8]
    if len(text) == 8 and text.startswith("0000"):  # 32-bit form of a 16-bit UUID
        text = text[4:]
    if len(text) == 4:
        try:
            return int(text, 16)
        except ValueError:
            pass
    raise UnsupportedCharacteristic(text or repr(uuid))


def uuid_name(uuid: int) -> str:
    """The short lower-case hex spelling used in errors: ``0x2A35`` -> ``"2a35"``."""
    return f"{uuid:04x}"


def fail(uuid: int, data: bytes, offset: int, reason: str) -> NoReturn:
    """Raise the decode error for ``uuid`` with the offending bytes and offset."""
    raise MeasurementDecodeError(uuid_name(uuid), bytes(data), offset, reason)


def check_length(uuid: int, data: bytes, needed: int, flags: int, reserved_mask: int) -> None:
    """Check the value is as long as its flags announce.

    Trailing bytes are accepted only when a reserved (future) flag bit is set: the GATT
    Specification Supplement extends characteristics by announcing appended fields with
    new flags, and a receiver must ignore flags it does not know. Without such a flag,
    extra bytes mean a malformed value.
    """
    size = len(data)
    if size < needed:
        fail(uuid, data, size, f"truncated: flags 0x{flags:02x} announce {needed} bytes, got {size}")
    if size > needed and not flags & reserved_mask:
        fail(uuid, data, needed, f"{size - needed} unexpected trailing bytes after {needed}")


def announced(uuid: int, data: bytes, fixed: int, fields: FieldSizes) -> tuple[int, int]:
    """Return the flags byte and the size it announces: ``fixed`` plus each flagged field.

    An empty value fails here, naming the missing flags byte.
    """
    if not data:
        check_length(uuid, data, 1, 0, 0)
    flags = data[0]
    needed = fixed
    for flag, size in fields:
        if flags & flag:
            needed += size
    return flags, needed


def special(value: float | Special, status: set[str]) -> float | None:
    """Return a number as is; turn a :class:`Special` into ``None`` plus its status flag."""
    if type(value) is float:
        return value
    assert isinstance(value, Special)
    status.add(value.value)
    return None


def date_time(uuid: int, data: bytes, offset: int, tz: tzinfo, status: set[str]) -> datetime | None:
    """Decode a Date Time field; an unknown date flags ``device_clock_not_set``."""
    try:
        value = decode_date_time(data, offset, tz)
    except CodecError as exc:
        fail(uuid, data, offset, str(exc))
    if value is None:
        status.add("device_clock_not_set")
    return value


@functools.lru_cache(maxsize=1024)
def names(bits: int, table: StatusTable) -> tuple[str, ...]:
    """The names of the bits set in ``bits`` (cached: devices repeat the same few flags)."""
    return tuple(name for mask, name in table if bits & mask)


def bits_of(status: frozenset[str], table: StatusTable) -> int:
    """The inverse of :func:`names`: the bits of the names present in ``status``."""
    value = 0
    for mask, name in table:
        if name in status:
            value |= mask
    return value


def special_of(status: frozenset[str]) -> Special:
    """Which special value an absent number stands for, from a measurement's status.

    A measurement keeps one set of flags, so when it holds several absent numbers they
    are encoded with the same special value, chosen in the order NaN, NRes, +INF, -INF,
    reserved. An absent number with none of these flags is encoded as NaN.
    """
    for candidate in Special:
        if candidate.value in status:
            return candidate
    return Special.NAN


SPECIAL_FLAGS = frozenset(s.value for s in Special)
