"""The room's and the apartment's journals keep their on-disk format on the shared ``SealedJournal``.

Each test writes or reads the SQLite file by hand, with ``sqlite3`` and AES-GCM as the
format was before the two journals shared one class (a zlib-compressed value, a
12-byte nonce, the row's id as the associated data), so journals left by an older
release still open, and files written now still open with an older release.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telemedroom import HeartRate
from telemedroom._room._events import RoomState
from telemedroom._room._journal import Journal as RoomJournal
from telemedroom.apartment import Journal
from telemedroom.errors import ApartmentError, RoomError
from telemedroom.fhir import transaction_json

KEY = bytes(range(32))
BUNDLE = b'{"resourceType":"Bundle","type":"transaction"}'


def seal(aad: str, data: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(12)
    return nonce, AESGCM(KEY).encrypt(nonce, zlib.compress(data), aad.encode())


def unseal(aad: str, nonce: bytes, sealed: bytes) -> bytes:
    return zlib.decompress(AESGCM(KEY).decrypt(nonce, sealed, aad.encode()))


async def test_a_room_journal_written_by_hand_opens_and_a_written_one_opens_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "room-journal.sqlite"
    async with RoomJournal(path, key=KEY):
        pass  # creates the schema
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO visit (slot, visit_id, appointment_id, state, updated, nonce, sealed)"
            " VALUES (1, 'v1', 'a1', 'wrap_up', 0, ?, ?)",
            seal("v1", BUNDLE),
        )
    db.close()
    async with RoomJournal(path, key=KEY) as journal:
        entry = await journal.read()
        assert entry is not None
        assert (entry.visit_id, entry.appointment_id, entry.state, entry.bundle) == (
            "v1",
            "a1",
            RoomState.WRAP_UP,
            BUNDLE,
        )
        await journal.write("v2", "a2", RoomState.WRAP_UP, BUNDLE[::-1])
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT visit_id, state, nonce, sealed FROM visit WHERE slot = 1").fetchone()
    db.close()
    assert row[:2] == ("v2", "wrap_up")
    assert unseal("v2", row[2], row[3]) == BUNDLE[::-1]


async def test_a_room_journal_names_the_visit_whose_wrap_up_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "room-journal.sqlite"
    async with RoomJournal(path, key=KEY) as journal:
        await journal.write("v1", "a1", RoomState.WRAP_UP, BUNDLE)
    with pytest.raises(RoomError, match="the wrap-up of visit v1 does not open with this key"):
        async with RoomJournal(path, key=bytes(32)) as journal:
            await journal.read()
    with pytest.raises(RoomError, match="is not open"):
        await RoomJournal(path, key=KEY).read()


async def test_an_apartment_journal_written_by_hand_opens_and_a_written_one_opens_by_hand(
    tmp_path: Path,
) -> None:
    path = tmp_path / "apartment.sqlite"
    reading = HeartRate(bpm=61, measured_at=datetime(2026, 11, 24, 7, tzinfo=UTC))
    bundle = transaction_json([reading], patient="Patient/p1")
    async with Journal(path, key=KEY):
        pass
    stored = {"measurement": {"type": "HeartRate", "data": reading.model_dump(mode="json")}, "bundle": bundle}
    note = seal("meta:note", json.dumps({"text": "Guten Morgen"}).encode())
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO reading (key, accepted, nonce, sealed) VALUES ('k1', 1764000000, ?, ?)",
            seal("k1", json.dumps(stored).encode()),
        )
        db.execute(
            "INSERT INTO meta (name, value) VALUES ('note', ?)", (base64.b64encode(b"".join(note)).decode(),)
        )
    db.close()
    async with Journal(path, key=KEY) as journal:
        (got,) = await journal.readings()
        assert (got.key, got.measurement, got.bundle) == ("k1", reading, bundle)
        assert await journal.get_sealed("note") == {"text": "Guten Morgen"}
        await journal.set_sealed("other", [1, 2])
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE name = 'other'").fetchone()
    db.close()
    raw = base64.b64decode(value)
    assert json.loads(unseal("meta:other", raw[:12], raw[12:])) == [1, 2]


async def test_an_apartment_journal_names_the_row_that_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "apartment.sqlite"
    async with Journal(path, key=KEY) as journal:
        await journal.set_sealed("note", "hallo")
    with pytest.raises(ApartmentError, match="row meta:note does not open with this key"):
        async with Journal(path, key=bytes(32)) as journal:
            await journal.get_sealed("note")
