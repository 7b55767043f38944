"""The residents' records: who booked which appointment, sealed at rest, deleted after retention.

The schedule store knows appointments by a pseudonymous patient id only; the person
behind it lives here. Each row keeps:

- the resident's details as AES-GCM ciphertext (the appointment id is the associated
  data, so a row's details cannot be moved to another row);
- the consent: the privacy notice's version and when it was given;
- keyed hashes (HMAC-SHA-256) for what must be found without decrypting: the date of
  birth (the fallback "booking code + date of birth") and the contact (per-contact
  rate limits);
- the manage links' tokens, as SHA-256 hashes only, each expiring after the appointment.

:meth:`ResidentRecords.purge` deletes the details of appointments that ended more than
the retention period ago, keeping an anonymous row (no details, no hashes) so the
count of bookings stays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telemedroom.errors import BookingError, BookingRefused

__all__ = ["ResidentDetails", "ResidentRecord", "ResidentRecords"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS residents (
    appointment_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    nonce BLOB,
    sealed BLOB,
    birth_hash TEXT,
    contact_hash TEXT,
    consent_version TEXT NOT NULL,
    consent_at REAL NOT NULL,
    slot_end REAL NOT NULL,
    created REAL NOT NULL,
    purged_at REAL
);
CREATE INDEX IF NOT EXISTS residents_contact ON residents (contact_hash, created);
CREATE INDEX IF NOT EXISTS residents_end ON residents (slot_end);
CREATE TABLE IF NOT EXISTS links (
    token_hash TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS links_appointment ON links (appointment_id);
-- who did what to which appointment, and when (no personal data: ids and actions only)
CREATE TABLE IF NOT EXISTS access (
    at REAL NOT NULL,
    action TEXT NOT NULL,
    appointment_id TEXT
);
"""


@dataclass(frozen=True, slots=True)
class ResidentDetails:
    """What a resident typed in (only the fields the clinic asks for are set).

    Examples:
        >>> from datetime import date
        >>> ResidentDetails(name="Erika Mustermann", birth_date=date(1950, 4, 1), email="e@example.org").phone
    """

    name: str
    birth_date: date
    phone: str | None = None
    email: str | None = None
    insurance_number: str | None = None
    language: str = "de"

    def to_json(self) -> bytes:
        """The details as JSON bytes (what is sealed)."""
        return json.dumps(
            {
                "name": self.name,
                "birth_date": self.birth_date.isoformat(),
                "phone": self.phone,
                "email": self.email,
                "insurance_number": self.insurance_number,
                "language": self.language,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ResidentDetails:
        """The inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(raw)
        return cls(**{**data, "birth_date": date.fromisoformat(data["birth_date"])})


@dataclass(frozen=True, slots=True)
class ResidentRecord:
    """One row: an appointment's resident (``details`` is ``None`` once purged)."""

    appointment_id: str
    patient_id: str
    details: ResidentDetails | None
    consent_version: str
    consent_at: datetime
    slot_end: datetime


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def token_hash(token: str) -> str:
    """SHA-256 of a manage-link token (the only form it is stored in).

    Examples:
        >>> len(token_hash("abc"))
        64
    """
    return hashlib.sha256(token.encode()).hexdigest()


class ResidentRecords:
    """The residents' records in SQLite (``data_dir/residents.sqlite``), sealed with ``key``.

    Args:
        path: The SQLite file (``":memory:"`` for tests).
        key: 32 bytes; the same key opens the records again.

    Examples:
        >>> import asyncio, os
        >>> from datetime import UTC, date, datetime
        >>> async def main():
        ...     async with ResidentRecords(":memory:", key=os.urandom(32)) as records:
        ...         details = ResidentDetails(name="Erika", birth_date=date(1950, 4, 1),
        ...                                   email="e@example.org")
        ...         end = datetime(2026, 3, 2, 9, tzinfo=UTC)
        ...         _ = await records.add("a1", "p1", details, consent_version="1",
        ...                           now=datetime(2026, 3, 1, tzinfo=UTC), slot_end=end)
        ...         return (await records.get("a1")).details.name
        >>> asyncio.run(main())
        'Erika'
    """

    def __init__(self, path: str | os.PathLike[str], *, key: bytes) -> None:
        if len(key) != 32:
            raise BookingError(f"the records key must be 32 bytes, not {len(key)}")
        self.path = str(path)
        self._aead = AESGCM(key)
        self._mac_key = hmac.new(key, b"telemedroom booking lookup v1", hashlib.sha256).digest()
        self._db: aiosqlite.Connection | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open the file (mode 0600 when new) and create the tables."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if not Path(self.path).exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        # deleted personal data is overwritten, not left in free pages
        await self._db.execute("PRAGMA secure_delete=ON")
        await self._db.executescript(_SCHEMA)
        await self._db.commit()

    async def aclose(self) -> None:
        """Close the file."""
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise BookingError("the residents' records are not open; use `async with ResidentRecords(...)`")
        return self._db

    def lookup_hash(self, kind: str, value: str) -> str:
        """A keyed hash of a normalised value (date of birth, contact), for lookups.

        Examples:
            >>> import os
            >>> records = ResidentRecords(":memory:", key=bytes(32))
            >>> same = records.lookup_hash("contact", "e@example.org")
            >>> records.lookup_hash("contact", " E@Example.org ") == same
            True
        """
        normal = "".join(value.split()).lower()
        return hmac.new(self._mac_key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()

    async def add(
        self,
        appointment_id: str,
        patient_id: str,
        details: ResidentDetails,
        *,
        consent_version: str,
        now: datetime,
        slot_end: datetime,
    ) -> str:
        """Record who booked ``appointment_id`` (sealed), with the consent given ``now``.

        In the same transaction: a manage link valid until ``slot_end`` (its token is
        returned, only its hash kept) and the ``booked`` access entry.
        """
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, details.to_json(), appointment_id.encode())
        contact = details.email or details.phone or ""
        await self.db.execute(
            "INSERT INTO residents (appointment_id, patient_id, nonce, sealed, birth_hash, contact_hash,"
            " consent_version, consent_at, slot_end, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                appointment_id,
                patient_id,
                nonce,
                sealed,
                self.lookup_hash("birth", details.birth_date.isoformat()),
                self.lookup_hash("contact", contact),
                consent_version,
                _ts(now),
                _ts(slot_end),
                _ts(now),
            ),
        )
        token = secrets.token_urlsafe(32)
        await self.db.execute(
            "INSERT INTO links (token_hash, appointment_id, expires) VALUES (?, ?, ?)",
            (token_hash(token), appointment_id, _ts(slot_end)),
        )
        await self.db.execute(
            "INSERT INTO access (at, action, appointment_id) VALUES (?, ?, ?)",
            (_ts(now), "booked", appointment_id),
        )
        await self.db.commit()
        return token

    async def move(self, old_id: str, new_id: str, slot_end: datetime) -> None:
        """Carry a resident's record and links over to the rescheduled appointment."""
        record = await self.get(old_id)
        if record.details is None:
            raise BookingRefused("not_found")
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, record.details.to_json(), new_id.encode())
        await self.db.execute(
            "UPDATE residents SET appointment_id = ?, nonce = ?, sealed = ?, slot_end = ?"
            " WHERE appointment_id = ?",
            (new_id, nonce, sealed, _ts(slot_end), old_id),
        )
        await self.db.execute(
            "UPDATE links SET appointment_id = ?, expires = ? WHERE appointment_id = ?",
            (new_id, _ts(slot_end), old_id),
        )
        await self.db.commit()

    async def get(self, appointment_id: str) -> ResidentRecord:
        """The record of an appointment.

        Raises:
            BookingRefused: ``not_found``.
        """
        async with self.db.execute(
            "SELECT appointment_id, patient_id, nonce, sealed, consent_version, consent_at, slot_end"
            " FROM residents WHERE appointment_id = ?",
            (appointment_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise BookingRefused("not_found")
        details = None
        if row[3] is not None:
            try:
                details = ResidentDetails.from_json(self._aead.decrypt(row[2], row[3], row[0].encode()))
            except InvalidTag as exc:
                raise BookingError(
                    "a resident's record does not open with this key (wrong key, or altered)"
                ) from exc
        return ResidentRecord(row[0], row[1], details, row[4], _dt(row[5]), _dt(row[6]))

    async def birth_matches(self, appointment_id: str, birth_date: date) -> bool:
        """Whether ``birth_date`` is the one given for ``appointment_id`` (constant time)."""
        async with self.db.execute(
            "SELECT birth_hash FROM residents WHERE appointment_id = ? AND purged_at IS NULL",
            (appointment_id,),
        ) as cursor:
            row = await cursor.fetchone()
        given = self.lookup_hash("birth", birth_date.isoformat())
        return row is not None and row[0] is not None and hmac.compare_digest(row[0], given)

    async def bookings_since(self, contact: str, since: datetime) -> int:
        """How many bookings this contact (e-mail or phone) made since ``since``."""
        async with self.db.execute(
            "SELECT COUNT(*) FROM residents WHERE contact_hash = ? AND created >= ?",
            (self.lookup_hash("contact", contact), _ts(since)),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def new_link(self, appointment_id: str, expires: datetime) -> str:
        """A fresh unguessable manage-link token (256 bits); only its hash is kept."""
        token = secrets.token_urlsafe(32)
        await self.db.execute(
            "INSERT INTO links (token_hash, appointment_id, expires) VALUES (?, ?, ?)",
            (token_hash(token), appointment_id, _ts(expires)),
        )
        await self.db.commit()
        return token

    async def by_link(self, token: str, *, now: datetime) -> str:
        """The appointment id of a live manage link.

        Raises:
            BookingRefused: ``link_invalid`` (unknown, expired, or malformed).
        """
        if not token or len(token) > 100:
            raise BookingRefused("link_invalid")
        async with self.db.execute(
            "SELECT appointment_id, expires FROM links WHERE token_hash = ?", (token_hash(token),)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[1] <= _ts(now):
            raise BookingRefused("link_invalid")
        return str(row[0])

    async def audit(self, action: str, appointment_id: str | None, *, now: datetime) -> None:
        """Record an access (``booked``, ``viewed``, ``cancelled``, ``found``, ``purged`` ...)."""
        await self.db.execute(
            "INSERT INTO access (at, action, appointment_id) VALUES (?, ?, ?)",
            (_ts(now), action, appointment_id),
        )
        await self.db.commit()

    async def accesses(self, appointment_id: str | None = None) -> list[tuple[datetime, str, str | None]]:
        """The access log, oldest first (of one appointment, if given)."""
        query, args = "SELECT at, action, appointment_id FROM access", tuple[str, ...]()
        if appointment_id is not None:
            query, args = query + " WHERE appointment_id = ?", (appointment_id,)
        async with self.db.execute(query + " ORDER BY rowid", args) as cursor:
            return [(_dt(r[0]), str(r[1]), r[2]) for r in await cursor.fetchall()]

    async def purge(self, *, before: datetime) -> int:
        """Delete the details of appointments that ended before ``before``; returns how many.

        The row stays without details, hashes or links (anonymous: only when, not who).
        """
        cursor = await self.db.execute(
            "UPDATE residents SET nonce = NULL, sealed = NULL, birth_hash = NULL, contact_hash = NULL,"
            " purged_at = ? WHERE slot_end < ? AND purged_at IS NULL",
            (_ts(datetime.now(UTC)), _ts(before)),
        )
        purged = cursor.rowcount
        await self.db.execute("DELETE FROM links WHERE expires < ?", (_ts(before),))
        await self.db.commit()
        # overwritten pages must not keep the old bytes: VACUUM rewrites the file
        await self.db.execute("VACUUM")
        return purged
