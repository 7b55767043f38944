"""Wait for the first of several :class:`asyncio.Event` objects (a hang-up or the visit's end...)."""

from __future__ import annotations

import asyncio

__all__ = ["first_set"]


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
