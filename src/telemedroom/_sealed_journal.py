"""A crash-safe SQLite file whose health data is sealed: the room's and the apartment's journals.

Every statement is one fsync'ed SQLite transaction (WAL, ``synchronous=FULL``) run on
the journal's own thread (``sqlite3`` objects must stay on the thread that made them),
so after a crash the file holds the state before a write or after it, never half of one.
What must not be in the clear is sealed with AES-GCM: a fresh 12-byte nonce per value,
the value zlib-compressed, and the row's own id as the associated data, so sealed
values cannot be swapped between rows. Each journal brings its schema, its name in
messages and its error type; :class:`telemedroom._room._journal.Journal` and
:class:`telemedroom.apartment.Journal` are the two.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telemedroom.errors import TelemedroomError

__all__ = ["SealedJournal"]

_T = TypeVar("_T")
_NONCE = 12  # NIST SP 800-38D §8.2: a 96-bit nonce, never reused under one key


class SealedJournal:
    """The shared part of a journal file: open, close, run a statement, seal and open values.

    A journal subclasses it, sets the four class attributes and writes its own methods
    with :meth:`_execute`, :meth:`_seal` and :meth:`_unseal` (kept private, so that a
    journal's public face is only what it chooses to offer).

    Examples:
        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from telemedroom.errors import RoomError
        >>> class Notes(SealedJournal):
        ...     SCHEMA = "CREATE TABLE IF NOT EXISTS note (id TEXT PRIMARY KEY, nonce BLOB, sealed BLOB);"
        ...     NAME, THREAD, ERROR = "notes", "notes", RoomError
        >>> async def main(folder):
        ...     async with Notes(Path(folder) / "notes.sqlite", key=bytes(32)) as notes:
        ...         nonce, sealed = notes._seal("n1", b"hi")
        ...         await notes._execute("INSERT INTO note VALUES (?, ?, ?)", ("n1", nonce, sealed))
        ...         ((nonce, sealed),) = await notes._execute("SELECT nonce, sealed FROM note")
        ...         return notes._unseal("n1", nonce, sealed, what="note n1", decode=bytes.decode)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(folder))
        'hi'
    """

    SCHEMA: ClassVar[str]
    """The tables, as ``CREATE ... IF NOT EXISTS`` statements (run at every open)."""
    NAME: ClassVar[str]
    """What the file is called in messages (``"room journal"``)."""
    THREAD: ClassVar[str]
    """The prefix of its thread's name."""
    ERROR: ClassVar[type[TelemedroomError]]
    """The error every failure is raised as."""

    def __init__(self, path: str | os.PathLike[str], *, key: bytes) -> None:
        self.path = Path(path)
        self._aes = AESGCM(key)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.THREAD)
        self._db: sqlite3.Connection | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _fail(self, exc: sqlite3.Error) -> TelemedroomError:
        return self.ERROR(f"{self.NAME} {self.path}: {type(exc).__name__}: {exc}")

    async def open(self) -> None:
        """Open (or create) the journal file.

        Raises:
            TelemedroomError: The journal's own error type: the file cannot be opened or
                is not a journal.
        """

        def work() -> None:
            try:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(self.SCHEMA)
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
            self._db = db

        await self._run(work)

    async def aclose(self) -> None:
        """Close the file."""
        db, self._db = self._db, None
        if db is not None:
            await self._run(db.close)
        self._executor.shutdown(wait=False)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise self.ERROR(f"{self.NAME} {self.path} is not open")
        return self._db

    async def _execute(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        """Run one statement (its own transaction) and return the rows it yields."""
        db = self._conn()

        def work() -> list[Any]:
            try:
                return db.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc

        return await self._run(work)

    def _seal(self, aad: str, data: bytes) -> tuple[bytes, bytes]:
        """``data`` compressed and encrypted for the row ``aad``: its nonce and the sealed bytes."""
        nonce = os.urandom(_NONCE)
        return nonce, self._aes.encrypt(nonce, zlib.compress(data), aad.encode())

    def _unseal(
        self, aad: str, nonce: bytes, sealed: bytes, *, what: str, decode: Callable[[bytes], _T]
    ) -> _T:
        """What :meth:`_seal` sealed for the row ``aad``, passed through ``decode``.

        Raises:
            TelemedroomError: The journal's own error type, naming ``what``: the value
                does not open with this key (another key, or the file was altered), or
                ``decode`` refuses it (``ValueError``).
        """
        try:
            return decode(zlib.decompress(self._aes.decrypt(nonce, sealed, aad.encode())))
        except (InvalidTag, zlib.error, ValueError) as exc:
            raise self.ERROR(
                f"{self.NAME} {self.path}: {what} does not open with this key"
                " (another key, or the file was altered)"
            ) from exc
