"""What travels on the peer connection's data channels: live vitals and physician requests.

- ``vitals`` (room -> physician, ordered, reliable): one JSON message per
  :class:`~telemedroom.Measurement`, sent the moment it is decoded:
  ``{"v": 1, "type": "measurement", "sent_at": ..., "measurement": {...}}``, the
  measurement as its pydantic JSON (``kind`` names the model).
- ``control`` (both ways): a physician :class:`Request` with an ``id``; the room answers a
  :class:`Response` with the same ``id``. A snapshot answer announces ``chunks``; the
  image follows as that many :class:`Chunk` messages of base64, so no message exceeds the
  64 KiB SCTP message size browsers accept (RFC 8841 ``max-message-size``).
- The guided facial protocol (:mod:`telemedroom.exams.facial`) on the same channel:
  ``exam_forms`` answers the protocol steps and the two grading Questionnaires (chunks of
  JSON, ``media_type`` ``application/json``); ``exam_step`` runs one step: the room sends
  :class:`ExamProgress` messages (instruction with countdown, capture, done), then the
  still as a snapshot answer, its chunks followed by ``clip_chunks`` chunks of the
  optional WebM clip; ``exam_record`` hands the physician's grading to the room, which
  writes the exam as one FHIR transaction and answers the resources written;
  ``exam_compare`` answers :func:`~telemedroom.exams.compare_visits` of the previous
  visit and this one as JSON chunks (each still a FHIR ``Media``), with each facial
  measurement's ``trend`` across the visits when the room measures faces;
  ``exam_measure`` (``step``) answers that step's still's landmarks and measurements as
  JSON chunks (a measurement aid, not a diagnosis).

Examples:
    >>> from telemedroom import HeartRate
    >>> text = encode_measurement(HeartRate(bpm=72))
    >>> decode_measurement(text) == HeartRate(bpm=72)
    True
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

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
    "JSON_CHUNK_CHARS",
    "AnyMeasurement",
    "CONTROL",
    "VITALS",
    "VITALS_VERSION",
    "Chunk",
    "chunked",
    "ExamPhase",
    "ExamProgress",
    "Op",
    "Request",
    "Response",
    "decode_measurement",
    "encode_measurement",
]

VITALS: Final = "vitals"
CONTROL: Final = "control"
VITALS_VERSION: Final = 1
CHUNK_BYTES: Final = 36 * 1024  # 48 KiB of base64 per chunk
# A JSON answer is ASCII (json.dumps escapes the rest); on the wire a chunk's text is
# escaped again, at most doubling it (every '"' and '\\'), so half of CHUNK_BYTES stays
# under 64 KiB whatever the text.
JSON_CHUNK_CHARS: Final = CHUNK_BYTES // 2

AnyMeasurement = Annotated[
    BloodPressure | HeartRate | OxygenSaturation | BodyTemperature | BodyWeight | BloodGlucose,
    Field(discriminator="kind"),
]
_MEASUREMENT: Final[TypeAdapter[AnyMeasurement]] = TypeAdapter(AnyMeasurement)


def chunked(text: str, size: int = CHUNK_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``size`` characters (at least one, maybe empty).

    Examples:
        >>> chunked("abcde", 2)
        ['ab', 'cd', 'e']
    """
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


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


Op = Literal[
    "snapshot",
    "switch_camera",
    "stethoscope",
    "exam_forms",
    "exam_step",
    "exam_record",
    "exam_compare",
    "exam_measure",
]
"""The requests a physician can make on ``control``."""

ExamPhase = Literal["instruct", "capture", "done"]
"""Where a protocol step is: the kiosk counts down, the still is being taken, it was taken."""


class Request(_Message):
    """A physician's request on the ``control`` channel.

    Attributes:
        id: Chosen by the physician; the response carries it back.
        op: ``snapshot`` (a still from the exam camera), ``switch_camera`` (which camera
            the main video shows), ``stethoscope`` (stream it or not), or one of the
            facial protocol's ``exam_forms``, ``exam_step``, ``exam_record``,
            ``exam_compare`` (see the module docstring).
        camera: For ``switch_camera``: ``room`` or ``exam``.
        on: For ``stethoscope``.
        format: For ``snapshot`` and ``exam_step``: ``png`` (lossless, default) or ``jpeg``.
        step: For ``exam_step`` and ``exam_measure``: the protocol step's code (``smile-with-teeth``).
        index: For ``exam_step``: the step's position in this run, from 0.
        total: For ``exam_step``: how many steps this run has.
        clip: For ``exam_step``: also record a short clip of the expression.
        sunnybrook: For ``exam_record``: the Sunnybrook answers, as
            :class:`~telemedroom.exams.SunnybrookGrading` takes them.
        house_brackmann: For ``exam_record``: the grade, ``I`` to ``VI``.

    Examples:
        >>> Request(id=3, op="exam_step", step="rest", index=0, total=8).clip
        False
    """

    id: Annotated[int, Field(ge=0)]
    op: Op
    camera: Literal["room", "exam"] | None = None
    on: bool | None = None
    format: Literal["png", "jpeg"] = "png"
    step: str | None = None
    index: Annotated[int, Field(ge=0)] | None = None
    total: Annotated[int, Field(ge=1)] | None = None
    clip: bool = False
    sunnybrook: dict[str, Any] | None = None
    house_brackmann: str | None = None


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
        chunks: Snapshot: how many :class:`Chunk` messages follow (JSON answers: the
            concatenated chunks are the JSON text, ``media_type`` ``application/json``).
        step: ``exam_step``: the protocol step the still shows.
        clip_media_type: ``exam_step`` with a clip: ``video/webm``.
        clip_chunks: How many chunks of the clip follow the still's (their ``index``
            goes on from ``chunks``).
        resources: ``exam_record``: the FHIR resources written (``Media/<id>``, ...).
        scores: ``exam_record``: the Sunnybrook scores the room computed (``resting``,
            ``voluntary``, ``synkinesis``, ``composite``).
    """

    id: int
    ok: bool
    error: str | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None
    chunks: int | None = None
    step: str | None = None
    clip_media_type: str | None = None
    clip_chunks: int | None = None
    resources: list[str] | None = None
    scores: dict[str, int] | None = None

    @property
    def total_chunks(self) -> int:
        """How many :class:`Chunk` messages follow this answer in all."""
        return (self.chunks or 0) + (self.clip_chunks or 0)


class ExamProgress(_Message):
    """Room to physician while an ``exam_step`` runs: what the kiosk shows now.

    Attributes:
        id: The ``exam_step`` request's id.
        step: The protocol step's code.
        index: Its position in the run, from 0.
        total: Steps in the run.
        countdown: Seconds left before the still (0 = now).
        phase: ``instruct`` (counting down), ``capture`` or ``done``.

    Examples:
        >>> ExamProgress(id=3, step="rest", index=0, total=8, countdown=2, phase="instruct").phase
        'instruct'
    """

    id: int
    step: str
    index: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=1)]
    countdown: Annotated[int, Field(ge=0)]
    phase: ExamPhase


class Chunk(_Message):
    """Part ``index`` of a snapshot image or clip (base64), or of a JSON answer (text)."""

    id: int
    index: int
    data: str
