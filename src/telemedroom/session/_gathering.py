"""Set a local description and close an aiortc peer connection without leaking ICE sockets.

aiortc's ``setLocalDescription`` gathers the ICE candidates: aioice opens one UDP socket
per host address (and a TURN allocation), one address after the other. A ``close()``
that lands during that gathering clears the sockets opened so far, and the ones opened
after it are never closed; a cancel that lands there drops the sockets of the addresses
already done. Either way they stay open until the garbage collector finds them (a
``ResourceWarning``). So here the gathering always runs to its end, even when its caller
is cancelled, and a close waits for it first. Gathering host candidates takes
milliseconds; with a TURN server aioice gives up after 5 s.

The close itself is shielded too: aiortc closes a failed connection on its own (a task of
``pc.close()``), and a second ``close()`` waits on that close's future; cancelling the wait
would cancel the future, and aiortc's task would end in ``InvalidStateError``.

Examples:
    >>> import asyncio
    >>> from aiortc import RTCConfiguration, RTCPeerConnection
    >>> async def offer_then_close() -> str:
    ...     pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    ...     pc.addTransceiver("audio")
    ...     await set_local_description(pc, await pc.createOffer())
    ...     await close(pc)
    ...     return pc.connectionState
    >>> asyncio.run(offer_then_close())
    'closed'
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection, RTCSessionDescription

__all__ = ["close", "set_local_description"]

# the gathering each peer connection has begun (at most one at a time matters: the last)
_gathering: WeakKeyDictionary[RTCPeerConnection, asyncio.Future[None]] = WeakKeyDictionary()


def _seen(task: asyncio.Future[None]) -> None:
    # A caller cancelled meanwhile no longer awaits it: its error must not be reported
    # as "never retrieved" (the connection is being dropped anyway).
    if not task.cancelled():
        task.exception()


async def set_local_description(pc: RTCPeerConnection, description: RTCSessionDescription) -> None:
    """``pc.setLocalDescription(description)``, run to its end even if the caller is cancelled."""
    task = asyncio.ensure_future(pc.setLocalDescription(description))
    task.add_done_callback(_seen)
    _gathering[pc] = task
    await asyncio.shield(task)


async def close(pc: RTCPeerConnection) -> None:
    """Close ``pc`` once the gathering it has begun (if any) has ended; safe to call twice."""
    gathering = _gathering.get(pc)
    if gathering is not None and not gathering.done():
        await asyncio.wait([gathering])
    closing = asyncio.ensure_future(pc.close())
    closing.add_done_callback(_seen)
    await asyncio.shield(closing)
