"""telemedroom: build a telemedicine room from connected medical devices, video and HL7 FHIR.

The stable names are importable from here; see the API reference for each subpackage
(``telemedroom.devices`` and, as they land, ``fhir``, ``session``, ``scheduling``,
``monitoring``, ``testing``).

Examples:
    >>> import telemedroom
    >>> from telemedroom.devices import gatt
    >>> reading = gatt.decode("2a35", bytes.fromhex("00 7800 5000 5900"))
    >>> isinstance(reading, telemedroom.BloodPressure)
    True
"""

from __future__ import annotations

from telemedroom._version import __version__
from telemedroom.errors import (
    AuditIntegrityError,
    CarePlanError,
    CodecError,
    ConsentError,
    DeviceConnectionError,
    DeviceError,
    DeviceNotFound,
    DriverLoadError,
    ExamError,
    FhirAuthError,
    FhirConnectionError,
    FhirError,
    FhirMappingError,
    FhirServerError,
    GradingError,
    HoldExpired,
    IdempotencyKeyReused,
    InvalidRule,
    InvalidScheduleData,
    InvalidTimeRange,
    InvalidTransition,
    MeasurementDecodeError,
    MeasurementEncodeError,
    MediaDeviceError,
    MissingExtraError,
    MonitoringError,
    NaiveDatetimeError,
    OutboxCorrupted,
    OutboxError,
    OutboxKeyError,
    PairingError,
    PeerError,
    PreconditionFailed,
    RecordAccessError,
    ResourceConflict,
    ResourceGone,
    ResourceNotFound,
    RuleHasNoOccurrences,
    ScheduleStoreError,
    SchedulingError,
    SessionError,
    SignalingError,
    SlotUnavailable,
    TelemedroomError,
    TokenError,
    UnknownAlert,
    UnknownAppointment,
    UnknownBookingCode,
    UnsupportedCharacteristic,
    WebhookDeliveryError,
    WebhookSignatureError,
)
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    DeviceInfo,
    GlucoseContext,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

__all__ = [
    "AuditIntegrityError",
    "BloodGlucose",
    "BloodPressure",
    "BodyTemperature",
    "BodyWeight",
    "CodecError",
    "ConsentError",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceInfo",
    "DeviceNotFound",
    "DriverLoadError",
    "FhirAuthError",
    "FhirConnectionError",
    "FhirError",
    "FhirMappingError",
    "FhirServerError",
    "GlucoseContext",
    "HeartRate",
    "HoldExpired",
    "IdempotencyKeyReused",
    "InvalidRule",
    "InvalidScheduleData",
    "InvalidTimeRange",
    "InvalidTransition",
    "Measurement",
    "MeasurementDecodeError",
    "MeasurementEncodeError",
    "MediaDeviceError",
    "MissingExtraError",
    "NaiveDatetimeError",
    "OutboxCorrupted",
    "OutboxError",
    "OutboxKeyError",
    "OxygenSaturation",
    "PairingError",
    "PeerError",
    "PreconditionFailed",
    "RecordAccessError",
    "ResourceConflict",
    "ResourceGone",
    "ResourceNotFound",
    "RuleHasNoOccurrences",
    "ScheduleStoreError",
    "SchedulingError",
    "SessionError",
    "SignalingError",
    "SlotUnavailable",
    "TelemedroomError",
    "TokenError",
    "UnknownAppointment",
    "UnknownBookingCode",
    "UnsupportedCharacteristic",
    # monitoring and exams
    "CarePlanError",
    "ExamError",
    "GradingError",
    "MonitoringError",
    "UnknownAlert",
    "WebhookDeliveryError",
    "WebhookSignatureError",
    "__version__",
]

# Show the short public path in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "telemedroom"
del _name, _obj
