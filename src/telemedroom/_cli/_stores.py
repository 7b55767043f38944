"""The schedule store named by a room's ``[schedule] store`` URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telemedroom.errors import ScheduleStoreError
from telemedroom.scheduling import PostgresStore, ScheduleStore, SqliteStore


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[ScheduleStore]:
    """Open ``sqlite:///PATH`` (the embedded default) or ``postgresql://...`` (extra ``postgres``).

    Examples:
        >>> import asyncio
        >>> async def main():
        ...     async with open_store("sqlite:///:memory:") as store:
        ...         return type(store).__name__
        >>> asyncio.run(main())
        'SqliteStore'
    """
    store: ScheduleStore
    if url.startswith("sqlite:///"):
        store = SqliteStore(url.removeprefix("sqlite:///"))
    elif url.startswith(("postgresql://", "postgres://")):
        store = PostgresStore(url)
    else:
        raise ScheduleStoreError(url.partition(":")[0], "use sqlite:///PATH or postgresql://...")
    async with store:
        yield store
