"""Small asyncio helpers: wait for the first of several events, stop a set of tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

__all__ = ["first_set", "stop_tasks"]


async def first_set(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return once any of ``events`` is set, or after ``timeout`` seconds (no error: check the events).

    The waiters it starts are cancelled on the way out, also when the caller is cancelled.

    Examples:
        >>> async def main():
        ...     hung_up, ended = asyncio.Event(), asyncio.Event()
        ...     asyncio.get_running_loop().call_later(0.01, ended.set)
        ...     await first_set(hung_up, ended)
        ...     return hung_up.is_set(), ended.is_set()
        >>> asyncio.run(main())
        (False, True)
    """
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def stop_tasks(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task, then wait until each has ended (its cancellation swallowed here).

    Examples:
        >>> async def main():
        ...     task = asyncio.ensure_future(asyncio.sleep(60))
        ...     await stop_tasks([task])
        ...     return task.cancelled()
        >>> asyncio.run(main())
        True
    """
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
