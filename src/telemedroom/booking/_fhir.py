"""The booking's FHIR side: the Patient (found or created by identifier) and the Appointment.

Kept in one module so the patient-identification rules can follow the interoperability
work in one place. What goes to the clinic's server, through the outbox:

- ``Patient``: a conditional create (``ifNoneExist``) on the statutory insurance number
  (KVNR, ``http://fhir.de/sid/gkv/kvid-10``) when the resident gave one, otherwise on a
  booking-local identifier (``{public_url}/sid/booking-patient``); a resident who books
  twice with the same KVNR is one Patient on the server.
- ``Appointment``: a ``PUT Appointment/{id}`` (create or update, idempotent), its
  patient participant pointing at the Patient entry's ``urn:uuid``, which the server
  resolves to the Patient it found or created.

A cancellation and a reschedule PUT the changed Appointments again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from telemedroom.booking._records import ResidentDetails
from telemedroom.scheduling import Appointment, Resource, appointment_to_fhir

__all__ = [
    "KVNR_SYSTEM",
    "appointment_entries",
    "booking_bundle",
    "patient_identifier",
    "patient_resource",
    "update_bundle",
]

# de.basisprofil: the unchangeable part of the German statutory insurance number.
KVNR_SYSTEM: Final = "http://fhir.de/sid/gkv/kvid-10"
_IDENTIFIER_TYPE: Final = "http://fhir.de/CodeSystem/identifier-type-de-basis"


def patient_identifier(details: ResidentDetails, patient_id: str, public_url: str) -> dict[str, Any]:
    """The identifier the Patient is found by: the KVNR if given, else the booking's own.

    Examples:
        >>> from datetime import date
        >>> d = ResidentDetails(name="E", birth_date=date(1950, 4, 1), insurance_number="A123456780")
        >>> patient_identifier(d, "p1", "https://book.example")["system"]
        'http://fhir.de/sid/gkv/kvid-10'
        >>> patient_identifier(ResidentDetails(name="E", birth_date=date(1950, 4, 1)), "p1",
        ...                    "https://book.example")
        {'system': 'https://book.example/sid/booking-patient', 'value': 'p1'}
    """
    if details.insurance_number:
        return {
            "type": {"coding": [{"system": _IDENTIFIER_TYPE, "code": "KVZ10"}]},
            "system": KVNR_SYSTEM,
            "value": details.insurance_number,
        }
    return {"system": f"{public_url}/sid/booking-patient", "value": patient_id}


def patient_resource(details: ResidentDetails, patient_id: str, public_url: str) -> dict[str, Any]:
    """A FHIR R4 ``Patient`` of what the resident typed (name as text: we do not split names).

    Examples:
        >>> from datetime import date
        >>> p = patient_resource(ResidentDetails(name="Erika Mustermann", birth_date=date(1950, 4, 1),
        ...                      email="e@example.org"), "p1", "https://book.example")
        >>> p["name"], p["birthDate"], p["telecom"]
        ([{'text': 'Erika Mustermann'}], '1950-04-01', [{'system': 'email', 'value': 'e@example.org'}])
    """
    identifiers = [patient_identifier(details, patient_id, public_url)]
    if details.insurance_number:
        identifiers.append({"system": f"{public_url}/sid/booking-patient", "value": patient_id})
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", details.phone), ("email", details.email))
        if value
    ]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [{"text": details.name}],
        "birthDate": details.birth_date.isoformat(),
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": details.language}]},
                "preferred": True,
            }
        ],
    }
    if telecom:
        resource["telecom"] = telecom
    return resource


def appointment_entries(
    appointments: Iterable[Appointment],
    resources: Iterable[Resource] | Mapping[str, Resource],
    patient_reference: str | None = None,
) -> list[dict[str, Any]]:
    """``PUT Appointment/{id}`` entries; the patient participant is ``patient_reference`` if given."""
    entries = []
    for appointment in appointments:
        body = appointment_to_fhir(appointment, resources).model_dump(mode="json", exclude_none=True)
        if patient_reference is not None:
            for participant in body.get("participant", []):
                actor = participant.get("actor", {})
                if str(actor.get("reference", "")).startswith("Patient/"):
                    actor["reference"] = patient_reference
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'Appointment/' + appointment.id)}",
                "resource": body,
                "request": {"method": "PUT", "url": f"Appointment/{appointment.id}"},
            }
        )
    return entries


def booking_bundle(
    appointment: Appointment,
    details: ResidentDetails,
    resources: Iterable[Resource] | Mapping[str, Resource],
    public_url: str,
) -> dict[str, Any]:
    """The transaction Bundle of a new booking: the Patient (conditional create) and the Appointment.

    Examples:
        >>> from datetime import UTC, date, datetime
        >>> from telemedroom.scheduling import Appointment, Resource, Slot
        >>> at = datetime(2026, 3, 2, 8, tzinfo=UTC)
        >>> a = Appointment(id="a1", slot=Slot(service_id="gp-20", resource_ids=("room-1",), start=at,
        ...     end=at.replace(minute=20)), patient="p1", status="booked", booking_code="ACEF-GHJK",
        ...     created_at=at)
        >>> d = ResidentDetails(name="E", birth_date=date(1950, 4, 1), insurance_number="A123456780")
        >>> b = booking_bundle(a, d, [Resource(id="room-1", kind="room", name="Room 1")], "https://b.example")
        >>> [e["request"]["method"] for e in b["entry"]], b["entry"][0]["request"]["ifNoneExist"]
        (['POST', 'PUT'], 'identifier=http://fhir.de/sid/gkv/kvid-10|A123456780')
    """
    identifier = patient_identifier(details, appointment.patient, public_url)
    patient_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'Patient/' + appointment.patient)}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": patient_resource(details, appointment.patient, public_url),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={identifier['system']}|{identifier['value']}",
                },
            },
            *appointment_entries([appointment], resources, patient_url),
        ],
    }


def update_bundle(
    appointments: Iterable[Appointment],
    resources: Iterable[Resource] | Mapping[str, Resource],
    details: ResidentDetails,
    public_url: str,
) -> dict[str, Any]:
    """A transaction Bundle putting changed Appointments (cancelled, rescheduled), with the Patient again.

    The Patient entry is the same conditional create, so the participant reference
    resolves on the server as it did at booking.
    """
    items = list(appointments)
    first = items[0]
    bundle = booking_bundle(first, details, resources, public_url)
    patient_url = bundle["entry"][0]["fullUrl"]
    bundle["entry"][1:] = appointment_entries(items, resources, patient_url)
    return bundle
