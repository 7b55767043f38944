"""Cameras, microphone and digital stethoscope as aiortc media tracks (extra ``video``).

A :class:`MediaSource` says what a source is (its :class:`Role` in the room, where it
comes from, its format); a :class:`MediaDevice` opens it: a V4L2 camera or ALSA card
through aiortc's ``MediaPlayer``, a media file, or a synthetic generator
(:class:`TestPatternTrack`, :class:`HeartbeatTrack`, :class:`ToneTrack`). Each consumer
takes its own track with :meth:`MediaDevice.subscribe` (aiortc's ``MediaRelay`` shares
the one capture), and :meth:`MediaDevice.snapshot` grabs a full-resolution still as PNG
or JPEG, :meth:`MediaDevice.clip` a few seconds as a WebM (VP8) :class:`Clip`.
:func:`list_capture_devices` finds the cameras and sound cards Linux exposes.

Importing this module needs ``pip install 'telemedroom[video]'`` (aiortc and PyAV);
without it the import raises :class:`~telemedroom.errors.MissingExtraError`.

Examples:
    >>> import asyncio
    >>> from telemedroom.devices import media
    >>> async def visit():
    ...     exam = media.MediaSource.synthetic(media.Role.EXAM_CAMERA)
    ...     async with media.MediaDevice(exam) as camera:
    ...         to_physician = camera.subscribe()  # e.g. for RTCPeerConnection.addTrack
    ...         still = await camera.snapshot("png")
    ...     return still.media_type, still.width, still.height, to_physician.readyState
    >>> asyncio.run(visit())
    ('image/png', 1920, 1080, 'ended')
"""

from __future__ import annotations

from telemedroom import errors as _errors

try:
    import aiortc  # noqa: F401
    import av  # noqa: F401
except ImportError as _exc:
    raise _errors.MissingExtraError("video", "telemedroom.devices.media") from _exc

from telemedroom.devices._media._clip import CLIP_MEDIA_TYPE, Clip, record_clip
from telemedroom.devices._media._device import MediaDevice, open_source
from telemedroom.devices._media._enumerate import CaptureDevice, list_capture_devices
from telemedroom.devices._media._snapshot import Snapshot, encode_snapshot, take_snapshot
from telemedroom.devices._media._source import MediaSource, Origin, Role
from telemedroom.devices._media._tracks import (
    Clock,
    HeartbeatTrack,
    SystemClock,
    TestPatternTrack,
    ToneTrack,
)

__all__ = [
    "CLIP_MEDIA_TYPE",
    "CaptureDevice",
    "Clip",
    "Clock",
    "HeartbeatTrack",
    "MediaDevice",
    "MediaSource",
    "Origin",
    "Role",
    "Snapshot",
    "SystemClock",
    "TestPatternTrack",
    "ToneTrack",
    "encode_snapshot",
    "list_capture_devices",
    "open_source",
    "record_clip",
    "take_snapshot",
]

# Show the public path in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
