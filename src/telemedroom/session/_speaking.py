"""Who is in a multi-party visit and who is speaking, for the room's kiosk.

:class:`SpeakingDetector` decides per mixer input whether someone speaks, from the peak
level of the 20 ms frames :class:`~telemedroom.session._mixer.AudioMix` already holds
(no extra decode, no copy: ``max``/``min`` over the 16-bit samples). Two kinds of
hysteresis keep the mark from flickering: a level one (speaking starts above
``on_dbfs`` and only a level below ``off_dbfs`` counts as quiet) and a time one
(``attack`` loud frames in a row to start, ``release`` quiet frames in a row to stop; a
missing frame is a quiet one). :class:`SpeakerBoard` joins that with the rosters the
signaling server sends (shown names and roles as the join tokens carry them) and tells
its ``on_change`` at most once per ``interval`` seconds, and only when something changed.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

from telemedroom.session import protocol as p

__all__ = ["Speaker", "SpeakerBoard", "SpeakingDetector", "peak_dbfs"]

_FULL_SCALE: Final = 32768.0
_SILENT_DBFS: Final = -120.0


def peak_dbfs(samples: array[int] | None) -> float:
    """The peak level of 16-bit samples in dB below full scale (``-120.0`` for nothing or zeros).

    Examples:
        >>> round(peak_dbfs(array("h", [0, 16384, -8192])), 1)
        -6.0
        >>> peak_dbfs(array("h", [0, 0])), peak_dbfs(None)
        (-120.0, -120.0)
    """
    if not samples:
        return _SILENT_DBFS
    peak = max(max(samples), -min(samples))
    return 20 * math.log10(peak / _FULL_SCALE) if peak else _SILENT_DBFS


@dataclass
class _Input:
    speaking: bool = False
    run: int = 0  # loud frames in a row while quiet, quiet frames in a row while speaking


class SpeakingDetector:
    """Speaking or not, per input, from one frame's samples every 20 ms (with hysteresis).

    Args:
        on_dbfs: A frame at least this loud counts as speech.
        off_dbfs: A frame below this counts as quiet (between the two: keeps the state).
        attack: Loud frames in a row before an input is marked speaking (3: 60 ms).
        release: Quiet frames in a row before the mark goes (40: 0.8 s, a pause between words stays).

    Examples:
        >>> detector = SpeakingDetector(attack=2, release=3)
        >>> loud, quiet = array("h", [8000, -8000]), array("h", [0, 0])
        >>> [detector.feed("interpreter", frame) for frame in (loud, loud, quiet, quiet, quiet)]
        [False, True, False, False, True]
        >>> detector.speaking
        frozenset()
    """

    def __init__(
        self, *, on_dbfs: float = -40.0, off_dbfs: float = -48.0, attack: int = 3, release: int = 40
    ) -> None:
        if not off_dbfs <= on_dbfs or attack < 1 or release < 1:
            raise ValueError("need off_dbfs <= on_dbfs, attack >= 1 and release >= 1")
        self.on_dbfs, self.off_dbfs = on_dbfs, off_dbfs
        self.attack, self.release = attack, release
        self._inputs: dict[Hashable, _Input] = {}

    @property
    def speaking(self) -> frozenset[Hashable]:
        """The inputs marked speaking now."""
        return frozenset(key for key, state in self._inputs.items() if state.speaking)

    def feed(self, key: Hashable, samples: array[int] | None) -> bool:
        """Take ``key``'s next frame (``None``: none arrived in time); ``True`` when its mark changed."""
        state = self._inputs.setdefault(key, _Input())
        level = peak_dbfs(samples)
        if not state.speaking:
            state.run = state.run + 1 if level >= self.on_dbfs else 0
            if state.run >= self.attack:
                state.speaking, state.run = True, 0
                return True
            return False
        state.run = state.run + 1 if level < self.off_dbfs else 0
        if state.run >= self.release:
            state.speaking, state.run = False, 0
            return True
        return False

    def forget(self, key: Hashable) -> bool:
        """Drop an input that ended; ``True`` when it was marked speaking."""
        state = self._inputs.pop(key, None)
        return state is not None and state.speaking


@dataclass(frozen=True)
class Speaker:
    """One admitted participant as the kiosk shows them: shown name, role, speaking or not."""

    id: str
    role: str
    name: str
    speaking: bool


class SpeakerBoard:
    """The visit's admitted participants (from the rosters) and who speaks (feeds), throttled.

    ``on_change`` gets the whole list, in order of appearance, when it differs from the
    last one it got, at most once per ``interval`` seconds (a later change inside the
    interval is sent, merged with any others, when it is over). The room itself
    (role ``patient``) is not listed.

    Examples:
        >>> board, seen = SpeakerBoard(), []
        >>> board.on_change = seen.append
        >>> board.roster([p.ParticipantInfo(id="in-2", role="interpreter", name="A. Yilmaz",
        ...                                 state="admitted", feed=7)])
        >>> seen
        [[Speaker(id='in-2', role='interpreter', name='A. Yilmaz', speaking=False)]]
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.on_change: Callable[[list[Speaker]], object] | None = None
        self._people: dict[str, p.ParticipantInfo] = {}
        self._speaking: frozenset[Hashable] = frozenset()
        self._sent: list[Speaker] | None = None
        self._sent_at = -math.inf
        self._timer: asyncio.TimerHandle | None = None

    def current(self) -> list[Speaker]:
        """The list as it stands now."""
        return [
            Speaker(q.id, q.role, q.name, q.feed is not None and q.feed in self._speaking)
            for q in self._people.values()
        ]

    def roster(self, participants: list[p.ParticipantInfo]) -> None:
        """A new roster from the signaling server: who is admitted now."""
        self._people = {q.id: q for q in participants if q.state == "admitted" and q.role != "patient"}
        self._changed()

    def speaking(self, feeds: frozenset[Hashable]) -> None:
        """The Janus feeds whose voice is marked speaking now."""
        self._speaking = feeds
        self._changed()

    def _changed(self) -> None:
        if self._timer is not None:
            return  # already due: it sends the list as it is then
        wait = self._sent_at + self.interval - time.monotonic()
        if wait > 0:
            self._timer = asyncio.get_running_loop().call_later(wait, self._send)
        else:
            self._send()

    def _send(self) -> None:
        self._timer = None
        now = self.current()
        if now == self._sent or self.on_change is None:
            return
        self._sent, self._sent_at = now, time.monotonic()
        self.on_change(now)

    def close(self) -> None:
        """Send nothing more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.on_change = None
