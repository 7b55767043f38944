"""FHIR R4B ``Schedule``, ``Slot`` and ``Appointment`` from and to the scheduling models.

Pure functions over :mod:`fhir.resources` R4B models, lossless in both directions:
what FHIR has no element for (availability rules, closures, buffers, the slot's
further resources) travels in extensions under :data:`EXTENSION_BASE`. The time zone
uses the core extension ``http://hl7.org/fhir/StructureDefinition/timezone``.

Resource kinds map to the FHIR resource types that may be a Schedule's actor and an
Appointment's participant (FHIR R4B §12.12 Schedule.actor, §12.10 Appointment.participant):
room → Location, practitioner → Practitioner, device → Device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

from telemedroom.errors import InvalidScheduleData
from telemedroom.scheduling._models import (
    Appointment,
    AvailabilityRule,
    Closure,
    Resource,
    ResourceKind,
    Slot,
)

if TYPE_CHECKING:
    from fhir.resources.R4B.appointment import Appointment as FhirAppointment
    from fhir.resources.R4B.schedule import Schedule as FhirSchedule
    from fhir.resources.R4B.slot import Slot as FhirSlot

__all__ = [
    "BOOKING_CODE_SYSTEM",
    "EXTENSION_BASE",
    "SERVICE_SYSTEM",
    "appointment_from_fhir",
    "appointment_to_fhir",
    "fhir_slot_id",
    "resource_from_fhir",
    "schedule_to_fhir",
    "slot_from_fhir",
    "slot_to_fhir",
]

EXTENSION_BASE = "https://telemedroom.org/fhir/StructureDefinition/"
SERVICE_SYSTEM = "https://telemedroom.org/fhir/CodeSystem/service"
QUALIFICATION_SYSTEM = "https://telemedroom.org/fhir/CodeSystem/qualification"
BOOKING_CODE_SYSTEM = "https://telemedroom.org/fhir/NamingSystem/booking-code"
TIMEZONE_URL = "http://hl7.org/fhir/StructureDefinition/timezone"
_UCUM = "http://unitsofmeasure.org"

_TYPE_OF_KIND: Mapping[str, str] = {"room": "Location", "practitioner": "Practitioner", "device": "Device"}
_KIND_OF_TYPE: Mapping[str, ResourceKind] = {
    "Location": "room",
    "Practitioner": "practitioner",
    "Device": "device",
}

FhirSlotStatus = Literal["free", "busy", "busy-unavailable", "busy-tentative", "entered-in-error"]


def _ext(name: str) -> str:
    return EXTENSION_BASE + name


def _duration(value: timedelta) -> dict[str, Any]:
    return {"value": value.total_seconds(), "unit": "s", "system": _UCUM, "code": "s"}


def _seconds(duration: Any, where: str) -> timedelta:
    if duration is None or duration.value is None or duration.code != "s":
        raise InvalidScheduleData(where, duration, "expected a Duration in seconds (UCUM 's')")
    return timedelta(seconds=float(duration.value))


def _extensions(element: Any, url: str) -> list[Any]:
    return [e for e in (element.extension or []) if e.url == url]


def _one(element: Any, url: str, where: str) -> Any:
    found = _extensions(element, url)
    if len(found) != 1:
        raise InvalidScheduleData(where, url, f"expected one extension {url}, found {len(found)}")
    return found[0]


def _reference(resource_id: str, kinds: Mapping[str, ResourceKind]) -> str:
    try:
        return f"{_TYPE_OF_KIND[kinds[resource_id]]}/{resource_id}"
    except KeyError:
        raise InvalidScheduleData(
            "resource id", resource_id, "unknown resource; pass it in `resources`"
        ) from None


def _split(reference: str | None, where: str) -> tuple[str, str]:
    parts = (reference or "").split("/")
    if len(parts) != 2 or not all(parts):
        raise InvalidScheduleData(where, reference, "expected a relative reference Type/id")
    return parts[0], parts[1]


def _required(value: Any, where: str) -> Any:
    if value is None:
        raise InvalidScheduleData(where, value, "missing")
    return value


def _kinds(resources: Iterable[Resource] | Mapping[str, Resource]) -> dict[str, ResourceKind]:
    values = resources.values() if isinstance(resources, Mapping) else resources
    return {r.id: r.kind for r in values}


# -- Schedule <-> Resource --------------------------------------------------------------------------


def schedule_to_fhir(resource: Resource) -> FhirSchedule:
    """The FHIR ``Schedule`` of a resource, its rules and closures in extensions.

    Examples:
        >>> from telemedroom.scheduling import Resource
        >>> schedule = schedule_to_fhir(Resource(id="room-1", kind="room", name="Room 1"))
        >>> schedule.actor[0].reference, schedule.actor[0].display
        ('Location/room-1', 'Room 1')
    """
    from fhir.resources.R4B.schedule import Schedule as FhirSchedule

    extension: list[dict[str, Any]] = [{"url": TIMEZONE_URL, "valueCode": resource.timezone}]
    for rule in resource.availability:
        extension.append(
            {
                "url": _ext("availability-rule"),
                "extension": [
                    {"url": "rrule", "valueString": rule.rrule},
                    {"url": "starts", "valueDate": rule.starts.isoformat()},
                    {"url": "opens", "valueTime": rule.opens.isoformat()},
                    {"url": "closes", "valueTime": rule.closes.isoformat()},
                ],
            }
        )
    for closure in resource.closures:
        kind = "valueDateTime" if isinstance(closure.start, datetime) else "valueDate"
        extension.append(
            {
                "url": _ext("closure"),
                "extension": [
                    {"url": "start", kind: closure.start.isoformat()},
                    {"url": "end", kind: closure.end.isoformat()},
                    *([{"url": "reason", "valueString": closure.reason}] if closure.reason else []),
                ],
            }
        )
    return FhirSchedule.model_validate(
        {
            "resourceType": "Schedule",
            "id": resource.id,
            "active": True,
            "extension": extension,
            "actor": [
                {"reference": f"{_TYPE_OF_KIND[resource.kind]}/{resource.id}", "display": resource.name}
            ],
            "specialty": [
                {"coding": [{"system": QUALIFICATION_SYSTEM, "code": q}]}
                for q in sorted(resource.qualifications)
            ]
            or None,
        }
    )


def _sub(extension: Any, name: str, where: str) -> Any:
    found = [e for e in (extension.extension or []) if e.url == name]
    if len(found) != 1:
        raise InvalidScheduleData(where, name, f"expected one '{name}' in the extension")
    return found[0]


def _as_time(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def resource_from_fhir(schedule: FhirSchedule) -> Resource:
    """The :class:`Resource` a FHIR ``Schedule`` describes (inverse of :func:`schedule_to_fhir`).

    Raises:
        InvalidScheduleData: The Schedule's actor is not a Location, Practitioner or Device.

    Examples:
        >>> from telemedroom.scheduling import Resource
        >>> room = Resource(id="room-1", kind="room", name="Room 1")
        >>> resource_from_fhir(schedule_to_fhir(room)) == room
        True
    """
    actors = schedule.actor or []
    if len(actors) != 1:
        raise InvalidScheduleData("Schedule.actor", actors, "expected exactly one actor")
    kind_name, resource_id = _split(actors[0].reference, "Schedule.actor")
    if kind_name not in _KIND_OF_TYPE:
        raise InvalidScheduleData(
            "Schedule.actor", actors[0].reference, "not a Location, Practitioner or Device"
        )
    rules = []
    for ext in _extensions(schedule, _ext("availability-rule")):
        where = "Schedule.extension(availability-rule)"
        rules.append(
            AvailabilityRule(
                rrule=_sub(ext, "rrule", where).valueString,
                starts=date.fromisoformat(str(_sub(ext, "starts", where).valueDate)),
                opens=_as_time(_sub(ext, "opens", where).valueTime),
                closes=_as_time(_sub(ext, "closes", where).valueTime),
            )
        )
    closures = []
    for ext in _extensions(schedule, _ext("closure")):
        where = "Schedule.extension(closure)"
        start, end = _sub(ext, "start", where), _sub(ext, "end", where)
        reasons = [e.valueString for e in ext.extension or [] if e.url == "reason"]
        if start.valueDateTime is not None:
            closures.append(
                Closure(start=start.valueDateTime, end=end.valueDateTime, reason="".join(reasons))
            )
        else:
            closures.append(
                Closure(
                    start=date.fromisoformat(str(start.valueDate)),
                    end=date.fromisoformat(str(end.valueDate)),
                    reason="".join(reasons),
                )
            )
    zones = _extensions(schedule, TIMEZONE_URL)
    return Resource(
        id=resource_id,
        kind=_KIND_OF_TYPE[kind_name],
        name=actors[0].display or resource_id,
        timezone=zones[0].valueCode if zones else "Europe/Berlin",
        qualifications=frozenset(
            str(c.code)
            for s in schedule.specialty or []
            for c in s.coding or []
            if c.system == QUALIFICATION_SYSTEM
        ),
        availability=tuple(rules),
        closures=tuple(closures),
    )


# -- Slot <-> Slot ------------------------------------------------------------------------------------


def fhir_slot_id(slot: Slot) -> str:
    """A stable FHIR id for a slot: the same service, time and resources give the same id.

    Examples:
        >>> from datetime import UTC, datetime
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1",), start=datetime(2026, 3, 2, 8, tzinfo=UTC),
        ...          end=datetime(2026, 3, 2, 8, 20, tzinfo=UTC))
        >>> fhir_slot_id(s) == fhir_slot_id(s), len(fhir_slot_id(s))
        (True, 32)
    """
    key = "|".join(
        [
            slot.service_id,
            slot.start.isoformat(),
            slot.end.isoformat(),
            ",".join(slot.resource_ids),
            str(slot.buffer_before.total_seconds()),
            str(slot.buffer_after.total_seconds()),
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _slot_extensions(slot: Slot) -> list[dict[str, Any]]:
    return [
        *({"url": _ext("slot-resource"), "valueString": rid} for rid in slot.resource_ids),
        {"url": _ext("buffer-before"), "valueDuration": _duration(slot.buffer_before)},
        {"url": _ext("buffer-after"), "valueDuration": _duration(slot.buffer_after)},
    ]


def _slot_from_extensions(element: Any, service_id: str, start: datetime, end: datetime, where: str) -> Slot:
    resource_ids = tuple(e.valueString for e in _extensions(element, _ext("slot-resource")))
    return Slot(
        service_id=service_id,
        start=start,
        end=end,
        resource_ids=resource_ids,
        buffer_before=_seconds(_one(element, _ext("buffer-before"), where).valueDuration, where),
        buffer_after=_seconds(_one(element, _ext("buffer-after"), where).valueDuration, where),
    )


def _service_coding(service_id: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": SERVICE_SYSTEM, "code": service_id}]}]


def _service_id(element: Any, where: str) -> str:
    codes = [c.code for s in element.serviceType or [] for c in s.coding or [] if c.system == SERVICE_SYSTEM]
    if len(codes) != 1:
        raise InvalidScheduleData(where, element.serviceType, f"expected one coding from {SERVICE_SYSTEM}")
    return str(codes[0])


def slot_to_fhir(slot: Slot, *, status: FhirSlotStatus = "free") -> FhirSlot:
    """A FHIR ``Slot`` on the schedule of the slot's first resource (usually the room).

    Examples:
        >>> from datetime import UTC, datetime
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1", "dr-a"),
        ...          start=datetime(2026, 3, 2, 8, tzinfo=UTC), end=datetime(2026, 3, 2, 8, 20, tzinfo=UTC))
        >>> f = slot_to_fhir(s)
        >>> f.schedule.reference, f.status, f.serviceType[0].coding[0].code
        ('Schedule/room-1', 'free', 'gp-20')
    """
    from fhir.resources.R4B.slot import Slot as FhirSlot

    return FhirSlot.model_validate(
        {
            "resourceType": "Slot",
            "id": fhir_slot_id(slot),
            "extension": _slot_extensions(slot),
            "serviceType": _service_coding(slot.service_id),
            "schedule": {"reference": f"Schedule/{slot.resource_ids[0]}"},
            "status": status,
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
        }
    )


def slot_from_fhir(fhir_slot: FhirSlot) -> Slot:
    """The :class:`Slot` behind a FHIR ``Slot`` written by :func:`slot_to_fhir`.

    A Slot from elsewhere without the resource extensions gets its schedule's resource.

    Examples:
        >>> from datetime import UTC, datetime
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1", "dr-a"),
        ...          start=datetime(2026, 3, 2, 8, tzinfo=UTC), end=datetime(2026, 3, 2, 8, 20, tzinfo=UTC))
        >>> slot_from_fhir(slot_to_fhir(s)) == s
        True
    """
    where = "Slot"
    start = _required(fhir_slot.start, "Slot.start")
    end = _required(fhir_slot.end, "Slot.end")
    service_id = _service_id(fhir_slot, "Slot.serviceType")
    if not _extensions(fhir_slot, _ext("slot-resource")):
        _, schedule_id = _split(fhir_slot.schedule.reference, "Slot.schedule")
        return Slot(service_id=service_id, start=start, end=end, resource_ids=(schedule_id,))
    return _slot_from_extensions(fhir_slot, service_id, start, end, where)


# -- Appointment <-> Appointment ------------------------------------------------------------------------


def appointment_to_fhir(
    appointment: Appointment, resources: Iterable[Resource] | Mapping[str, Resource]
) -> FhirAppointment:
    """A FHIR ``Appointment``: the patient and every resource as participants.

    Args:
        appointment: The appointment.
        resources: The resources its slot uses (to type the participant references),
            e.g. ``scheduler.resources``.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from telemedroom.scheduling import Resource
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1",),
        ...          start=datetime(2026, 3, 2, 8, tzinfo=UTC), end=datetime(2026, 3, 2, 8, 20, tzinfo=UTC))
        >>> a = Appointment(id="a1", slot=s, patient="pat-1", status="booked", booking_code="ACEF-GHJK",
        ...                 created_at=datetime(2026, 3, 1, tzinfo=UTC))
        >>> f = appointment_to_fhir(a, [Resource(id="room-1", kind="room", name="Room 1")])
        >>> [p.actor.reference for p in f.participant], f.minutesDuration
        (['Patient/pat-1', 'Location/room-1'], 20)
    """
    from fhir.resources.R4B.appointment import Appointment as FhirAppointment

    kinds = _kinds(resources)
    slot = appointment.slot
    minutes, rest = divmod(slot.end - slot.start, timedelta(minutes=1))
    extension = [
        {"url": _ext("buffer-before"), "valueDuration": _duration(slot.buffer_before)},
        {"url": _ext("buffer-after"), "valueDuration": _duration(slot.buffer_after)},
    ]
    if appointment.rescheduled_from is not None:
        extension.append(
            {
                "url": _ext("rescheduled-from"),
                "valueReference": {"reference": f"Appointment/{appointment.rescheduled_from}"},
            }
        )
    return FhirAppointment.model_validate(
        {
            "resourceType": "Appointment",
            "id": appointment.id,
            "extension": extension,
            "identifier": [{"system": BOOKING_CODE_SYSTEM, "value": appointment.booking_code}],
            "status": appointment.status,
            "serviceType": _service_coding(slot.service_id),
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
            "minutesDuration": minutes if not rest else None,
            "slot": [{"reference": f"Slot/{fhir_slot_id(slot)}"}],
            "created": appointment.created_at.isoformat(),
            "participant": [
                {
                    "actor": {"reference": f"Patient/{appointment.patient}"},
                    "required": "required",
                    "status": "accepted",
                },
                *(
                    {
                        "actor": {"reference": _reference(rid, kinds)},
                        "required": "required",
                        "status": "accepted",
                    }
                    for rid in slot.resource_ids
                ),
            ],
        }
    )


def appointment_from_fhir(fhir_appointment: FhirAppointment) -> Appointment:
    """The :class:`Appointment` behind a FHIR ``Appointment`` (inverse of :func:`appointment_to_fhir`).

    The client's idempotency key is not part of the FHIR resource and comes back as ``None``.

    Raises:
        InvalidScheduleData: A required element is missing, or a participant is of an
            unsupported type.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from telemedroom.scheduling import Resource
        >>> s = Slot(service_id="gp-20", resource_ids=("room-1",),
        ...          start=datetime(2026, 3, 2, 8, tzinfo=UTC), end=datetime(2026, 3, 2, 8, 20, tzinfo=UTC))
        >>> a = Appointment(id="a1", slot=s, patient="pat-1", status="booked", booking_code="ACEF-GHJK",
        ...                 created_at=datetime(2026, 3, 1, tzinfo=UTC))
        >>> appointment_from_fhir(appointment_to_fhir(a, [Resource(id="room-1", kind="room", name="R")])) == a
        True
    """
    where = "Appointment"
    patients, resource_ids = [], []
    for participant in fhir_appointment.participant or []:
        kind_name, ident = _split(
            participant.actor.reference if participant.actor else None, "participant.actor"
        )
        if kind_name == "Patient":
            patients.append(ident)
        elif kind_name in _KIND_OF_TYPE:
            resource_ids.append(ident)
        else:
            raise InvalidScheduleData(
                "Appointment.participant", kind_name, "not a Patient, Location, Practitioner or Device"
            )
    if len(patients) != 1:
        raise InvalidScheduleData("Appointment.participant", patients, "expected exactly one Patient")
    codes = [str(i.value) for i in fhir_appointment.identifier or [] if i.system == BOOKING_CODE_SYSTEM]
    if len(codes) != 1:
        raise InvalidScheduleData(
            "Appointment.identifier", codes, f"expected one identifier from {BOOKING_CODE_SYSTEM}"
        )
    before = _seconds(_one(fhir_appointment, _ext("buffer-before"), where).valueDuration, where)
    after = _seconds(_one(fhir_appointment, _ext("buffer-after"), where).valueDuration, where)
    moved = _extensions(fhir_appointment, _ext("rescheduled-from"))
    return Appointment(
        id=_required(fhir_appointment.id, "Appointment.id"),
        slot=Slot(
            service_id=_service_id(fhir_appointment, "Appointment.serviceType"),
            start=_required(fhir_appointment.start, "Appointment.start"),
            end=_required(fhir_appointment.end, "Appointment.end"),
            resource_ids=tuple(resource_ids),
            buffer_before=before,
            buffer_after=after,
        ),
        patient=patients[0],
        status=_required(fhir_appointment.status, "Appointment.status"),
        booking_code=codes[0],
        created_at=_required(fhir_appointment.created, "Appointment.created"),
        rescheduled_from=_split(moved[0].valueReference.reference, "rescheduled-from")[1] if moved else None,
    )
