"""What happens in the apartment, as the patient's screen (and an integrator) hears it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from telemedroom.monitoring import Alert

__all__ = [
    "AlertChanged",
    "ApartmentEvent",
    "CallChanged",
    "CallState",
    "DeviceChanged",
    "NoteAdded",
    "ReadingAccepted",
    "RecordRefused",
]

CallState = Literal["unavailable", "idle", "calling", "ringing", "in_call", "ended", "failed"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime


class ReadingAccepted(_Event):
    """A reading is in the journal (and on its way to the clinic).

    Attributes:
        kind: The measurement kind (``"body_weight"``).
        device: The paired device's address, ``None`` for a reading entered otherwise.
    """

    type: Literal["reading"] = "reading"
    kind: str
    device: str | None = None


class AlertChanged(_Event):
    """An alert was raised, escalated, acknowledged or cleared (care plan or device).

    Attributes:
        change: What happened to it.
        alert: The alert as it is now.
    """

    type: Literal["alert"] = "alert"
    change: Literal["raised", "escalated", "acknowledged", "cleared"]
    alert: Alert


class DeviceChanged(_Event):
    """A paired device connected, was let go, or reported its battery.

    Attributes:
        address: Its Bluetooth address.
        status: ``"connected"``, ``"done"`` or ``"failed"``.
        battery: Its battery level, when it was read.
    """

    type: Literal["device"] = "device"
    address: str
    status: Literal["connected", "done", "failed"]
    battery: int | None = None


class NoteAdded(_Event):
    """The ward left a message for the patient.

    Attributes:
        text: The message.
        by: Who wrote it.
    """

    type: Literal["note"] = "note"
    text: str
    by: str


class CallChanged(_Event):
    """The video line to the ward changed state.

    Attributes:
        state: ``idle``, ``calling`` (waiting for the ward), ``ringing`` (the ward calls),
            ``in_call``, ``ended``, ``failed`` or ``unavailable`` (no ward configured).
        reason: Why it ended or failed, if known; during a call, why it is not
            multi-party (``sfu_unavailable: ...``: the ward's SFU could not be reached,
            so one nurse or physician talks with the patient peer to peer).
        participants: Who of the ward is in the call, by their shown names (a
            multi-party call through the clinic's SFU lists each one).
    """

    type: Literal["call"] = "call"
    state: CallState
    reason: str | None = None
    participants: tuple[str, ...] = ()


class RecordRefused(_Event):
    """The clinic's FHIR server refused a record for good: it stays in the outbox, held back.

    The hub's fleet view flags the apartment (its heartbeat counts the held-back records)
    and ``telemedroom apartment serve`` prints it; nothing is sent again until someone
    has looked (``Outbox.requeue``). The patient's screen shows nothing of it.

    Attributes:
        outbox_row: The record's row in the apartment's outbox.
        status: The HTTP status of the refusal (0: not an HTTP answer).
        reason: The server's answer in one line.

    Examples:
        >>> from datetime import datetime, UTC
        >>> RecordRefused(at=datetime(2026, 12, 3, tzinfo=UTC), outbox_row=4, status=422,
        ...               reason="FHIR server answered 422").type
        'record_refused'
    """

    type: Literal["record_refused"] = "record_refused"
    outbox_row: int
    status: int
    reason: str


ApartmentEvent = Annotated[
    ReadingAccepted | AlertChanged | DeviceChanged | NoteAdded | CallChanged | RecordRefused,
    Field(discriminator="type"),
]
