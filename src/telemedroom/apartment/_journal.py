"""The apartment's journal: every reading accepted, once, in one fsync'ed SQLite file.

A reading is *accepted* when its row is committed here (WAL, ``synchronous=FULL``). The
row's key is a hash of the reading's FHIR Observation identifiers, which are
deterministic (device, patient, characteristic, code, device time or glucose sequence
number), so a device that sends a stored reading again, a glucometer asked again after a
restart, or a gateway replaying after a crash never makes a second row. The reading and
its transaction Bundle are sealed with AES-GCM (the key is the associated data); in the
clear are only the hash, when it was accepted and whether it reached the outbox and the
monitor. Alerts (as the ward saw them last) and device state (last seen, battery,
last glucose sequence number) live here too, so a restart continues where it stopped.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from telemedroom._sealed_journal import SealedJournal
from telemedroom.errors import ApartmentError
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)
from telemedroom.monitoring import Alert

__all__ = ["DeviceState", "Journal", "StoredReading", "reading_key"]

_TYPES: Final[dict[str, type[Measurement]]] = {
    cls.__name__: cls
    for cls in (BloodPressure, HeartRate, OxygenSaturation, BodyTemperature, BodyWeight, BloodGlucose)
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reading (
    key TEXT PRIMARY KEY,               -- sha-256 of the reading's FHIR identifiers
    accepted REAL NOT NULL,             -- when the gateway accepted it (unix time)
    forwarded INTEGER NOT NULL DEFAULT 0,  -- its Bundle is in the outbox
    evaluated INTEGER NOT NULL DEFAULT 0,  -- the care plan has seen it
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reading_accepted ON reading (accepted);
CREATE TABLE IF NOT EXISTS alert (
    id TEXT PRIMARY KEY, updated REAL NOT NULL, nonce BLOB NOT NULL, sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS device (
    address TEXT PRIMARY KEY,
    last_seen REAL,
    battery INTEGER,
    last_sequence INTEGER
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def reading_key(bundle: dict[str, Any]) -> str:
    """The journal key of a reading: sha-256 over its Observation identifiers.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom import HeartRate
        >>> from telemedroom.fhir import transaction_json
        >>> at = datetime(2026, 11, 24, 7, tzinfo=UTC)
        >>> one = transaction_json([HeartRate(bpm=61, measured_at=at)], patient="Patient/p1")
        >>> again = transaction_json([HeartRate(bpm=61, measured_at=at)], patient="Patient/p1")
        >>> reading_key(one) == reading_key(again), len(reading_key(one))
        (True, 64)
    """
    identifiers = sorted(
        f"{ident.get('system')}|{ident.get('value')}"
        for entry in bundle.get("entry", [])
        if entry.get("resource", {}).get("resourceType") == "Observation"
        for ident in entry["resource"].get("identifier", [])
    )
    return hashlib.sha256("\n".join(identifiers).encode()).hexdigest()


def _dump(measurement: Measurement) -> dict[str, Any]:
    return {"type": type(measurement).__name__, "data": measurement.model_dump(mode="json")}


def _load(data: dict[str, Any]) -> Measurement:
    return _TYPES[data["type"]].model_validate(data["data"])


@dataclass(frozen=True)
class StoredReading:
    """A reading in the journal, opened.

    Attributes:
        key: Its journal key (:func:`reading_key`).
        accepted: When the gateway accepted it.
        measurement: The reading.
        bundle: Its transaction Bundle (as JSON data), as it goes to the outbox.
        forwarded: Whether the Bundle is in the outbox.
        evaluated: Whether the care plan has seen it.
    """

    key: str
    accepted: datetime
    measurement: Measurement
    bundle: dict[str, Any]
    forwarded: bool
    evaluated: bool


@dataclass(frozen=True)
class DeviceState:
    """What the journal knows about a paired device.

    Attributes:
        address: Its Bluetooth address.
        last_seen: When it last advertised or connected.
        battery: Its last battery level (percent), if it has a Battery Service.
        last_sequence: The last glucose record sequence number taken from it.
    """

    address: str
    last_seen: datetime | None
    battery: int | None
    last_sequence: int | None


class Journal(SealedJournal):
    """The apartment's journal file (see the module docstring).

    Every failure (the file, a row that does not open with this key) is an
    :class:`~telemedroom.errors.ApartmentError`.

    Examples:
        >>> import asyncio, os, tempfile
        >>> from datetime import datetime, UTC
        >>> from telemedroom import HeartRate
        >>> from telemedroom.fhir import transaction_json
        >>> async def main(folder):
        ...     reading = HeartRate(bpm=61, measured_at=datetime(2026, 11, 24, 7, tzinfo=UTC))
        ...     bundle = transaction_json([reading], patient="Patient/p1")
        ...     async with Journal(os.path.join(folder, "journal.sqlite"), key=bytes(32)) as journal:
        ...         first = await journal.add(reading, bundle, datetime.now(UTC))
        ...         again = await journal.add(reading, bundle, datetime.now(UTC))
        ...         return first, again, len(await journal.readings())
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(folder))
        (True, False, 1)
    """

    SCHEMA = _SCHEMA
    NAME = "apartment journal"
    THREAD = "apartment"
    ERROR = ApartmentError

    def _seal_json(self, aad: str, data: Any) -> tuple[bytes, bytes]:
        return self._seal(aad, json.dumps(data).encode())

    def _open_json(self, aad: str, nonce: bytes, sealed: bytes) -> Any:
        return self._unseal(aad, nonce, sealed, what=f"row {aad}", decode=json.loads)

    # -- readings ----------------------------------------------------------------------

    async def add(self, measurement: Measurement, bundle: dict[str, Any], accepted: datetime) -> bool:
        """Accept a reading: ``True`` if it is new, ``False`` if the journal already holds it."""
        key = reading_key(bundle)
        nonce, sealed = self._seal_json(key, {"measurement": _dump(measurement), "bundle": bundle})
        rows = await self._execute(
            "INSERT INTO reading (key, accepted, nonce, sealed) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING RETURNING key",
            (key, accepted.timestamp(), nonce, sealed),
        )
        return bool(rows)

    async def has(self, bundle: dict[str, Any]) -> bool:
        """Whether the journal already holds this reading."""
        return bool(await self._execute("SELECT 1 FROM reading WHERE key = ?", (reading_key(bundle),)))

    async def mark(self, key: str, *, forwarded: bool = False, evaluated: bool = False) -> None:
        """Record that a reading reached the outbox and/or the care plan."""
        await self._execute(
            "UPDATE reading SET forwarded = MAX(forwarded, ?), evaluated = MAX(evaluated, ?) WHERE key = ?",
            (int(forwarded), int(evaluated), key),
        )

    async def readings(self, *, since: datetime | None = None, pending: bool = False) -> list[StoredReading]:
        """Readings accepted since ``since``, oldest first.

        With ``pending``, only those not yet forwarded or evaluated (what a crash interrupted).
        """
        where = "accepted >= ?" + (" AND (forwarded = 0 OR evaluated = 0)" if pending else "")
        rows = await self._execute(
            f"SELECT key, accepted, forwarded, evaluated, nonce, sealed FROM reading WHERE {where}"
            " ORDER BY accepted, rowid",
            ((since or datetime.fromtimestamp(0, UTC)).timestamp(),),
        )
        out = []
        for key, accepted, forwarded, evaluated, nonce, sealed in rows:
            data = self._open_json(key, nonce, sealed)
            out.append(
                StoredReading(
                    key,
                    datetime.fromtimestamp(accepted, UTC),
                    _load(data["measurement"]),
                    data["bundle"],
                    bool(forwarded),
                    bool(evaluated),
                )
            )
        return out

    async def count(self) -> int:
        """How many readings the journal holds."""
        return int((await self._execute("SELECT count(*) FROM reading"))[0][0])

    async def newest(self) -> datetime | None:
        """When the newest reading was accepted, ``None`` for an empty journal."""
        rows = await self._execute("SELECT max(accepted) FROM reading")
        return None if rows[0][0] is None else datetime.fromtimestamp(rows[0][0], UTC)

    async def forget_before(self, before: datetime) -> int:
        """Delete readings accepted before ``before`` that were forwarded (retention); returns how many."""
        rows = await self._execute(
            "DELETE FROM reading WHERE accepted < ? AND forwarded = 1 AND evaluated = 1 RETURNING key",
            (before.timestamp(),),
        )
        return len(rows)

    # -- alerts ------------------------------------------------------------------------

    async def save_alert(self, alert: Alert, at: datetime) -> None:
        """Keep the alert as it is now (one row per alert id)."""
        nonce, sealed = self._seal_json(alert.id, alert.model_dump(mode="json"))
        await self._execute(
            "INSERT INTO alert (id, updated, nonce, sealed) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET updated = excluded.updated, nonce = excluded.nonce, sealed = excluded.sealed",
            (alert.id, at.timestamp(), nonce, sealed),
        )

    async def alerts(self) -> list[Alert]:
        """Every alert kept, oldest first."""
        rows = await self._execute("SELECT id, nonce, sealed FROM alert ORDER BY rowid")
        return [Alert.model_validate(self._open_json(i, n, s)) for i, n, s in rows]

    # -- devices and the rest ------------------------------------------------------------

    async def device(self, address: str) -> DeviceState:
        """What is known about a device (nothing yet: all ``None``)."""
        rows = await self._execute(
            "SELECT last_seen, battery, last_sequence FROM device WHERE address = ?", (address,)
        )
        if not rows:
            return DeviceState(address, None, None, None)
        seen, battery, sequence = rows[0]
        return DeviceState(
            address, None if seen is None else datetime.fromtimestamp(seen, UTC), battery, sequence
        )

    async def update_device(
        self,
        address: str,
        *,
        seen: datetime | None = None,
        battery: int | None = None,
        last_sequence: int | None = None,
    ) -> None:
        """Record what was just learnt about a device (``None`` keeps what is known)."""
        await self._execute(
            "INSERT INTO device (address, last_seen, battery, last_sequence) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (address) DO UPDATE SET"
            " last_seen = COALESCE(excluded.last_seen, device.last_seen),"
            " battery = COALESCE(excluded.battery, device.battery),"
            " last_sequence = CASE WHEN excluded.last_sequence IS NULL THEN device.last_sequence"
            " ELSE MAX(excluded.last_sequence, COALESCE(device.last_sequence, excluded.last_sequence)) END",
            (address, None if seen is None else seen.timestamp(), battery, last_sequence),
        )

    async def get(self, name: str) -> str | None:
        """A small named value (e.g. until when the care plan's deadlines were checked)."""
        rows = await self._execute("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    async def set(self, name: str, value: str) -> None:
        """Keep a small named value."""
        await self._execute(
            "INSERT INTO meta (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def set_sealed(self, name: str, value: Any) -> None:
        """Keep a small named value encrypted (the ward's notes to the patient are health data)."""
        nonce, sealed = self._seal_json(f"meta:{name}", value)
        await self.set(name, base64.b64encode(nonce + sealed).decode())

    async def get_sealed(self, name: str) -> Any:
        """A value kept with :meth:`set_sealed`, or ``None``.

        Raises:
            ApartmentError: It does not open with this key.
        """
        stored = await self.get(name)
        if stored is None:
            return None
        raw = base64.b64decode(stored)
        return self._open_json(f"meta:{name}", raw[:12], raw[12:])
