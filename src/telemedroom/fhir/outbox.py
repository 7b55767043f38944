"""Store-and-forward: readings are on disk, encrypted, before anything is sent.

:class:`Outbox` keeps transaction Bundles in SQLite (WAL mode, ``synchronous=FULL``),
each row sealed with AES-GCM (the row id is the associated data, so rows cannot be
swapped). :meth:`Outbox.drain` sends them in batches and deletes a row only after the
server confirmed its batch; while the server is unreachable it backs off and tries
again. Every create in the bundles is conditional on the reading's identifier, so a
batch sent twice (a crash between "server confirmed" and "row deleted") still leaves
each reading exactly once on the server.

A server with limits (a :class:`~telemedroom.fhir.FhirClient` whose ``profile`` is, say,
Medplum's: at most 8 entries in a transaction with conditional entries, no
update-as-create) gets each batch as an ordered plan of smaller transactions
(``telemedroom.fhir._plan``). The outbox saves which step it reached, encrypted, after
each step, so a crash between steps resumes at the next one; every step is idempotent,
so the step in flight at the crash may be sent again without creating anything twice.

When no FHIR server is configured, :class:`FileSink` is the embedded default: it writes
the resources as FHIR Bulk Data NDJSON, one file per resource type.

Examples:
    >>> import asyncio, os, tempfile
    >>> from telemedroom import HeartRate
    >>> from telemedroom.fhir import transaction_json
    >>> async def main(folder):
    ...     key = os.urandom(32)
    ...     async with Outbox(os.path.join(folder, "outbox.sqlite"), key=key) as outbox:
    ...         await outbox.put(transaction_json([HeartRate(bpm=61)], patient="Patient/p1"))
    ...         result = await outbox.drain(FileSink(os.path.join(folder, "fhir")))
    ...     return result.sent, sorted(os.listdir(os.path.join(folder, "fhir")))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     asyncio.run(main(folder))
    (1, ['Observation.ndjson', 'Provenance.ndjson'])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import sqlite3
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telemedroom.errors import (
    FhirConnectionError,
    FhirError,
    FhirMappingError,
    FhirServerError,
    OperationOutcomeIssue,
    OutboxCorrupted,
    OutboxError,
    OutboxKeyError,
)
from telemedroom.fhir._json import dumps
from telemedroom.fhir._plan import ServerProfile, plan_transaction, resolve_step, step_identities
from telemedroom.fhir.client import FhirClient, Retry, transaction_is_idempotent

__all__ = ["DrainResult", "FhirSink", "FileSink", "Outbox"]

_T = TypeVar("_T")
_KEY_CHECK = b"telemedroom outbox key check v1"
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | rejected | corrupt
    error TEXT,
    nonce BLOB NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
-- How far the ordered plan of a batch got (telemedroom.fhir._plan): the rows' ids, the
-- next step, and the ids the server gave the earlier steps' entries (sealed).
CREATE TABLE IF NOT EXISTS progress (
    rows TEXT PRIMARY KEY,
    step INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    resolved BLOB NOT NULL
);
"""


class FhirSink(Protocol):
    """Where the outbox drains to: anything that takes a transaction Bundle as JSON bytes.

    :class:`~telemedroom.fhir.FhirClient` and :class:`FileSink` are sinks.
    """

    async def transaction(self, bundle: bytes) -> object:
        """Store the bundle's resources; raise a :class:`~telemedroom.errors.FhirError` if not."""
        ...


@dataclass(frozen=True)
class DrainResult:
    """What one :meth:`Outbox.drain` did.

    Attributes:
        sent: Rows the sink confirmed (and that were deleted).
        batches: Transactions sent successfully.
        rejected: Ids of rows the server refused for good (kept, state ``rejected``).
        reasons: Why, per rejected row: the server's answer in one line.
        issues: The server's ``OperationOutcome`` issues, per rejected row.
        status: The HTTP status of the refusal, per rejected row (0: not an HTTP answer).

    Examples:
        >>> DrainResult(sent=3, batches=1).rejected
        ()
    """

    sent: int
    batches: int
    rejected: tuple[int, ...] = ()
    reasons: Mapping[int, str] = field(default_factory=dict)
    issues: Mapping[int, tuple[OperationOutcomeIssue, ...]] = field(default_factory=dict)
    status: Mapping[int, int] = field(default_factory=dict)


def _aad(row_id: int) -> bytes:
    return f"telemedroom-outbox-row:{row_id}".encode()


def _progress_aad(rows: str) -> bytes:
    return f"telemedroom-outbox-progress:{rows}".encode()


# A row holds a bundle's entries, one per line: "<fullUrl>\t<entry JSON>\n". Compact
# JSON never holds a raw tab or newline, so a batch is merged without parsing any JSON.
Entries = list[tuple[bytes, bytes]]


def _pack(bundle: Mapping[str, Any] | bytes) -> bytes:
    try:
        data = json.loads(bundle) if isinstance(bundle, bytes) else bundle
    except ValueError as exc:
        raise FhirMappingError("Bundle", f"not JSON: {exc}") from exc
    if (
        not isinstance(data, Mapping)
        or data.get("resourceType") != "Bundle"
        or data.get("type") != "transaction"
    ):
        raise FhirMappingError("Bundle", "the outbox stores transaction Bundles")
    lines = []
    for entry in data.get("entry", []):
        url = str(entry.get("fullUrl", "")) if isinstance(entry, Mapping) else ""
        if "\t" in url or "\n" in url:
            raise FhirMappingError("Bundle", f"fullUrl {url!r} holds a tab or newline")
        lines.append(url.encode() + b"\t" + dumps(entry) + b"\n")
    return b"".join(lines)


def _unpack(payload: bytes) -> Entries:
    entries = []
    for line in payload.splitlines():
        url, tab, entry = line.partition(b"\t")
        if not tab or not entry.startswith(b"{"):
            raise ValueError("a line is not '<fullUrl>\\t<entry>'")
        entries.append((url, entry))
    return entries


def _merge(rows: list[Entries]) -> bytes:
    # fullUrls are uuid5 of the resource's identifier: equal fullUrl, equal resource.
    seen: set[bytes] = set()
    parts = []
    for entries in rows:
        for url, entry in entries:
            if url:
                if url in seen:
                    continue
                seen.add(url)
            parts.append(entry)
    return b'{"resourceType":"Bundle","type":"transaction","entry":[' + b",".join(parts) + b"]}"


class Outbox:
    """A durable, encrypted queue of transaction Bundles in one SQLite file.

    Args:
        path: The database file (created if missing).
        key: The AES-GCM key, 16, 24 or 32 bytes, from the room's configuration.
        batch_size: Rows per transaction when draining.
        retry: Backoff between drain attempts while the sink is unreachable.

    Raises:
        OutboxKeyError: The file was created with another key.
        OutboxCorrupted: The file is not a usable SQLite database.
        OutboxError: The key has a wrong length, or the file cannot be opened.

    Examples:
        >>> import asyncio, os, tempfile
        >>> async def main(path):
        ...     async with Outbox(path, key=b"k" * 32) as outbox:
        ...         await outbox.put({"resourceType": "Bundle", "type": "transaction", "entry": []})
        ...         return await outbox.pending()
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(os.path.join(folder, "outbox.sqlite")))
        1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: bytes,
        batch_size: int = 50,
        retry: Retry | None = None,
    ) -> None:
        self.path = Path(path)
        if len(key) not in (16, 24, 32):
            raise OutboxError(str(self.path), f"the key must be 16, 24 or 32 bytes, not {len(key)}")
        self.batch_size = batch_size
        self.retry = retry or Retry(backoff=1.0, max_delay=300.0)
        self._aes = AESGCM(key)
        # One thread owns the connection: sqlite3 objects must stay on their thread.
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._db: sqlite3.Connection | None = None
        self._draining = asyncio.Lock()  # one drain at a time; put() never waits for it

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _fail(self, exc: sqlite3.Error) -> OutboxError:
        text = str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
            return OutboxCorrupted(str(self.path), f"the database file is damaged: {text}")
        return OutboxError(str(self.path), f"{type(exc).__name__}: {text}")

    async def open(self) -> None:
        """Open (or create) the database and check the key."""

        def work() -> None:
            try:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
                row = db.execute("SELECT value FROM meta WHERE name = 'key_check'").fetchone()
                if row is None:
                    nonce = os.urandom(12)
                    sealed = nonce + self._aes.encrypt(nonce, _KEY_CHECK, b"key-check")
                    db.execute("INSERT INTO meta VALUES ('key_check', ?)", (sealed,))
                else:
                    try:
                        opened = self._aes.decrypt(row[0][:12], row[0][12:], b"key-check")
                    except InvalidTag:
                        opened = b""
                    if opened != _KEY_CHECK:
                        raise OutboxKeyError(str(self.path), "the outbox was encrypted with another key")
            except sqlite3.Error as exc:
                db.close()
                raise self._fail(exc) from exc
            except OutboxError:
                db.close()
                raise
            self._db = db

        await self._run(work)

    async def aclose(self) -> None:
        """Close the database."""
        db, self._db = self._db, None
        if db is not None:
            await self._run(db.close)
        self._executor.shutdown(wait=False)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(str(self.path), "the outbox is not open; use `async with Outbox(...)`")
        return self._db

    async def put(self, *bundles: Mapping[str, Any] | bytes) -> list[int]:
        """Store transaction Bundles (JSON dicts or bytes) durably; returns their row ids.

        All of them are committed together, in one fsync'ed SQLite transaction.
        """
        payloads = [_pack(bundle) for bundle in bundles]
        db = self._conn()

        def work() -> list[int]:
            ids: list[int] = []
            try:
                db.execute("BEGIN IMMEDIATE")
                (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
                for n, payload in enumerate(payloads, start=last + 1):
                    nonce = os.urandom(12)
                    sealed = self._aes.encrypt(nonce, zlib.compress(payload), _aad(n))
                    db.execute(
                        "INSERT INTO outbox (id, created, nonce, payload) VALUES (?, ?, ?, ?)",
                        (n, time.time(), nonce, sealed),
                    )
                    ids.append(n)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise self._fail(exc) from exc
            return ids

        # No lock: the one database thread runs each put() whole, even during a drain.
        return await self._run(work)

    async def pending(self) -> int:
        """How many rows wait to be sent."""
        db = self._conn()
        (count,) = await self._run(
            lambda: db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()
        )
        return int(count)

    async def held_back(self) -> dict[int, str]:
        """Rows that will not be sent again (rejected by the server, or corrupt), with why."""
        db = self._conn()
        rows = await self._run(
            lambda: db.execute(
                "SELECT id, state || ': ' || COALESCE(error, '') FROM outbox WHERE state != 'pending'"
            ).fetchall()
        )
        return {int(i): str(why) for i, why in rows}

    async def states(self, *row_ids: int) -> dict[int, str]:
        """The state of each of ``row_ids`` still held: ``pending``, ``rejected`` or ``corrupt``.

        A row that is not in the answer is gone: the sink confirmed it (or it never was).

        Examples:
            >>> import asyncio, os, tempfile
            >>> async def main(path):
            ...     async with Outbox(path, key=b"k" * 32) as outbox:
            ...         (row,) = await outbox.put({"resourceType": "Bundle", "type": "transaction"})
            ...         return await outbox.states(row, row + 1)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     asyncio.run(main(os.path.join(folder, "outbox.sqlite")))
            {1: 'pending'}
        """
        db = self._conn()
        ids = [int(i) for i in row_ids]

        def work() -> dict[int, str]:
            marks = ",".join("?" * len(ids))
            try:
                # Only "?" placeholders are formatted into this statement.
                found = db.execute(f"SELECT id, state FROM outbox WHERE id IN ({marks})", ids).fetchall()
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
            return {int(row_id): str(state) for row_id, state in found}

        return await self._run(work) if ids else {}

    async def requeue(self, *row_ids: int) -> list[int]:
        """Send rows the server rejected again on the next drain (after the cause was fixed).

        Only ``rejected`` rows move back to pending; a ``corrupt`` row cannot be
        decrypted and stays where it is, and an id that is not held back is ignored.

        Returns:
            The ids that are pending again.

        Examples:
            >>> import asyncio, os, tempfile
            >>> async def main(path):
            ...     async with Outbox(path, key=b"k" * 32) as outbox:
            ...         return await outbox.requeue(1, 2)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     asyncio.run(main(os.path.join(folder, "outbox.sqlite")))
            []
        """
        db = self._conn()
        ids = [int(i) for i in row_ids]

        def work() -> list[int]:
            marks = ",".join("?" * len(ids))
            try:
                db.execute("BEGIN IMMEDIATE")
                # Only "?" placeholders are formatted into these statements.
                found = db.execute(
                    f"SELECT id FROM outbox WHERE state = 'rejected' AND id IN ({marks}) ORDER BY id", ids
                ).fetchall()
                db.execute(
                    "UPDATE outbox SET state = 'pending', error = NULL "
                    f"WHERE state = 'rejected' AND id IN ({marks})",
                    ids,
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise self._fail(exc) from exc
            return [int(row_id) for (row_id,) in found]

        return await self._run(work) if ids else []

    def _next_batch(self, limit: int) -> tuple[list[tuple[int, Entries]], list[tuple[int, str]]]:
        db = self._conn()
        try:
            rows = db.execute(
                "SELECT id, nonce, payload FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        good: list[tuple[int, Entries]] = []
        bad: list[tuple[int, str]] = []
        for row_id, nonce, payload in rows:
            try:
                good.append(
                    (row_id, _unpack(zlib.decompress(self._aes.decrypt(nonce, payload, _aad(row_id)))))
                )
            except InvalidTag:
                bad.append((row_id, "authentication failed: the row was altered or damaged"))
            except (zlib.error, ValueError, TypeError) as exc:
                bad.append((row_id, f"unreadable payload: {exc}"))
        return good, bad

    def _mark(self, ids: list[int], state: str | None, error: str | None = None) -> None:
        db = self._conn()
        marks = ",".join("?" * len(ids))
        try:
            # Only "?" placeholders are formatted into these statements.
            if state is None:
                db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)
            else:
                db.execute(
                    f"UPDATE outbox SET state = ?, error = ? WHERE id IN ({marks})",
                    [state, error, *ids],
                )
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def _quarantine(self, rows: list[tuple[int, str]]) -> None:
        for row_id, why in rows:
            self._mark([row_id], "corrupt", why)

    async def drain(
        self,
        sink: FhirSink,
        *,
        batch_size: int | None = None,
        max_failures: int | None = None,
    ) -> DrainResult:
        """Send every pending row to ``sink``, batch by batch, until none is left.

        A row is deleted only after the sink confirmed the transaction holding it. While
        the sink is unreachable (connection errors, 408/429/5xx) the outbox waits with
        exponential backoff (``retry``) and tries again. A batch the server refuses for
        good (another 4xx) is split so that only the offending rows stay behind,
        marked ``rejected``.

        Args:
            sink: A :class:`~telemedroom.fhir.FhirClient` or :class:`FileSink`.
            batch_size: Rows per transaction (default: the outbox's).
            max_failures: Give up after this many failed attempts in a row and raise the
                last error (default: never give up).

        Raises:
            OutboxCorrupted: Damaged rows were found (they are quarantined and named in
                the error; every intact row was sent before this is raised).
            FhirError: ``max_failures`` attempts in a row failed.
        """
        size = batch_size or self.batch_size
        sent = batches = failures = 0
        rejected: list[int] = []
        self._refusals: dict[int, FhirError] = {}
        corrupt: list[tuple[int, str]] = []
        async with self._draining:
            while True:
                good, bad = await self._run(functools.partial(self._next_batch, size))
                if bad:
                    corrupt.extend(bad)
                    await self._run(functools.partial(self._quarantine, bad))
                if not good:
                    if bad:
                        continue
                    break
                try:
                    outcome = await self._send(sink, good)
                except FhirError as exc:
                    if not _transient(exc):
                        raise
                    failures += 1
                    if max_failures is not None and failures >= max_failures:
                        raise
                    await self.retry.sleep(self.retry.delay(min(failures - 1, 16), None))
                    continue
                failures = 0
                sent += outcome[0]
                batches += outcome[1]
                rejected.extend(outcome[2])
        if corrupt:
            ids = ", ".join(str(i) for i, _why in corrupt)
            raise OutboxCorrupted(
                str(self.path),
                f"rows {ids} are damaged and were set aside ({corrupt[0][1]})",
                row_id=corrupt[0][0],
            )
        refusals, self._refusals = self._refusals, {}
        return DrainResult(
            sent=sent,
            batches=batches,
            rejected=tuple(rejected),
            reasons={row: str(exc) for row, exc in refusals.items()},
            issues={row: getattr(exc, "issues", ()) for row, exc in refusals.items()},
            status={row: getattr(exc, "status", 0) for row, exc in refusals.items()},
        )

    async def _send(self, sink: FhirSink, rows: list[tuple[int, Entries]]) -> tuple[int, int, list[int]]:
        try:
            sent_batches = await self._deliver_rows(sink, rows)
        except FhirError as exc:
            if _transient(exc):
                raise
            await self._run(functools.partial(self._forget_progress, rows))
            if len(rows) == 1:
                await self._run(functools.partial(self._mark, [rows[0][0]], "rejected", str(exc)))
                self._refusals[rows[0][0]] = exc
                return 0, 0, [rows[0][0]]
            half = len(rows) // 2
            first = await self._send(sink, rows[:half])
            second = await self._send(sink, rows[half:])
            return first[0] + second[0], first[1] + second[1], first[2] + second[2]
        await self._run(functools.partial(self._done, [row_id for row_id, _b in rows]))
        return len(rows), sent_batches, []

    async def _deliver_rows(self, sink: FhirSink, rows: list[tuple[int, Entries]]) -> int:
        """Send the rows' merged bundle, as one transaction or as the server's ordered plan."""
        body = _merge([entries for _id, entries in rows])
        profile = getattr(sink, "profile", None)
        if not isinstance(sink, FhirClient) or not isinstance(profile, ServerProfile) or not profile.limited:
            await _deliver(sink, body)
            return 1
        steps = plan_transaction(json.loads(body)["entry"], profile)
        key = ",".join(str(row_id) for row_id, _e in rows)
        start, resolved = await self._run(functools.partial(self._progress, key))
        for number in range(start, len(steps)):
            answer = await _deliver(sink, resolve_step(steps[number], resolved))
            resolved.update(step_identities(steps[number], answer))
            if number + 1 < len(steps):
                await self._run(functools.partial(self._save_progress, key, number + 1, resolved))
        return len(steps) - start

    def _progress(self, key: str) -> tuple[int, dict[str, str]]:
        db = self._conn()
        try:
            row = db.execute("SELECT step, nonce, resolved FROM progress WHERE rows = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        if row is None:
            return 0, {}
        try:
            resolved = json.loads(self._aes.decrypt(row[1], row[2], _progress_aad(key)))
        except (InvalidTag, ValueError):
            return 0, {}  # unreadable progress: start over (every step is idempotent)
        return int(row[0]), {str(k): str(v) for k, v in resolved.items()}

    def _save_progress(self, key: str, step: int, resolved: Mapping[str, str]) -> None:
        db = self._conn()
        nonce = os.urandom(12)
        sealed = self._aes.encrypt(nonce, dumps(dict(resolved)), _progress_aad(key))
        try:
            db.execute(
                "INSERT OR REPLACE INTO progress (rows, step, nonce, resolved) VALUES (?, ?, ?, ?)",
                (key, step, nonce, sealed),
            )
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def _forget_progress(self, rows: list[tuple[int, Entries]]) -> None:
        db = self._conn()
        try:
            db.execute("DELETE FROM progress WHERE rows = ?", (",".join(str(r) for r, _e in rows),))
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def _done(self, ids: list[int]) -> None:
        # The rows and the progress of their plan go together, in one SQLite transaction.
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            self._mark(ids, None)
            db.execute("DELETE FROM progress WHERE rows = ?", (",".join(map(str, ids)),))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise self._fail(exc) from exc
        except OutboxError:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


async def _deliver(sink: FhirSink, body: bytes) -> Any:
    if not isinstance(sink, FhirClient):
        return await sink.transaction(body)
    # The outbox needs the server's yes (and where each entry went), not the answer as
    # models: parsing a transaction-response of hundreds of entries into fhir.resources
    # would cost more than the rest of the drain.
    response = await sink.request(
        "POST",
        "",
        content=body,
        headers={"Prefer": "return=minimal"},
        idempotent=transaction_is_idempotent(body),
    )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("type") != "transaction-response":
        raise FhirMappingError(
            "Bundle", f"{sink.base_url} did not answer the transaction with a transaction-response"
        )
    return answer


def _transient(exc: FhirError) -> bool:
    # Unreachable, throttled or failing servers, and a sink's full or read-only disk
    # (OutboxError), are worth another try later; a server's 4xx verdict is not.
    if isinstance(exc, FhirConnectionError | OutboxError):
        return True
    return isinstance(exc, FhirServerError) and (exc.status in _TRANSIENT or exc.status == 401)


class FileSink:
    """The embedded default sink: FHIR Bulk Data NDJSON files, one per resource type.

    Each resource gets the uuid of its ``urn:uuid`` fullUrl as its id, references are
    rewritten to ``Type/id``, and a resource already in the files is not written again
    (the file equivalent of a conditional create). A line cut short by a crash is
    dropped when the sink opens.

    Args:
        directory: Where ``Observation.ndjson``, ``Device.ndjson``, ... are written.

    Examples:
        >>> import asyncio, tempfile, os
        >>> from telemedroom import BodyWeight
        >>> from telemedroom.fhir import transaction_json
        >>> bundle = transaction_json([BodyWeight(value=72.4)], patient="Patient/p1", provenance=False)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     sink = FileSink(folder)
        ...     _ = asyncio.run(sink.transaction(bundle))
        ...     _ = asyncio.run(sink.transaction(bundle))  # again: nothing new
        ...     with open(os.path.join(folder, "Observation.ndjson")) as lines:
        ...         len(lines.readlines())
        1
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._seen: set[tuple[str, str]] | None = None

    def _load(self) -> set[tuple[str, str]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        seen: set[tuple[str, str]] = set()
        for file in self.directory.glob("*.ndjson"):
            data = file.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            if len(complete) != len(data):
                with file.open("r+b") as handle:  # a crash cut the last line: drop it
                    handle.truncate(len(complete))
            for line in complete.splitlines():
                try:
                    seen.add((file.stem, str(json.loads(line)["id"])))
                except (ValueError, KeyError, TypeError) as exc:
                    raise OutboxCorrupted(str(file), f"a line is not a FHIR resource: {exc}") from exc
        return seen

    def _write(self, bundle: bytes | Mapping[str, Any]) -> list[str]:
        if self._seen is None:
            self._seen = self._load()
        try:
            data = json.loads(bundle if isinstance(bundle, bytes) else dumps(bundle))
            entries = data.get("entry", [])
        except (ValueError, AttributeError) as exc:
            raise FhirMappingError("Bundle", f"not a transaction Bundle: {exc}") from exc
        ids: dict[str, str] = {}
        for entry in entries:
            url = entry.get("fullUrl") or f"urn:uuid:{uuid.uuid4()}"
            kind = entry["resource"]["resourceType"]
            rid = url.removeprefix("urn:uuid:") if url.startswith("urn:uuid:") else str(uuid.uuid4())
            ids[url] = f"{kind}/{rid}"

        def resolve(obj: dict[str, Any]) -> dict[str, Any]:
            ref = obj.get("reference")
            if isinstance(ref, str) and ref in ids:
                obj["reference"] = ids[ref]
            return obj

        written: list[str] = []
        lines: dict[str, list[bytes]] = {}
        for entry in entries:
            ref = ids.get(entry.get("fullUrl", ""))
            resource = json.loads(json.dumps(entry["resource"]), object_hook=resolve)
            kind = resource["resourceType"]
            rid = ref.split("/", 1)[1] if ref else str(uuid.uuid4())
            if (kind, rid) in self._seen:
                continue
            resource["id"] = rid
            lines.setdefault(kind, []).append(json.dumps(resource, separators=(",", ":")).encode() + b"\n")
            self._seen.add((kind, rid))
            written.append(f"{kind}/{rid}")
        for kind, chunk in lines.items():
            with (self.directory / f"{kind}.ndjson").open("ab") as handle:
                handle.write(b"".join(chunk))
                handle.flush()
                os.fsync(handle.fileno())
        return written

    async def transaction(self, bundle: bytes | Mapping[str, Any]) -> list[str]:
        """Append the bundle's resources; returns the ``Type/id`` of those written now."""
        try:
            return await asyncio.to_thread(self._write, bundle)
        except OSError as exc:
            self._seen = None  # reload from the files: they hold the truth
            raise OutboxError(str(self.directory), f"cannot write NDJSON: {exc}") from exc
