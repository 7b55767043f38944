"""FHIR: readings to standard Observations, an async client for any FHIR R4 server, an outbox.

``mapping`` turns :class:`~telemedroom.Measurement` objects into Observations per the
FHIR vital-signs profiles and the HL7 Personal Health Device IG (and back),
``client`` talks to a FHIR server, ``outbox`` keeps every reading on disk, encrypted,
until the server confirmed it.

Examples:
    >>> from telemedroom import HeartRate
    >>> from telemedroom.fhir import to_observation
    >>> to_observation(HeartRate(bpm=61), patient="Patient/p1").code.coding[0].code
    '8867-4'
"""

from __future__ import annotations

from telemedroom.errors import OperationOutcomeIssue
from telemedroom.fhir._plan import ServerProfile
from telemedroom.fhir._smart import SmartBackendAuth
from telemedroom.fhir.client import BearerToken, FhirAuth, FhirClient, Retry, transaction_is_idempotent
from telemedroom.fhir.mapping import (
    MappingConfig,
    from_bundle,
    from_observation,
    gateway_device,
    observation_json,
    to_device,
    to_observation,
    to_observations,
    to_provenance,
    to_transaction,
    transaction_json,
)
from telemedroom.fhir.outbox import DrainResult, FhirSink, FileSink, Outbox

__all__ = [
    "BearerToken",
    "DrainResult",
    "FhirAuth",
    "FhirClient",
    "FhirSink",
    "FileSink",
    "MappingConfig",
    "OperationOutcomeIssue",
    "Outbox",
    "Retry",
    "ServerProfile",
    "SmartBackendAuth",
    "from_bundle",
    "from_observation",
    "gateway_device",
    "observation_json",
    "to_device",
    "to_observation",
    "to_observations",
    "to_provenance",
    "to_transaction",
    "transaction_is_idempotent",
    "transaction_json",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
