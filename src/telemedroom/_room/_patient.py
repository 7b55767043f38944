"""Who the record is about, as a reference the clinic's FHIR server resolves.

A booking names its patient by a FHIR id (``Appointment.patient``, no name). What that id
means on the clinic's server is the room's configuration:

- ``[fhir] patient_identifier_system`` unset: the id is the ``Patient`` resource's id on
  the clinic's server, which already holds it (the clinic registered the patient); the
  record references ``Patient/<id>``.
- ``patient_identifier_system`` set (e.g. ``http://fhir.de/sid/gkv/kvid-10``, the German
  statutory insurance number, KVNR): the id is the patient's business identifier in that
  system. The record then carries a *conditional create* of a minimal ``Patient`` holding
  only that identifier (``ifNoneExist: identifier=system|value``): the server's existing
  Patient when it has one, a new one otherwise, and every resource of the record
  references it through the bundle's ``urn:uuid``.

Why a conditional create rather than a lookup or a logical (identifier-only) reference:
a lookup needs the server at wrap-up time (the room must work offline; the outbox sends
later) and a logical reference leaves ``Observation.subject`` unresolvable, which HAPI
with referential integrity and most clinical viewers do not accept. The conditional create
is idempotent, works in the same transaction as the record, and never creates a second
Patient for the same identifier. It writes no name or birth date: the clinic's own
registration completes the Patient.

Examples:
    >>> identity = patient_identity("A123456789", "http://fhir.de/sid/gkv/kvid-10")
    >>> identity.reference.startswith("urn:uuid:"), identity.entry()["request"]["ifNoneExist"]
    (True, 'identifier=http://fhir.de/sid/gkv/kvid-10|A123456789')
    >>> patient_identity("pat-1", None).reference, patient_identity("pat-1", None).entry() is None
    ('Patient/pat-1', True)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

__all__ = ["KVNR_SYSTEM", "PatientIdentity", "patient_identity", "replace_references"]

Json = dict[str, Any]
# The German statutory health insurance number (Krankenversichertennummer, 10 characters).
KVNR_SYSTEM: Final = "http://fhir.de/sid/gkv/kvid-10"
_NAMESPACE: Final = uuid.UUID("0d6b5c1e-6f0a-5b8e-8c1d-3f2a9e4b7c60")


@dataclass(frozen=True)
class PatientIdentity:
    """The patient as the record references it, and the entry that makes the reference resolve.

    Attributes:
        patient: The booking's patient id.
        system: The identifier system the id belongs to, or ``None`` (a server resource id).
        reference: What the record's resources put in ``subject``.
    """

    patient: str
    system: str | None
    reference: str

    @property
    def local_reference(self) -> str:
        """The reference the room's own code uses before the identity is applied: ``Patient/<id>``."""
        return f"Patient/{self.patient}"

    def entry(self) -> Json | None:
        """The conditional create of the minimal Patient, or ``None`` for a server resource id."""
        if self.system is None:
            return None
        # FHIR search: ',', '$', '|' and '\' are escaped inside a token value.
        value = self.patient.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")
        return {
            "fullUrl": self.reference,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": self.system, "value": self.patient}],
            },
            "request": {
                "method": "POST",
                "url": "Patient",
                "ifNoneExist": f"identifier={quote(self.system, safe=':/')}|{quote(value, safe='')}",
            },
        }


def patient_identity(patient: str, system: str | None) -> PatientIdentity:
    """The identity of the booking's patient ``patient`` under ``[fhir] patient_identifier_system``."""
    if system is None:
        return PatientIdentity(patient, None, f"Patient/{patient}")
    urn = f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'Patient|{system}|{patient}')}"
    return PatientIdentity(patient, system, urn)


def replace_references(node: Any, old: str, new: str) -> None:
    """Point every ``{"reference": old}`` under ``node`` at ``new`` (in place).

    Examples:
        >>> data = {"subject": {"reference": "Patient/p1"}, "x": [{"reference": "Patient/p1"}]}
        >>> replace_references(data, "Patient/p1", "urn:uuid:1")
        >>> data["x"][0]["reference"]
        'urn:uuid:1'
    """
    if isinstance(node, dict):
        if node.get("reference") == old:
            node["reference"] = new
        for value in node.values():
            if isinstance(value, dict | list):
                replace_references(value, old, new)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                replace_references(item, old, new)
