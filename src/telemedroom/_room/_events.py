"""What the room tells its observers: one frozen model per event, a union on ``type``.

The wire form is ``event.model_dump(mode="json")``: one JSON object per event. No event
carries the patient's name, a token or a booking code; the only names are those of the
staff and companions in the visit (``Admitted``, ``ParticipantsChanged``), as shown on the
kiosk's screen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "Admitted",
    "CheckInRejected",
    "CheckedIn",
    "CleaningStarted",
    "DeviceKind",
    "DeviceStep",
    "ExamStep",
    "ParticipantsChanged",
    "ReadingTaken",
    "RecordDelivered",
    "RecordRejected",
    "RoomErrorEvent",
    "RoomEvent",
    "RoomState",
    "SnapshotTaken",
    "StateChanged",
    "VisitParticipant",
    "VisitWrappedUp",
    "WaitingRoom",
    "parse_event",
]


class RoomState(StrEnum):
    """Where the room is in a visit (see the transition table in ``telemedroom.room``).

    Examples:
        >>> RoomState("waiting")
        <RoomState.WAITING: 'waiting'>
    """

    IDLE = "idle"
    CHECKED_IN = "checked_in"
    MEASURING = "measuring"
    WAITING = "waiting"
    IN_CONSULTATION = "in_consultation"
    WRAP_UP = "wrap_up"
    CLEANING = "cleaning"


DeviceKind = Literal["blood_pressure", "pulse_oximeter", "thermometer", "scale", "glucometer", "heart_rate"]
Language = Literal["de", "en"]


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StateChanged(_Event):
    """The room entered ``state`` (the first event every subscriber gets is the current one).

    Examples:
        >>> StateChanged(state=RoomState.IDLE, previous=None, visit_id=None).model_dump(mode="json")["type"]
        'state'
    """

    type: Literal["state"] = "state"
    state: RoomState
    previous: RoomState | None
    visit_id: str | None
    at: datetime = Field(default_factory=_now)


class CheckedIn(_Event):
    """A booking code was accepted; ``devices`` is the guided order of the measurements.

    Examples:
        >>> CheckedIn(visit_id="v1", appointment_id="a1", language="de", devices=["scale"]).devices
        ['scale']
    """

    type: Literal["checked_in"] = "checked_in"
    visit_id: str
    appointment_id: str
    language: Language
    devices: list[DeviceKind]


class CheckInRejected(_Event):
    """A booking code was refused: ``unknown_code``, ``too_many_attempts``, ``not_now``, ``busy``.

    Examples:
        >>> CheckInRejected(reason="unknown_code").reason
        'unknown_code'
    """

    type: Literal["check_in_rejected"] = "check_in_rejected"
    reason: str


class DeviceStep(_Event):
    """Progress of one device in the guided measurement.

    ``instruction`` is an i18n key for the kiosk (``put_on_cuff``, ``clip_oximeter``, ...);
    ``index`` counts from 0 within ``total`` devices; ``attempt`` from 1.

    Examples:
        >>> DeviceStep(device="blood_pressure", status="measuring", attempt=1,
        ...            instruction="put_on_cuff", index=0, total=3).status
        'measuring'
    """

    type: Literal["device_step"] = "device_step"
    device: DeviceKind
    status: Literal["waiting", "connecting", "measuring", "done", "failed", "skipped"]
    attempt: int
    instruction: str
    index: int
    total: int
    detail: str | None = None


class ReadingTaken(_Event):
    """A final reading arrived (``measurement`` is the Measurement's JSON form).

    ``live`` is true for a reading taken during the consultation (see ``docs/room.md``).

    Examples:
        >>> ReadingTaken(device="scale", measurement={"value": 72.4}, summary="72.4 kg").summary
        '72.4 kg'
    """

    type: Literal["reading"] = "reading"
    device: DeviceKind
    measurement: dict[str, Any]
    summary: str
    live: bool = False


class WaitingRoom(_Event):
    """The room waits for the physician (``position`` in the queue, if known).

    Examples:
        >>> WaitingRoom(position=None).type
        'waiting'
    """

    type: Literal["waiting"] = "waiting"
    position: int | None = None


class Admitted(_Event):
    """The physician admitted the room (``physician`` is a display name at most).

    Examples:
        >>> Admitted(physician=None).type
        'admitted'
    """

    type: Literal["admitted"] = "admitted"
    physician: str | None = None


class ExamStep(_Event):
    """A step of a guided examination protocol (``telemedroom.exams.facial`` step codes).

    Examples:
        >>> ExamStep(step="rest", index=0, total=9, countdown=3, phase="instruct").countdown
        3
    """

    type: Literal["exam_step"] = "exam_step"
    step: str
    index: int
    total: int
    countdown: int
    phase: Literal["instruct", "capture", "done"]


class SnapshotTaken(_Event):
    """A still was captured and kept for the record as FHIR ``Media``.

    Examples:
        >>> SnapshotTaken(camera="exam", media_id="m-1", step=None).camera
        'exam'
    """

    type: Literal["snapshot"] = "snapshot"
    camera: Literal["room", "exam"]
    media_id: str
    step: str | None = None


class VisitWrappedUp(_Event):
    """The visit's record is in the outbox: one transaction of ``outbox_ids``.

    Examples:
        >>> VisitWrappedUp(visit_id="v1", encounter_id="e1", observations=4, media=1,
        ...                outbox_ids=[7]).observations
        4
    """

    type: Literal["wrapped_up"] = "wrapped_up"
    visit_id: str
    encounter_id: str
    observations: int
    media: int
    outbox_ids: list[int]


class CleaningStarted(_Event):
    """The cleaning buffer began; the room is free again at ``until``.

    Examples:
        >>> from datetime import datetime, UTC
        >>> CleaningStarted(until=datetime(2026, 11, 25, 10, tzinfo=UTC)).type
        'cleaning'
    """

    type: Literal["cleaning"] = "cleaning"
    until: datetime


class RoomErrorEvent(_Event):
    """Something failed in ``state``; ``message`` holds no health data and no token.

    Examples:
        >>> RoomErrorEvent(state=RoomState.MEASURING, message="cuff not found").type
        'error'
    """

    type: Literal["error"] = "error"
    state: RoomState
    message: str


class RecordRejected(_Event):
    """The clinic's FHIR server refused a record for good: it stays in the outbox, ``rejected``.

    ``outbox_row`` names it for ``telemedroom outbox status`` and ``outbox requeue`` (send
    it again once the cause is fixed); ``reason`` is the server's answer in one line and
    ``issues`` its ``OperationOutcome`` issues (severity, code, diagnostics, expression).

    Examples:
        >>> RecordRejected(outbox_row=3, status=400, reason="FHIR server answered 400 ...").type
        'record_rejected'
    """

    type: Literal["record_rejected"] = "record_rejected"
    outbox_row: int
    status: int
    reason: str
    issues: list[dict[str, Any]] = Field(default_factory=list)


class RecordDelivered(_Event):
    """A record the server had refused was requeued and is now delivered: the refusal is over.

    Follows a :class:`RecordRejected` of the same ``outbox_row`` (the kiosk's operator
    status clears it).

    Examples:
        >>> RecordDelivered(outbox_row=3).type
        'record_delivered'
    """

    type: Literal["record_delivered"] = "record_delivered"
    outbox_row: int


class VisitParticipant(BaseModel):
    """One admitted participant of a multi-party visit, as the kiosk shows them.

    ``name`` is the shown name the participant's join token carries (no health data);
    ``role`` is ``physician``, ``interpreter`` or ``companion``; ``speaking`` is set while
    their voice is heard (with hysteresis, see docs/sfu.md).

    Examples:
        >>> VisitParticipant(id="in-2", role="interpreter", name="A. Yilmaz", speaking=True).speaking
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    role: str
    name: str
    speaking: bool = False


class ParticipantsChanged(_Event):
    """Who is in a visit through the SFU and who speaks (sent on a change, at most 4 per second).

    Examples:
        >>> event = ParticipantsChanged(participants=[
        ...     VisitParticipant(id="ph-1", role="physician", name="Dr. Weber"),
        ...     VisitParticipant(id="in-2", role="interpreter", name="A. Yilmaz", speaking=True)])
        >>> event.type, [q.name for q in event.participants if q.speaking]
        ('participants', ['A. Yilmaz'])
    """

    type: Literal["participants"] = "participants"
    participants: list[VisitParticipant]


RoomEvent = Annotated[
    StateChanged
    | CheckedIn
    | CheckInRejected
    | DeviceStep
    | ReadingTaken
    | WaitingRoom
    | Admitted
    | ExamStep
    | SnapshotTaken
    | VisitWrappedUp
    | CleaningStarted
    | RoomErrorEvent
    | RecordRejected
    | RecordDelivered
    | ParticipantsChanged,
    Field(discriminator="type"),
]
"""Any room event; ``type`` tells which."""

_ADAPTER: TypeAdapter[RoomEvent] = TypeAdapter(RoomEvent)


def parse_event(data: dict[str, Any] | str | bytes) -> RoomEvent:
    """An event from its wire form (a JSON object, as text or already parsed).

    Examples:
        >>> parse_event('{"type": "waiting", "position": 2}')
        WaitingRoom(type='waiting', position=2)
    """
    if isinstance(data, str | bytes):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)
