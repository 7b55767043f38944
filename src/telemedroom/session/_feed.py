"""The far side's video and voice, relayed to the local screens (the kiosk's, the apartment's tablet).

A room or an apartment in a call gets the physician's (or the ward's) tracks from its
:class:`~telemedroom.session.peer.RoomPeer` (``on_physician_track``). :class:`RemoteFeed`
keeps the newest video and the first voice and hands every local screen connection
subscriptions of its own: stopping one screen's subscription ends nothing else. A
blackhole subscription drains each remote track while no screen watches, so no frames
pile up.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["RemoteFeed"]


class RemoteFeed:
    """The far side's video and voice for any number of local screens (extra ``video``).

    Examples:
        >>> feed = RemoteFeed()
        >>> feed.subscribe(), feed.kinds
        ((None, None), frozenset())
    """

    def __init__(self) -> None:
        self._relay: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._drains: list[Any] = []
        self._tasks: set[asyncio.Future[None]] = set()

    def add(self, track: Any) -> None:
        """Take a track the far side sends (the peer's ``on_physician_track`` callback)."""
        from aiortc.contrib.media import MediaBlackhole, MediaRelay

        if self._relay is None:
            self._relay = MediaRelay()
        if track.kind == "video":
            self._video = track
        elif self._audio is None:
            self._audio = track
        drain = MediaBlackhole()
        drain.addTrack(self._relay.subscribe(track, buffered=False))
        self._drains.append(drain)
        task = asyncio.ensure_future(drain.start())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def kinds(self) -> frozenset[str]:
        """Which tracks have arrived: ``"video"``, ``"audio"`` (subscribing is not needed to know)."""
        return frozenset(kind for kind, track in (("video", self._video), ("audio", self._audio)) if track)

    def subscribe(self) -> tuple[Any, Any]:
        """New subscriptions ``(video, audio)`` for one screen connection (``None`` until the track came)."""
        relay, video, audio = self._relay, self._video, self._audio
        return (
            relay.subscribe(video, buffered=False) if video is not None else None,
            relay.subscribe(audio, buffered=False) if audio is not None else None,
        )

    async def aclose(self) -> None:
        """Forget the tracks (the call ended) and stop draining them."""
        drains, self._drains = self._drains, []
        self._relay = self._video = self._audio = None
        for drain in drains:
            await drain.stop()
