"""Opening a :class:`MediaSource`: one source track, relayed to any number of consumers."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Final, Self

import av
from aiortc.contrib.media import MediaBlackhole, MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet

from telemedroom.devices._media._clip import Clip, record_clip
from telemedroom.devices._media._snapshot import ImageFormat, Snapshot, take_snapshot
from telemedroom.devices._media._source import MediaSource, Origin, Role, player_arguments
from telemedroom.devices._media._tracks import Clock, HeartbeatTrack, TestPatternTrack, ToneTrack
from telemedroom.errors import MediaDeviceError

# role -> synthetic track for it.
SYNTHETIC_TRACKS: Final[dict[Role, Callable[[MediaSource, Clock | None], MediaStreamTrack]]] = {
    Role.ROOM_CAMERA: lambda source, clock: TestPatternTrack(
        *(source.resolution or (1280, 720)), source.frame_rate_or_default, label="ROOM CAMERA", clock=clock
    ),
    Role.EXAM_CAMERA: lambda source, clock: TestPatternTrack(
        *(source.resolution or (1920, 1080)), source.frame_rate_or_default, label="EXAM CAMERA", clock=clock
    ),
    Role.MICROPHONE: lambda source, clock: ToneTrack(sample_rate=source.sample_rate_or_default, clock=clock),
    Role.STETHOSCOPE: lambda source, clock: HeartbeatTrack(
        source.heart_rate_bpm, source.sample_rate_or_default, clock=clock
    ),
}


def has_input_format(name: str) -> bool:
    """Whether PyAV's FFmpeg can read from the input format (device backend) ``name``."""
    try:
        return av.ContainerFormat(name).is_input
    except ValueError:
        return False


class _GuardedTrack(MediaStreamTrack):
    """The source track as the relay reads it: closing ends the read in progress at once.

    Without it a relay blocked on a device that stopped delivering would never tell its
    consumers that the source is gone.
    """

    def __init__(self, inner: MediaStreamTrack, on_first_read: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.kind = inner.kind
        self.inner = inner
        self._closed = asyncio.get_running_loop().create_future()
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_first_read = on_first_read

    async def recv(self) -> Frame | Packet[Any]:
        if self.readyState != "live" or self._closed.done():
            raise MediaStreamError
        if self._on_first_read is not None:
            self._on_first_read()
            self._on_first_read = None
        read = asyncio.ensure_future(self.inner.recv())
        self._idle.clear()
        try:
            done, _ = await asyncio.wait({read, self._closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not read.done():
                read.cancel()
            self._idle.set()
        if read not in done:
            raise MediaStreamError
        return read.result()

    async def close(self) -> None:
        """End the read in progress, wait until the reader has seen the end, stop the source."""
        if not self._closed.done():
            self._closed.set_result(None)
        await self._idle.wait()
        # For a MediaPlayer track this joins its decoding thread, which notices within one
        # frame or audio period, and closes the container: the device is free afterwards.
        self.inner.stop()
        self.stop()


class MediaDevice:
    """An opened media source: one capture (or file, or generator), shared by many consumers.

    Every consumer (a preview, a peer connection, a snapshot) takes its own track from
    :meth:`subscribe`; aiortc's ``MediaRelay`` copies each frame of the source to all of
    them, so a camera is opened once. Closing the device ends every subscribed track and
    releases the camera or sound card.

    Args:
        source: What to open.
        clock: Time source of synthetic tracks (real time by default).

    Examples:
        >>> import asyncio
        >>> async def main():
        ...     async with MediaDevice(MediaSource.synthetic(Role.STETHOSCOPE, sample_rate=8000)) as steth:
        ...         frame = await steth.subscribe().recv()
        ...     return frame.sample_rate, steth.closed
        >>> asyncio.run(main())
        (8000, True)
    """

    def __init__(self, source: MediaSource, *, clock: Clock | None = None) -> None:
        self.source = source
        self._clock = clock
        self._relay = MediaRelay()
        self._track: _GuardedTrack | None = None
        self._drain: MediaBlackhole | None = None
        self._drained: MediaStreamTrack | None = None
        self._drain_task: asyncio.Future[None] | None = None
        self._consumers: list[MediaStreamTrack] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    @property
    def kind(self) -> str:
        """``"video"`` or ``"audio"``."""
        return self.source.kind

    async def open(self) -> Self:
        """Open the device, file or generator; a second call does nothing.

        Raises:
            MediaDeviceError: The device or file cannot be opened (the PyAV error is the
                cause), it has no stream of the source's kind, or the platform has no
                capture backend for it.
        """
        if self._closed:
            raise self._error("the device was closed; open a new MediaDevice")
        if self._track is not None:
            return self
        if self.source.origin is Origin.SYNTHETIC:
            self._track = _GuardedTrack(SYNTHETIC_TRACKS[self.source.role](self.source, self._clock))
        else:
            self._track = await self._open_player()
        return self

    async def _open_player(self) -> _GuardedTrack:
        source = self.source
        file, backend, options = player_arguments(source)
        if source.origin is Origin.DEVICE:
            if backend is None:
                raise self._error(f"no capture backend known on {sys.platform}; set MediaSource.backend")
            if not has_input_format(backend):
                raise self._error(f"PyAV {av.__version__}'s FFmpeg has no {backend!r} input")
        try:
            player = await asyncio.to_thread(
                MediaPlayer, file, format=backend, options=options or None, loop=source.loop
            )
        except (av.FFmpegError, OSError, ValueError, AssertionError) as exc:
            raise self._error(f"cannot open: {exc or type(exc).__name__}") from exc
        wanted, other = (
            (player.video, player.audio) if source.kind == "video" else (player.audio, player.video)
        )
        if wanted is None or self._closed:
            for track in (wanted, other):
                if track is not None:
                    track.stop()  # the player closes its container when its last track stops
            if self._closed:  # aclose() ran while the device was being opened
                raise self._error("closed while opening")
            raise self._error(f"has no {source.kind} stream")
        if other is None:
            return _GuardedTrack(wanted)
        # A file with audio and video decodes both: drain the stream nobody asked for,
        # from the moment ours is first read, so its frames do not pile up.
        self._drained = other
        self._drain = MediaBlackhole()
        self._drain.addTrack(other)
        return _GuardedTrack(wanted, on_first_read=self._start_drain)

    def _start_drain(self) -> None:
        if self._drain is not None and not self._closed:
            self._drain_task = asyncio.ensure_future(self._drain.start())

    def subscribe(self, *, buffered: bool | None = None) -> MediaStreamTrack:
        """A new track carrying this source's frames, for one consumer.

        Args:
            buffered: Queue every frame for this consumer (no loss, but latency grows if
                it is slow) or hand it only the newest frame. ``None``: buffered for audio
                (gaps are audible), newest-frame for video (a late picture is worse than
                a skipped one).

        Raises:
            MediaDeviceError: The device is not open or already closed.
        """
        if self._closed or self._track is None:
            raise self._error("not open; use 'async with MediaDevice(...)' or 'await device.open()'")
        proxy = self._relay.subscribe(
            self._track, buffered=self.kind == "audio" if buffered is None else buffered
        )
        self._consumers.append(proxy)
        return proxy

    async def snapshot(self, image_format: ImageFormat = "png", *, timeout: float = 5.0) -> Snapshot:
        """The next frame of this camera at its full resolution, as a PNG or JPEG image.

        Raises:
            MediaDeviceError: Not a camera, not open, the source ended, or no frame came
                within ``timeout`` seconds.
        """
        async with self._camera_track("a snapshot", buffered=False) as track:
            return await take_snapshot(track, image_format, timeout=timeout)

    async def clip(self, seconds: float = 2.0, *, timeout: float = 5.0) -> Clip:
        """The next ``seconds`` of this camera at its full resolution, as a WebM (VP8) clip.

        Raises:
            MediaDeviceError: Not a camera, not open, the source ended, no frame came
                within ``timeout`` seconds, or the encoder failed.
        """
        async with self._camera_track("a clip", buffered=True) as track:
            return await record_clip(track, seconds, timeout=timeout)

    @contextlib.asynccontextmanager
    async def _camera_track(self, what: str, *, buffered: bool) -> AsyncIterator[MediaStreamTrack]:
        """A subscription of this camera for one capture, stopped after it; errors name the device."""
        if self.kind != "video":
            raise self._error(f"{what} needs a camera")
        track = self.subscribe(buffered=buffered)
        try:
            yield track
        except MediaDeviceError as exc:
            raise self._error(exc.reason) from exc
        finally:
            track.stop()
            if track in self._consumers:
                self._consumers.remove(track)

    async def aclose(self) -> None:
        """End every subscribed track and release the device; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._track is not None:
            await self._track.close()
        for consumer in self._consumers:
            consumer.stop()
        self._consumers.clear()
        if self._drain_task is not None:
            await self._drain_task
        if self._drain is not None:
            await self._drain.stop()
        if self._drained is not None:
            self._drained.stop()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _error(self, reason: str) -> MediaDeviceError:
        return MediaDeviceError(self.source.name, self.source.kind, reason)


async def open_source(source: MediaSource, *, clock: Clock | None = None) -> MediaDevice:
    """Open ``source`` and return the :class:`MediaDevice`; close it with ``aclose()``.

    Examples:
        >>> import asyncio
        >>> async def main():
        ...     camera = await open_source(MediaSource.synthetic(Role.EXAM_CAMERA, width=640, height=480))
        ...     try:
        ...         return (await camera.snapshot("png")).width
        ...     finally:
        ...         await camera.aclose()
        >>> asyncio.run(main())
        640
    """
    return await MediaDevice(source, clock=clock).open()
