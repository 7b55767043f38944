"""One audio track that mixes several: the kiosk plays every participant's voice at once.

Through the SFU the room receives one audio track per participant (physician, interpreter,
relative). The kiosk has one speaker line, so :class:`AudioMix` sums them: each input is
read in a task of its own into a short queue (old frames are dropped, never piled up), and
every 20 ms :meth:`AudioMix.recv` adds up the next frame of each input that has one
(16-bit saturating sum). Pure Python with :mod:`array` (no numpy): 960 stereo samples
per input per frame. The same tick tells a :class:`SpeakingDetector` each keyed input's
frame (or that none came), so the kiosk can show who speaks without decoding anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable
from typing import Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from telemedroom.session._speaking import SpeakingDetector

__all__ = ["AudioMix"]

RATE: Final = 48_000
SAMPLES: Final = 960  # 20 ms at 48 kHz, Opus's frame
_LAYOUT: Final = "stereo"
_QUEUE: Final = 10  # 200 ms per input at most; older frames are dropped
_LOW, _HIGH = -32768, 32767


def _samples(frame: AudioFrame) -> array[int] | None:
    """The frame's interleaved 16-bit stereo samples, or ``None`` for another format."""
    if frame.format.name != "s16" or frame.layout.name != _LAYOUT or frame.sample_rate != RATE:
        return None
    data = array("h")
    data.frombytes(bytes(frame.planes[0])[: frame.samples * 2 * 2])
    return data


def mix(chunks: list[array[int]]) -> array[int]:
    """The saturating sum of equally long 16-bit sample arrays.

    Examples:
        >>> list(mix([array("h", [1000, -32000]), array("h", [2000, -1000])]))
        [3000, -32768]
    """
    if len(chunks) == 1:
        return chunks[0]
    return array("h", (max(_LOW, min(_HIGH, sum(values))) for values in zip(*chunks, strict=True)))


class AudioMix(MediaStreamTrack):
    """An audio track that plays the sum of its inputs (48 kHz, 16-bit stereo, 20 ms frames).

    Attributes:
        detector: Marks the inputs added with a ``key`` as speaking or not, every frame.
        on_speaking: Called with the speaking keys whenever that set changes.

    Examples:
        >>> mixer = AudioMix()
        >>> mixer.kind, mixer.inputs
        ('audio', 0)
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queues: dict[MediaStreamTrack, deque[array[int]]] = {}
        self._keys: dict[MediaStreamTrack, Hashable] = {}
        self.detector = SpeakingDetector()
        self.on_speaking: Callable[[frozenset[Hashable]], object] | None = None
        self._readers: set[asyncio.Task[None]] = set()
        self._start: float | None = None
        self._pts = 0

    @property
    def inputs(self) -> int:
        """How many tracks are mixed now."""
        return len(self._queues)

    def add(self, track: MediaStreamTrack, key: Hashable | None = None) -> None:
        """Mix ``track`` in from now on (until it ends); with a ``key``, watch whether it speaks."""
        queue: deque[array[int]] = deque(maxlen=_QUEUE)
        self._queues[track] = queue
        if key is not None:
            self._keys[track] = key
        task = asyncio.ensure_future(self._read(track, queue))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read(self, track: MediaStreamTrack, queue: deque[array[int]]) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, AudioFrame):
                    samples = _samples(frame)
                    if samples is not None and len(samples) == SAMPLES * 2:
                        queue.append(samples)
        except MediaStreamError:
            pass
        finally:
            self._queues.pop(track, None)
            key = self._keys.pop(track, None)
            if key is not None and self.detector.forget(key):
                self._tell()

    async def recv(self) -> AudioFrame:
        """The next 20 ms of the mix (silence while no input has anything)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += SAMPLES
            # Real-time pacing, as aiortc's own audio tracks do: one frame per 20 ms.
            await asyncio.sleep(max(0.0, self._start + self._pts / RATE - time.monotonic()))
        chunks = []
        changed = False
        for track, queue in list(self._queues.items()):
            chunk = queue.popleft() if queue else None
            if chunk is not None:
                chunks.append(chunk)
            key = self._keys.get(track)
            if key is not None:  # a missing frame counts as quiet
                changed = self.detector.feed(key, chunk) or changed
        if changed:
            self._tell()
        samples = mix(chunks) if chunks else array("h", bytes(SAMPLES * 2 * 2))
        frame = AudioFrame(format="s16", layout=_LAYOUT, samples=SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        return frame

    def _tell(self) -> None:
        if self.on_speaking is not None:
            self.on_speaking(self.detector.speaking)

    def stop(self) -> None:
        """Stop mixing and reading the inputs."""
        super().stop()
        for task in list(self._readers):
            task.cancel()

    async def aclose(self) -> None:
        """Stop and wait for the input readers to end."""
        readers = list(self._readers)
        self.stop()
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
