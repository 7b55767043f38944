"""What travels on the peer connection's data channels: live vitals and physician requests.

- ``vitals`` (room -> physician, ordered, reliable): one JSON message per
  :class:`~telemedroom.Measurement`, sent the moment it is decoded:
  ``{"v": 1, "type": "measurement", "sent_at": ..., "measurement": {...}}``, the
  measurement as its pydantic JSON (``kind`` names the model).
- ``control`` (both ways): a physician :class:`Request` with an ``id``; the room answers a
  :class:`Response` with the same ``id``. A snapshot answer announces ``chunks``; the
  image follows as that many :class:`Chunk` messages of base64, so no message exceeds the
  64 KiB SCTP message size browsers accept (RFC 8841 ``max-message-size``).

Examples:
    >>> from telemedroom import HeartRate
    >>> text = encode_measurement(HeartRate(bpm=72))
    >>> decode_measurement(text) == HeartRate(bpm=72)
    True
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from telemedroom.errors import PeerError
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

__all__ = [
    "CHUNK_BYTES",
    "AnyMeasurement",
    "CONTROL",
    "VITALS",
    "VITALS_VERSION",
    "Chunk",
    "Request",
    "Response",
    "decode_measurement",
    "encode_measurement",
]

VITALS: Final = "vitals"
CONTROL: Final = "control"
VITALS_VERSION: Final = 1
CHUNK_BYTES: Final = 36 * 1024  # 48 KiB of base64 per chunk

AnyMeasurement = Annotated[
    BloodPressure | HeartRate | OxygenSaturation | BodyTemperature | BodyWeight | BloodGlucose,
    Field(discriminator="kind"),
]
_MEASUREMENT: Final[TypeAdapter[AnyMeasurement]] = TypeAdapter(AnyMeasurement)


def encode_measurement(measurement: Measurement, *, sent_at: datetime | None = None) -> str:
    """The ``vitals`` channel message for one measurement."""
    return json.dumps(
        {
            "v": VITALS_VERSION,
            "type": "measurement",
            "sent_at": (sent_at or datetime.now(UTC)).isoformat(),
            "measurement": measurement.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


def decode_measurement(text: str | bytes) -> Measurement:
    """The measurement in a ``vitals`` channel message.

    Raises:
        PeerError: Not a version-1 measurement message.
    """
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != VITALS_VERSION or data.get("type") != "measurement":
            raise ValueError("not a version-1 measurement message")
        measurement: Measurement = _MEASUREMENT.validate_python(data["measurement"])
    except (ValueError, KeyError, ValidationError) as exc:
        raise PeerError(f"bad vitals message: {exc}") from exc
    return measurement


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Request(_Message):
    """A physician's request on the ``control`` channel.

    Attributes:
        id: Chosen by the physician; the response carries it back.
        op: ``snapshot`` (a still from the exam camera), ``switch_camera`` (which camera
            the main video shows) or ``stethoscope`` (stream it or not).
        camera: For ``switch_camera``: ``room`` or ``exam``.
        on: For ``stethoscope``.
        format: For ``snapshot``: ``png`` (lossless, default) or ``jpeg``.
    """

    id: Annotated[int, Field(ge=0)]
    op: Literal["snapshot", "switch_camera", "stethoscope"]
    camera: Literal["room", "exam"] | None = None
    on: bool | None = None
    format: Literal["png", "jpeg"] = "png"


class Response(_Message):
    """The room's answer to a :class:`Request`.

    Attributes:
        id: The request's id.
        ok: Whether it was done.
        error: Why not.
        media_type: Snapshot: ``image/png`` or ``image/jpeg``.
        width: Snapshot width in pixels.
        height: Snapshot height.
        captured_at: Snapshot time.
        chunks: Snapshot: how many :class:`Chunk` messages follow.
    """

    id: int
    ok: bool
    error: str | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None
    chunks: int | None = None


class Chunk(_Message):
    """Part ``index`` of a snapshot image, base64."""

    id: int
    index: int
    data: str
