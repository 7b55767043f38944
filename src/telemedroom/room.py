"""The room: one configuration, one facade, a visit from check-in to the FHIR record.

:class:`Room` wires the Bluetooth devices (:class:`~telemedroom.devices.DeviceManager`),
the consultation (:class:`~telemedroom.session.peer.RoomPeer`), the FHIR outbox
(:class:`~telemedroom.fhir.Outbox` with a :class:`~telemedroom.fhir.FhirClient` or the
NDJSON :class:`~telemedroom.fhir.FileSink`), the schedule
(:class:`~telemedroom.scheduling.Scheduler`) and the audit log
(:class:`~telemedroom.session.AuditLog`) from one :class:`RoomConfig`, and runs each
visit as the state machine of :data:`TRANSITIONS`. Every step is an event
(:meth:`Room.events`), so an integrator builds any user interface on it.

Examples:
    >>> from telemedroom.room import TRANSITIONS, RoomState
    >>> TRANSITIONS[(RoomState.IDLE, "check_in")]
    <RoomState.CHECKED_IN: 'checked_in'>
    >>> sorted(state.value for (state, action) in TRANSITIONS if action == "abort")
    ['checked_in', 'in_consultation', 'measuring', 'waiting']
"""

from __future__ import annotations

from contextlib import suppress as _suppress

from telemedroom._room._config import (
    FhirSettings,
    HubLinkSettings,
    IceServerSettings,
    KioskSettings,
    MediaSettings,
    RoomConfig,
    ScheduleSettings,
    SessionSettings,
)
from telemedroom._room._devices import DEVICE_GUIDE, DeviceGuide
from telemedroom._room._events import (
    Admitted,
    CheckedIn,
    CheckInRejected,
    CleaningStarted,
    DeviceKind,
    DeviceStep,
    ExamStep,
    ParticipantsChanged,
    ReadingTaken,
    RecordDelivered,
    RecordRejected,
    RoomErrorEvent,
    RoomEvent,
    RoomState,
    SnapshotTaken,
    StateChanged,
    VisitParticipant,
    VisitWrappedUp,
    WaitingRoom,
    parse_event,
)
from telemedroom._room._machine import ABORTABLE, TRANSITIONS, Action, next_state
from telemedroom._room._models import KioskTracks, Visit, VisitSummary
from telemedroom._room._room import Room
from telemedroom._room._summary import summary_of

__all__ = [
    "ABORTABLE",
    "DEVICE_GUIDE",
    "TRANSITIONS",
    "Action",
    "Admitted",
    "CheckInRejected",
    "CheckedIn",
    "CleaningStarted",
    "DeviceGuide",
    "DeviceKind",
    "DeviceStep",
    "ExamStep",
    "FhirSettings",
    "HubLinkSettings",
    "IceServerSettings",
    "KioskSettings",
    "KioskTracks",
    "MediaSettings",
    "ParticipantsChanged",
    "ReadingTaken",
    "Room",
    "RoomConfig",
    "RecordDelivered",
    "RecordRejected",
    "RoomErrorEvent",
    "RoomEvent",
    "RoomState",
    "ScheduleSettings",
    "SessionSettings",
    "SnapshotTaken",
    "StateChanged",
    "Visit",
    "VisitParticipant",
    "VisitSummary",
    "VisitWrappedUp",
    "WaitingRoom",
    "next_state",
    "parse_event",
    "summary_of",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        with _suppress(AttributeError, TypeError):  # typing aliases keep theirs
            _obj.__module__ = __name__
del _name, _obj
