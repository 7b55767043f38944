"""The residents' records: sealed at rest, bound to their row, opened only with their key."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from telemedroom.booking import ResidentDetails, ResidentRecords
from telemedroom.errors import BookingError, BookingRefused

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DETAILS = ResidentDetails(name="Erika Mustermann", birth_date=date(1950, 4, 1), email="erika@example.org")


async def test_details_are_sealed_and_open_only_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "residents.sqlite"
    async with ResidentRecords(path, key=bytes(32)) as records:
        token = await records.add(
            "a1", "p1", DETAILS, consent_version="3", now=NOW, slot_end=NOW + timedelta(days=1)
        )
        assert await records.by_link(token, now=NOW) == "a1"
        assert await records.birth_matches("a1", date(1950, 4, 1))
        assert not await records.birth_matches("a1", date(1950, 4, 2))
    wal = tmp_path / "residents.sqlite-wal"
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"Erika" not in raw
    assert b"erika@example.org" not in raw
    assert token.encode() not in raw  # only the token's hash is stored
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    async with ResidentRecords(path, key=bytes([1]) * 32) as wrong:
        with pytest.raises(BookingError, match="does not open with this key"):
            await wrong.get("a1")


async def test_a_row_s_details_cannot_be_moved_to_another_row(tmp_path: Path) -> None:
    path = tmp_path / "residents.sqlite"
    async with ResidentRecords(path, key=bytes(32)) as records:
        await records.add("a1", "p1", DETAILS, consent_version="3", now=NOW, slot_end=NOW)
        other = ResidentDetails(name="Max", birth_date=date(1960, 1, 1), phone="+49 30 123456")
        await records.add("a2", "p2", other, consent_version="3", now=NOW, slot_end=NOW)
    with sqlite3.connect(path) as db:  # swap the sealed details of the two rows
        rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT appointment_id, nonce, sealed FROM residents")}
        db.execute("UPDATE residents SET nonce = ?, sealed = ? WHERE appointment_id = 'a2'", rows["a1"])
    async with ResidentRecords(path, key=bytes(32)) as records:
        assert (await records.get("a1")).details == DETAILS
        with pytest.raises(BookingError):
            await records.get("a2")


async def test_links_expire_and_unknown_links_are_refused(tmp_path: Path) -> None:
    async with ResidentRecords(":memory:", key=bytes(32)) as records:
        token = await records.add(
            "a1", "p1", DETAILS, consent_version="3", now=NOW, slot_end=NOW + timedelta(hours=1)
        )
        with pytest.raises(BookingRefused, match="link_invalid"):
            await records.by_link(token, now=NOW + timedelta(hours=1))
        for bad in ("", "x" * 500, "not-a-token"):
            with pytest.raises(BookingRefused, match="link_invalid"):
                await records.by_link(bad, now=NOW)
