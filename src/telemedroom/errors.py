"""The one exception tree of telemedroom.

Every error the library raises is a :class:`TelemedroomError`; catch that to catch them
all, or a branch to handle one layer. Errors of the libraries beneath us (bleak, httpx,
bumble, ``struct``) are translated at the boundary and chained as ``__cause__``.

```text
TelemedroomError
├── MissingExtraError (ImportError)      an optional part needs ``pip install 'telemedroom[extra]'``
├── ConfigError                          a configuration key is missing or invalid: base of each *ConfigError
├── DeviceError                          something about a medical device or its data
│   ├── MeasurementDecodeError           bytes from a device do not follow the profile
│   ├── UnsupportedCharacteristic        no decoder for this GATT characteristic
│   ├── CodecError (ValueError)          a value cannot be put on the wire
│   │   └── MeasurementEncodeError       a Measurement cannot be put on the wire
│   ├── DeviceNotFound                   no device answered at this address
│   ├── DeviceConnectionError            the link to a device failed
│   │   └── PairingError                 the device refused or failed pairing/bonding
│   ├── RecordAccessError                a Record Access Control Point procedure failed
│   ├── ConsentError                     a multi-user device refused a user's consent code
│   ├── DriverLoadError                  a device driver plugin could not be loaded
│   └── MediaDeviceError                 a camera, microphone or stethoscope cannot be opened or read
├── FhirError                            something about FHIR resources or a FHIR server
│   ├── FhirMappingError (ValueError)    a measurement and a FHIR resource do not map
│   ├── FhirServerError                  the server answered with an error status
│   │   ├── ResourceNotFound             404: no such resource
│   │   ├── ResourceGone                 410: the resource was deleted
│   │   ├── ResourceConflict             409: the write conflicts with the server's state
│   │   └── PreconditionFailed           412: a conditional request's condition failed
│   ├── FhirConnectionError              the server could not be reached
│   ├── FhirAuthError                    no access token could be obtained
│   ├── OutboxError                      the store-and-forward outbox cannot be used
│   │   ├── OutboxKeyError               the outbox was encrypted with another key
│   │   └── OutboxCorrupted              a row or the database file is damaged
│   └── RecordRejectedError              the FHIR server refused a record for good (kept)
├── SchedulingError                      something about availability, slots or appointments
│   ├── SlotUnavailable                  the slot's resources are taken or not open then
│   ├── HoldExpired                      a hold ran out, was released or was used
│   ├── InvalidTransition                an appointment cannot go from this status to that
│   ├── UnknownBookingCode               no appointment has this booking code
│   ├── UnknownAppointment (LookupError) no appointment has this id
│   ├── IdempotencyKeyReused             the key was used before for another booking
│   ├── InvalidScheduleData (ValueError) a resource, service or slot field is not valid
│   │   ├── InvalidTimeRange             an end that is not after its start
│   │   ├── NaiveDatetimeError           a datetime without a time zone
│   │   └── InvalidRule                  an availability rule that cannot be used
│   │       └── RuleHasNoOccurrences     a rule that never produces a time
│   └── ScheduleStoreError               the schedule database failed or is missing
├── SessionError                         something about a consultation session
│   ├── TokenError                       a join token or booking code was refused (``reason``)
│   ├── SignalingError                   the signaling server refused a message or the link broke
│   ├── PeerError                        the WebRTC peer could not connect or answer a request
│   ├── AuditIntegrityError              the audit log's hash chain is broken (``index``)
│   └── SfuError                         the Janus SFU refused a request or cannot be reached (``code``)
├── RoomError                            the room: its configuration, its visit's state machine, check-in
│   ├── RoomConfigError (ConfigError)    a room configuration key is missing or invalid (names key and file)
│   ├── RoomStateError                   the room cannot do this in its current state (``state``, ``action``)
│   └── CheckInRefused                   a booking code was not accepted at the kiosk (``reason``)
├── MonitoringError                      health-apartment monitoring: care plans, alerts, delivery
│   ├── CarePlanError (ValueError)       a care plan is malformed (names the key or rule)
│   ├── UnknownAlert (KeyError)          no alert with this id
│   ├── WebhookDeliveryError             the webhook did not take an alert after all retries
│   └── WebhookSignatureError            a webhook request's signature does not verify
├── ExamError                            a clinical examination protocol or grading form
│   ├── GradingError (ValueError)        answers to a grading form are missing or out of range
│   └── FaceNotMeasurable                a still cannot be measured (``reason``; never a guess)
│       ├── NoFaceFound                  no face in the still
│       ├── SeveralFacesFound            more than one face in the still (``faces``)
│       ├── FaceTooSmall                 the face is too small to measure (``ipd_px``)
│       └── FaceTurned                   the head is turned or tipped too far (``yaw``, ``pitch``)
├── BookingError                         the residents' booking page and its records
│   ├── BookingConfigError (ConfigError) a booking configuration key is missing or invalid (key, file)
│   ├── BookingInputError (ValueError)   a resident's form field is missing or invalid (``field``, ``reason``)
│   ├── BookingRefused                   a request was refused: rate limit, hold limit, CSRF, bot (``reason``)
│   └── EmailDeliveryError               the SMTP server did not take a confirmation e-mail
├── ApartmentError                       the health apartment's home gateway
│   ├── ApartmentConfigError (ConfigError) an apartment configuration key is missing or invalid
│   └── StorageFullError                 too little disk left to accept a reading (``free``, ``needed``)
└── HubError                             the clinic hub: login, staff sessions, room heartbeats
    ├── HubConfigError (ConfigError)     a hub configuration key is missing or invalid (names key and file)
    ├── LoginRefused                     a staff login was refused (``reason``: state, code, ID token, role)
    ├── AccessRefused                    a request was refused (``reason``: no session, expired, CSRF, role)
    └── HeartbeatRefused                 a room heartbeat was refused (``room``, ``reason``)
```

Examples:
    >>> from telemedroom import errors
    >>> from telemedroom.devices import gatt
    >>> try:
    ...     gatt.decode(0x2A35, b"\\x00\\x78")
    ... except errors.MeasurementDecodeError as exc:
    ...     print(exc.uuid, exc.data_hex, exc.offset)
    2a35 0078 2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ApartmentConfigError",
    "ApartmentError",
    "AuditIntegrityError",
    "BookingConfigError",
    "BookingError",
    "BookingInputError",
    "BookingRefused",
    "EmailDeliveryError",
    "CarePlanError",
    "CheckInRefused",
    "CodecError",
    "ConfigError",
    "ConsentError",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceNotFound",
    "DriverLoadError",
    "ExamError",
    "FaceNotMeasurable",
    "FaceTooSmall",
    "FaceTurned",
    "FhirAuthError",
    "FhirConnectionError",
    "FhirError",
    "FhirMappingError",
    "FhirServerError",
    "GradingError",
    "HoldExpired",
    "IdempotencyKeyReused",
    "InvalidRule",
    "InvalidScheduleData",
    "InvalidTimeRange",
    "InvalidTransition",
    "MeasurementDecodeError",
    "MeasurementEncodeError",
    "MediaDeviceError",
    "MissingExtraError",
    "MonitoringError",
    "NoFaceFound",
    "NaiveDatetimeError",
    "OutboxCorrupted",
    "OutboxError",
    "OutboxKeyError",
    "PairingError",
    "PeerError",
    "PreconditionFailed",
    "RecordAccessError",
    "RecordRejectedError",
    "ResourceConflict",
    "ResourceGone",
    "ResourceNotFound",
    "RoomConfigError",
    "RoomError",
    "RoomStateError",
    "RuleHasNoOccurrences",
    "ScheduleStoreError",
    "SchedulingError",
    "SessionError",
    "SeveralFacesFound",
    "SfuError",
    "SignalingError",
    "SlotUnavailable",
    "StorageFullError",
    "TelemedroomError",
    "TokenError",
    "UnknownAlert",
    "UnknownAppointment",
    "UnknownBookingCode",
    "UnsupportedCharacteristic",
    "WebhookDeliveryError",
    "WebhookSignatureError",
    # the clinic hub (telemedroom.hub)
    "AccessRefused",
    "HeartbeatRefused",
    "HubConfigError",
    "HubError",
    "LoginRefused",
]


class TelemedroomError(Exception):
    """Base of every error raised by telemedroom.

    Examples:
        >>> issubclass(DeviceNotFound, TelemedroomError)
        True
    """


class ConfigError(TelemedroomError):
    """A configuration key is missing or has a value that cannot be used.

    The base of :class:`RoomConfigError`, :class:`BookingConfigError`,
    :class:`ApartmentConfigError` and :class:`HubConfigError`, each also under its
    product's error: catch ``ConfigError`` for a bad configuration of any product.

    Attributes:
        key: The key, dotted for nested tables (``"fhir.base_url"``); ``None`` (or ``""``)
            when the file as a whole cannot be read.
        source: The TOML file it came from, or ``"environment"``/``"arguments"``.
        reason: What is wrong with it.

    Examples:
        >>> str(ConfigError("room_id", "room.toml", "missing"))
        'configuration room.toml: room_id: missing'
        >>> issubclass(RoomConfigError, ConfigError), issubclass(RoomConfigError, RoomError)
        (True, True)
    """

    product: str = ""
    """Whose configuration it is, the first word of the message (``"room"``)."""

    def __init__(self, key: str | None, source: str, reason: str) -> None:
        self.key = key
        self.source = source
        self.reason = reason
        where = f"{key}: " if key else ""
        product = f"{self.product} " if self.product else ""
        super().__init__(f"{product}configuration {source}: {where}{reason}")


class DeviceError(TelemedroomError):
    """Something went wrong with a medical device or the data it sent.

    Examples:
        >>> isinstance(UnsupportedCharacteristic("2a00"), DeviceError)
        True
    """


class MeasurementDecodeError(DeviceError):
    """The bytes of a characteristic do not follow its Bluetooth SIG specification.

    Attributes:
        uuid: The characteristic as a short lower-case hex string (``"2a35"``) or a full UUID.
        data_hex: The offending value, hex encoded.
        offset: The byte offset at which decoding failed.
        reason: What was wrong, in words.

    Examples:
        >>> err = MeasurementDecodeError("2a1c", b"\\x00", 1, "truncated")
        >>> str(err)
        'cannot decode characteristic 2a1c at byte 1: truncated (value 00)'
    """

    def __init__(self, uuid: str, data: bytes, offset: int, reason: str) -> None:
        self.uuid = uuid
        self.data_hex = data.hex()
        self.offset = offset
        self.reason = reason
        super().__init__(
            f"cannot decode characteristic {uuid} at byte {offset}: {reason} "
            f"(value {self.data_hex or 'empty'})"
        )


class UnsupportedCharacteristic(DeviceError):
    """No built-in decoder handles this characteristic.

    A vendor driver can decode proprietary characteristics; see the driver plugin guide.

    Attributes:
        uuid: The characteristic as given, normalised to lower case.

    Examples:
        >>> str(UnsupportedCharacteristic("2a00"))
        'no decoder for characteristic 2a00; a device driver plugin can add one'
    """

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        super().__init__(f"no decoder for characteristic {uuid}; a device driver plugin can add one")


class CodecError(DeviceError, ValueError):
    """A value cannot be represented in the requested wire format.

    It is also a :class:`ValueError`, so ``except ValueError`` keeps working.

    Examples:
        >>> from telemedroom.devices.codecs import encode_sfloat
        >>> try:
        ...     encode_sfloat(123456.7)
        ... except CodecError as exc:
        ...     print(exc)
        123456.7 cannot be represented exactly as an IEEE 11073 SFLOAT
    """


class MeasurementEncodeError(CodecError):
    """A measurement cannot be put on the wire of its Bluetooth profile.

    Examples:
        >>> from telemedroom import BodyWeight
        >>> from telemedroom.devices import gatt
        >>> try:
        ...     gatt.encode(BodyWeight(value=70.123))
        ... except MeasurementEncodeError as exc:
        ...     print(exc)
        weight 70.123 kg is not a multiple of the 0.005 kg resolution of the Weight Measurement
    """


class DeviceNotFound(DeviceError):
    """No device with this address or name answered.

    Attributes:
        address: The Bluetooth address or name that was looked for.

    Examples:
        >>> str(DeviceNotFound("C0:FF:EE:00:00:01", "not seen within 10 s"))
        'device C0:FF:EE:00:00:01 not found: not seen within 10 s'
    """

    def __init__(self, address: str, reason: str = "not found") -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"device {address} not found: {reason}")


class DeviceConnectionError(DeviceError):
    """Connecting to a device, or talking to it, failed.

    Attributes:
        address: The device's Bluetooth address.
        reason: The underlying reason, in words; the original exception is ``__cause__``.

    Examples:
        >>> str(DeviceConnectionError("C0:FF:EE:00:00:01", "link lost"))
        'connection to device C0:FF:EE:00:00:01 failed: link lost'
    """

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"connection to device {address} failed: {reason}")


class MediaDeviceError(DeviceError):
    """A camera, microphone or stethoscope (real, file or synthetic) cannot be opened or read.

    Attributes:
        device: The device path (``/dev/video0``), ALSA name (``hw:1,0``), file path, or
            ``"synthetic"``.
        kind: ``"video"`` or ``"audio"``.
        reason: What went wrong, in words; an error from PyAV or aiortc is ``__cause__``.

    Examples:
        >>> str(MediaDeviceError("/dev/video0", "video", "no such device"))
        'video device /dev/video0: no such device'
    """

    def __init__(self, device: str, kind: str, reason: str) -> None:
        self.device = device
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind} device {device}: {reason}")


class MissingExtraError(TelemedroomError, ImportError):
    """An optional part of telemedroom is used but its extra is not installed.

    It is also an :class:`ImportError`, raised where the optional module is imported.

    A command that needs several extras names every missing one at once (``extra`` is
    then a sequence) and may point to a bundle of extras (``install="all"``).

    Attributes:
        extra: The extra that provides it, e.g. ``"video"``; for several, the names
            joined by commas as pip takes them (``"sim,video"``).
        extras: The missing extras, one name each.
        feature: What needed it, e.g. ``"telemedroom.devices.media"``.

    Examples:
        >>> print(MissingExtraError("video", "telemedroom.devices.media"))
        telemedroom.devices.media needs the 'video' extra: pip install 'telemedroom[video]'
        >>> print(MissingExtraError(["sim", "video"], "telemedroom demo", install="all"))
        telemedroom demo needs the 'sim' and 'video' extras: pip install 'telemedroom[all]'
    """

    def __init__(self, extra: str | Sequence[str], feature: str, *, install: str | None = None) -> None:
        self.extras: tuple[str, ...] = (extra,) if isinstance(extra, str) else tuple(extra)
        self.extra = ",".join(self.extras)
        self.feature = feature
        names = [repr(name) for name in self.extras]
        which = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        noun = "extra" if len(names) == 1 else "extras"
        fix = f"pip install 'telemedroom[{install or self.extra}]'"
        super().__init__(f"{feature} needs the {which} {noun}: {fix}")


class PairingError(DeviceConnectionError):
    """The device refused pairing or bonding, or pairing failed.

    Glucometers and scales with user data require a bonded, encrypted link; without it
    they do not hand out records.

    Attributes:
        address: The device's Bluetooth address.
        reason: What went wrong, in words; the original exception is ``__cause__``.

    Examples:
        >>> str(PairingError("C0:FF:EE:00:00:06", "pairing not supported"))
        'connection to device C0:FF:EE:00:00:06 failed: pairing refused: pairing not supported'
    """

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(address, f"pairing refused: {reason}")


class RecordAccessError(DeviceError):
    """A Record Access Control Point (0x2A52) procedure ended with an error response.

    Attributes:
        address: The device's Bluetooth address.
        request: The name of the request op code (``"report_stored_records"``, ...).
        response_code: The RACP response code (GATT Specification Supplement §3.181).
        response: The name of the response code (``"operand_not_supported"``, ...).

    Examples:
        >>> err = RecordAccessError("C0:FF:EE:00:00:06", "report_stored_records", 0x09,
        ...                         "operand_not_supported")
        >>> err.response_code, str(err)
        (9, 'device C0:FF:EE:00:00:06 answered report_stored_records with operand_not_supported (0x09)')
    """

    def __init__(self, address: str, request: str, response_code: int, response: str) -> None:
        self.address = address
        self.request = request
        self.response_code = response_code
        self.response = response
        super().__init__(f"device {address} answered {request} with {response} (0x{response_code:02x})")


class ConsentError(DeviceError):
    """A multi-user device (a scale with the User Data Service) refused a consent request.

    Attributes:
        address: The device's Bluetooth address.
        user_index: The user slot asked for.
        result: The User Control Point response value (UDS 1.0 §3.3.1).
        reason: Its name (``"user_not_authorized"``, ...).

    Examples:
        >>> str(ConsentError("C0:FF:EE:00:00:04", 1, 5, "user_not_authorized"))
        'device C0:FF:EE:00:00:04 refused consent for user 1: user_not_authorized (0x05)'
    """

    def __init__(self, address: str, user_index: int, result: int, reason: str) -> None:
        self.address = address
        self.user_index = user_index
        self.result = result
        self.reason = reason
        super().__init__(f"device {address} refused consent for user {user_index}: {reason} (0x{result:02x})")


class DriverLoadError(DeviceError):
    """A device driver registered in the ``telemedroom.drivers`` entry-point group failed to load.

    Attributes:
        entry_point: The entry point as written in the plugin's metadata (``name = module:attr``).
        reason: What went wrong; the original exception is ``__cause__``.

    Examples:
        >>> str(DriverLoadError("acme = acme_driver:Driver", "no module named 'acme_driver'"))
        "device driver plugin 'acme = acme_driver:Driver' cannot be loaded: no module named 'acme_driver'"
    """

    def __init__(self, entry_point: str, reason: str) -> None:
        self.entry_point = entry_point
        self.reason = reason
        super().__init__(f"device driver plugin {entry_point!r} cannot be loaded: {reason}")


class FhirError(TelemedroomError):
    """Something went wrong turning readings into FHIR or talking to a FHIR server.

    Examples:
        >>> issubclass(ResourceNotFound, FhirError)
        True
    """


class FhirMappingError(FhirError, ValueError):
    """A measurement cannot become a FHIR resource, or a resource is not a reading we know.

    Attributes:
        resource_type: The FHIR resource type involved (``"Observation"``, ``"Device"``...).
        reason: What was wrong, in words.

    Examples:
        >>> str(FhirMappingError("Observation", "no LOINC or MDC code we know"))
        'cannot map Observation: no LOINC or MDC code we know'
    """

    def __init__(self, resource_type: str, reason: str) -> None:
        self.resource_type = resource_type
        self.reason = reason
        super().__init__(f"cannot map {resource_type}: {reason}")


@dataclass(frozen=True, slots=True)
class OperationOutcomeIssue:
    """One ``OperationOutcome.issue`` of a server's error answer, as plain data.

    Attributes:
        severity: ``fatal``, ``error``, ``warning`` or ``information``.
        code: The issue type (``invalid``, ``not-found``, ``conflict``, ``throttled``...).
        diagnostics: The server's own words, if any.
        expression: FHIRPath expressions of the offending elements.

    Examples:
        >>> OperationOutcomeIssue("error", "not-found", "Observation/1 is not known").code
        'not-found'
    """

    severity: str
    code: str
    diagnostics: str | None = None
    expression: tuple[str, ...] = ()


class FhirServerError(FhirError):
    """A FHIR server answered with an error status.

    Attributes:
        status: The HTTP status code.
        method: The HTTP method of the request.
        url: The request URL.
        issues: The parsed ``OperationOutcome`` issues (empty when the body had none).
        outcome: The raw ``OperationOutcome`` JSON, or ``None``.

    Examples:
        >>> from telemedroom.errors import OperationOutcomeIssue
        >>> err = FhirServerError(422, "POST", "https://fhir.example/Observation",
        ...                       (OperationOutcomeIssue("error", "invalid", "status is required"),))
        >>> str(err)
        'FHIR server answered 422 to POST https://fhir.example/Observation: error invalid: status is required'
    """

    def __init__(
        self,
        status: int,
        method: str,
        url: str,
        issues: tuple[OperationOutcomeIssue, ...] = (),
        outcome: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.issues = issues
        self.outcome = outcome
        said = "; ".join(
            f"{i.severity} {i.code}" + (f": {i.diagnostics}" if i.diagnostics else "") for i in issues
        )
        super().__init__(f"FHIR server answered {status} to {method} {url}" + (f": {said}" if said else ""))


class ResourceNotFound(FhirServerError):
    """404: the server knows no such resource.

    Examples:
        >>> ResourceNotFound(404, "GET", "https://fhir.example/Patient/x").status
        404
    """


class ResourceGone(FhirServerError):
    """410: the resource existed and was deleted.

    Examples:
        >>> ResourceGone(410, "GET", "https://fhir.example/Patient/x").status
        410
    """


class ResourceConflict(FhirServerError):
    """409: the write conflicts with the server's current state (e.g. a version clash).

    Examples:
        >>> ResourceConflict(409, "PUT", "https://fhir.example/Patient/x").status
        409
    """


class PreconditionFailed(FhirServerError):
    """412: the condition of a conditional request did not hold (e.g. several matches).

    Examples:
        >>> PreconditionFailed(412, "POST", "https://fhir.example/Observation").status
        412
    """


class FhirConnectionError(FhirError):
    """The FHIR server could not be reached (DNS, TCP, TLS or a timeout).

    Attributes:
        url: The request URL.
        reason: The underlying reason; the original exception is ``__cause__``.

    Examples:
        >>> str(FhirConnectionError("https://fhir.example/metadata", "timed out"))
        'cannot reach FHIR server at https://fhir.example/metadata: timed out'
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach FHIR server at {url}: {reason}")


class FhirAuthError(FhirError):
    """No access token could be obtained from the authorization server.

    Attributes:
        url: The token (or discovery) endpoint.
        reason: What went wrong, including the server's ``error`` code when it sent one.

    Examples:
        >>> str(FhirAuthError("https://auth.example/token", "invalid_client"))
        'FHIR authorization at https://auth.example/token failed: invalid_client'
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"FHIR authorization at {url} failed: {reason}")


class OutboxError(FhirError):
    """The store-and-forward outbox cannot be used.

    Attributes:
        path: The outbox database file.
        reason: What went wrong.

    Examples:
        >>> str(OutboxError("room/outbox.sqlite", "disk full"))
        'outbox room/outbox.sqlite: disk full'
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"outbox {path}: {reason}")


class OutboxKeyError(OutboxError):
    """The outbox was encrypted with another key than the one configured.

    Examples:
        >>> issubclass(OutboxKeyError, OutboxError)
        True
    """


class OutboxCorrupted(OutboxError):
    """A row (or the whole database file) of the outbox is damaged.

    Attributes:
        row_id: The damaged row, or ``None`` when the file itself is damaged.

    Examples:
        >>> str(OutboxCorrupted("room/outbox.sqlite", "authentication tag mismatch", row_id=7))
        'outbox room/outbox.sqlite: row 7: authentication tag mismatch'
    """

    def __init__(self, path: str, reason: str, row_id: int | None = None) -> None:
        self.row_id = row_id
        super().__init__(path, reason if row_id is None else f"row {row_id}: {reason}")


class RecordRejectedError(FhirError):
    """The FHIR server refused one or more records for good; they stay in the outbox, ``rejected``.

    Attributes:
        rows: The outbox rows refused.
        reasons: The server's answer per row, in one line.

    Examples:
        >>> err = RecordRejectedError({3: "FHIR server answered 400 to POST http://fhir/: too many entries"})
        >>> err.rows, str(err).splitlines()[1]
        ((3,), '  row 3: FHIR server answered 400 to POST http://fhir/: too many entries')
    """

    def __init__(self, reasons: dict[int, str]) -> None:
        self.rows = tuple(sorted(reasons))
        self.reasons = dict(reasons)
        lines = [f"  row {row}: {why}" for row, why in sorted(reasons.items())]
        super().__init__(
            f"the FHIR server rejected {len(reasons)} record(s); kept in the outbox "
            "(telemedroom outbox requeue sends them again):\n" + "\n".join(lines)
        )


class SchedulingError(TelemedroomError):
    """Something went wrong finding, holding or booking a slot.

    Examples:
        >>> isinstance(UnknownBookingCode("ACDE-FGHJ"), SchedulingError)
        True
    """


class SlotUnavailable(SchedulingError):
    """The slot cannot be held or booked: a resource is taken or not available then.

    Attributes:
        slot: The :class:`~telemedroom.scheduling.Slot` that was asked for.
        resource_ids: The resources that are taken (or unavailable), when known.
        reason: What was in the way, in words.

    Examples:
        >>> err = SlotUnavailable(None, ["room-1"], "held by another booking")
        >>> err.resource_ids, str(err)
        (('room-1',), 'slot unavailable (room-1): held by another booking')
    """

    def __init__(self, slot: Any, resource_ids: Sequence[str], reason: str) -> None:
        self.slot = slot
        self.resource_ids = tuple(resource_ids)
        self.reason = reason
        where = f" at {slot.start.isoformat()}" if slot is not None else ""
        super().__init__(f"slot{where} unavailable ({', '.join(self.resource_ids) or '-'}): {reason}")


class HoldExpired(SchedulingError):
    """A hold ran out, was released or was already used before this booking.

    Attributes:
        hold_id: The hold's id.
        expires_at: When it expired (``None`` when it no longer exists at all).

    Examples:
        >>> str(HoldExpired("h1", None))
        'hold h1 is no longer active; find a new slot and hold it again'
    """

    def __init__(self, hold_id: str, expires_at: datetime | None) -> None:
        self.hold_id = hold_id
        self.expires_at = expires_at
        when = f" (expired {expires_at.isoformat()})" if expires_at is not None else ""
        super().__init__(f"hold {hold_id} is no longer active{when}; find a new slot and hold it again")


class InvalidTransition(SchedulingError):
    """An appointment cannot move from its status to the one asked for (FHIR Appointment.status).

    Attributes:
        appointment_id: The appointment.
        from_status: Its current status.
        to_status: The status that was asked for.

    Examples:
        >>> str(InvalidTransition("a1", "cancelled", "checked-in"))
        'appointment a1 cannot go from cancelled to checked-in'
    """

    def __init__(self, appointment_id: str, from_status: str, to_status: str) -> None:
        self.appointment_id = appointment_id
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(f"appointment {appointment_id} cannot go from {from_status} to {to_status}")


class UnknownBookingCode(SchedulingError):
    """No appointment has this booking code (a typo at the kiosk, or a made-up code).

    Attributes:
        code: The code as entered.

    Examples:
        >>> str(UnknownBookingCode("ACDE-FGHJ"))
        'no appointment has booking code ACDE-FGHJ'
    """

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"no appointment has booking code {code}")


class UnknownAppointment(SchedulingError, LookupError):
    """No appointment has this id.

    Attributes:
        appointment_id: The id that was looked up.

    Examples:
        >>> str(UnknownAppointment("a1"))
        'no appointment with id a1'
    """

    def __init__(self, appointment_id: str) -> None:
        self.appointment_id = appointment_id
        super().__init__(f"no appointment with id {appointment_id}")


class IdempotencyKeyReused(SchedulingError):
    """An idempotency key was sent again with a different slot or patient.

    A repeated ``book`` with the same key and the same request returns the first
    appointment; a different request under the same key is a client bug.

    Attributes:
        key: The idempotency key.
        appointment_id: The appointment booked under it first.

    Examples:
        >>> str(IdempotencyKeyReused("k1", "a1"))
        'idempotency key k1 was used for appointment a1 with a different slot or patient'
    """

    def __init__(self, key: str, appointment_id: str) -> None:
        self.key = key
        self.appointment_id = appointment_id
        super().__init__(
            f"idempotency key {key} was used for appointment {appointment_id} "
            "with a different slot or patient"
        )


class InvalidScheduleData(SchedulingError, ValueError):
    """A field of a resource, service, slot or appointment is not valid.

    Attributes:
        field: Which field.
        value: The value given.
        reason: What is wrong with it.

    Examples:
        >>> str(InvalidScheduleData("resource id", "room 1", "not a FHIR id"))
        "resource id 'room 1' is not valid: not a FHIR id"
    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field} {value!r} is not valid: {reason}")


class InvalidTimeRange(InvalidScheduleData):
    """A time range whose end is not after its start.

    Attributes:
        start: The start given.
        end: The end given.

    Examples:
        >>> from datetime import datetime, UTC
        >>> str(InvalidTimeRange(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)))
        'time range end 2026-01-01T00:00:00+00:00 is not after its start 2026-01-02T00:00:00+00:00'
    """

    def __init__(self, start: Any, end: Any) -> None:
        self.start = start
        self.end = end
        ValueError.__init__(
            self, f"time range end {end.isoformat()} is not after its start {start.isoformat()}"
        )
        self.field, self.value, self.reason = "end", end, "not after the start"


class NaiveDatetimeError(InvalidScheduleData):
    """A datetime without a time zone where an instant is needed.

    Attributes:
        name: The argument or field.
        value: The naive datetime.

    Examples:
        >>> from datetime import datetime
        >>> str(NaiveDatetimeError("start", datetime(2026, 3, 29, 9)))
        'start 2026-03-29T09:00:00 has no time zone; attach one (e.g. ZoneInfo("Europe/Berlin"))'
    """

    def __init__(self, name: str, value: datetime) -> None:
        self.name = name
        ValueError.__init__(
            self, f'{name} {value.isoformat()} has no time zone; attach one (e.g. ZoneInfo("Europe/Berlin"))'
        )
        self.field, self.value, self.reason = name, value, "no time zone"


class InvalidRule(InvalidScheduleData):
    """An availability rule (RFC 5545 RRULE) that cannot be parsed or used.

    Attributes:
        rule: The rule text.
        reason: What is wrong with it.

    Examples:
        >>> str(InvalidRule("FREQ=SOMETIMES", "unknown frequency"))
        'invalid availability rule FREQ=SOMETIMES: unknown frequency'
    """

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        ValueError.__init__(self, f"invalid availability rule {rule}: {reason}")
        self.field, self.value, self.reason = "rrule", rule, reason


class RuleHasNoOccurrences(InvalidRule):
    """An availability rule that never produces a time (e.g. 30 February, or UNTIL before the start).

    Examples:
        >>> str(RuleHasNoOccurrences("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "2026-01-01"))
        'invalid availability rule FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30: it has no occurrence from 2026-01-01'
    """

    def __init__(self, rule: str, start: str) -> None:
        super().__init__(rule, f"it has no occurrence from {start}")


class ScheduleStoreError(SchedulingError):
    """The schedule database failed, has an unknown schema, or its driver is missing.

    Attributes:
        store: Which store (``"sqlite"`` or ``"postgres"``).
        reason: What failed; the driver's exception is ``__cause__``.

    Examples:
        >>> str(ScheduleStoreError("postgres", "asyncpg is missing; pip install 'telemedroom[postgres]'"))
        "postgres schedule store: asyncpg is missing; pip install 'telemedroom[postgres]'"
    """

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"{store} schedule store: {reason}")


class MonitoringError(TelemedroomError):
    """Something went wrong in health-apartment monitoring (care plans, alerts, their delivery).

    Examples:
        >>> issubclass(CarePlanError, MonitoringError)
        True
    """


class CarePlanError(MonitoringError, ValueError):
    """A care plan (rules as data) is malformed.

    Attributes:
        key: Where in the plan, as a dotted path (``"rules.2.above"``), or the rule id.
        reason: What is wrong with it.
        source: The file it was read from, if any.

    Examples:
        >>> str(CarePlanError("rules.0.above", "must be a number", source="plan.toml"))
        'care plan plan.toml: rules.0.above: must be a number'
    """

    def __init__(self, key: str, reason: str, *, source: str | None = None) -> None:
        self.key = key
        self.reason = reason
        self.source = source
        where = f"care plan {source}" if source else "care plan"
        super().__init__(f"{where}: {key}: {reason}")


class UnknownAlert(MonitoringError, KeyError):
    """No alert with this id is known to the monitor.

    Attributes:
        alert_id: The id that was asked for.

    Examples:
        >>> str(UnknownAlert("a1"))
        'no alert with id a1'
    """

    def __init__(self, alert_id: str) -> None:
        self.alert_id = alert_id
        super().__init__(alert_id)

    def __str__(self) -> str:
        return f"no alert with id {self.alert_id}"


class WebhookDeliveryError(MonitoringError):
    """An alert could not be delivered to a webhook, after all retries.

    Attributes:
        url: The webhook's URL.
        attempts: How many requests were made.
        status: The last HTTP status, or ``None`` when the last attempt got no response.
        reason: What went wrong last; an httpx error is ``__cause__``.

    Examples:
        >>> str(WebhookDeliveryError("https://care.example/hook", 5, 503, "service unavailable"))
        'webhook https://care.example/hook failed after 5 attempts: service unavailable (HTTP 503)'
    """

    def __init__(self, url: str, attempts: int, status: int | None, reason: str) -> None:
        self.url = url
        self.attempts = attempts
        self.status = status
        self.reason = reason
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"webhook {url} failed after {attempts} attempts: {reason}{code}")


class WebhookSignatureError(MonitoringError):
    """A received webhook request carries no valid signature (wrong secret, altered body, too old).

    Attributes:
        reason: Why it was refused.

    Examples:
        >>> str(WebhookSignatureError("signature does not match"))
        'webhook signature refused: signature does not match'
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook signature refused: {reason}")


class ExamError(TelemedroomError):
    """Something went wrong with a clinical examination protocol or its grading.

    Examples:
        >>> issubclass(GradingError, ExamError)
        True
    """


class GradingError(ExamError, ValueError):
    """Answers to a grading form (House-Brackmann, Sunnybrook) are missing, unknown or out of range.

    Attributes:
        item: The form item (its ``linkId``), e.g. ``"sunnybrook.voluntary.brow_lift"``.
        value: The value given, or ``None`` when it is missing.
        reason: What is wrong.

    Examples:
        >>> str(GradingError("sunnybrook.voluntary.brow_lift", 7, "must be one of 1, 2, 3, 4, 5"))
        'grading item sunnybrook.voluntary.brow_lift = 7: must be one of 1, 2, 3, 4, 5'
    """

    def __init__(self, item: str, value: object, reason: str) -> None:
        self.item = item
        self.value = value
        self.reason = reason
        super().__init__(f"grading item {item} = {value!r}: {reason}")


class FaceNotMeasurable(ExamError):
    """A still cannot be measured: no usable face in it (the measurement never guesses).

    Raised by :class:`telemedroom.exams.FaceMeshDetector` and the facial measurements;
    the subclasses name the reason. Retake the still (the kiosk shows the step again).

    Attributes:
        step: The protocol step of the still, if known.
        reason: What is wrong, in words.

    Examples:
        >>> str(FaceNotMeasurable("the image cannot be decoded", step="rest"))
        'cannot measure the face in the still of rest: the image cannot be decoded'
    """

    def __init__(self, reason: str, *, step: str | None = None) -> None:
        self.step = step
        self.reason = reason
        where = f"the still of {step}" if step else "the still"
        super().__init__(f"cannot measure the face in {where}: {reason}")


class NoFaceFound(FaceNotMeasurable):
    """No face was found in the still (a blank frame, the patient out of the picture).

    Examples:
        >>> str(NoFaceFound(step="rest"))
        'cannot measure the face in the still of rest: no face found'
    """

    def __init__(self, *, step: str | None = None) -> None:
        super().__init__("no face found", step=step)


class SeveralFacesFound(FaceNotMeasurable):
    """More than one face is in the still, so whose face to measure is not certain.

    Attributes:
        faces: How many faces were found.

    Examples:
        >>> print(SeveralFacesFound(2))
        cannot measure the face in the still: 2 faces found, exactly one must be in the picture
    """

    def __init__(self, faces: int, *, step: str | None = None) -> None:
        self.faces = faces
        super().__init__(f"{faces} faces found, exactly one must be in the picture", step=step)


class FaceTooSmall(FaceNotMeasurable):
    """The face is too small in the still to measure (the camera too far away).

    Attributes:
        ipd_px: The inter-pupillary distance found, in pixels.
        minimum_px: The smallest one measured.

    Examples:
        >>> print(FaceTooSmall(43.2, 60))
        cannot measure the face in the still: pupils 43.2 px apart, 60 needed (bring the camera closer)
    """

    def __init__(self, ipd_px: float, minimum_px: float, *, step: str | None = None) -> None:
        self.ipd_px = ipd_px
        self.minimum_px = minimum_px
        super().__init__(
            f"pupils {ipd_px:.1f} px apart, {minimum_px:g} needed (bring the camera closer)",
            step=step,
        )


class FaceTurned(FaceNotMeasurable):
    """The head is turned (yaw) or tipped (pitch) too far from facing the camera.

    Attributes:
        yaw: Estimated rotation about the vertical axis, degrees (positive: towards the patient's left).
        pitch: Estimated rotation about the horizontal axis, degrees (positive: chin down).
        limit: The largest angle measured.

    Examples:
        >>> print(FaceTurned(31.0, 2.0, 20))
        cannot measure the face in the still: head turned 31°, tipped 2°, limit 20° (face the camera)
    """

    def __init__(self, yaw: float, pitch: float, limit: float, *, step: str | None = None) -> None:
        self.yaw = yaw
        self.pitch = pitch
        self.limit = limit
        super().__init__(
            f"head turned {abs(yaw):.0f}°, tipped {abs(pitch):.0f}°, limit {limit:g}° (face the camera)",
            step=step,
        )


class SessionError(TelemedroomError):
    """Something went wrong in a consultation session (tokens, signaling, peer, audit).

    Examples:
        >>> issubclass(TokenError, SessionError)
        True
    """


class TokenRefusal(StrEnum):
    """Why a join token or a booking code was refused (the ``reason`` of :class:`TokenError`)."""

    MALFORMED = "malformed"
    """Not a compact JWS, or its claims do not parse."""
    BAD_SIGNATURE = "bad_signature"
    """The signature does not verify, the algorithm is not EdDSA, or the key id is unknown."""
    WRONG_AUDIENCE = "wrong_audience"
    """Issued for another service (``aud``)."""
    WRONG_ROOM = "wrong_room"
    """Issued for another room."""
    WRONG_APPOINTMENT = "wrong_appointment"
    """Issued for another appointment."""
    WRONG_ROLE = "wrong_role"
    """The role does not allow this (a booking code only ever yields a patient token)."""
    EXPIRED = "expired"
    """Its time window has ended (beyond the clock-skew leeway)."""
    NOT_YET_VALID = "not_yet_valid"
    """Its time window has not begun (beyond the clock-skew leeway)."""
    ALREADY_CONNECTED = "already_connected"
    """A connection with the same token id is open."""
    UNKNOWN_CODE = "unknown_code"
    """No booking code like this one exists (or it was used up)."""
    RATE_LIMITED = "rate_limited"
    """Too many wrong booking codes from this client; wait and try again."""


class TokenError(SessionError):
    """A join token or a booking code was refused.

    Attributes:
        reason: Why, as a :class:`TokenRefusal`.
        detail: More words about it; never the token itself.
        token_id: The token's id (``jti``) when it could be read, else ``None``.

    Examples:
        >>> from telemedroom.errors import TokenRefusal
        >>> err = TokenError(TokenRefusal.EXPIRED, "ended at 10:00 UTC", token_id="t-1")
        >>> err.reason, str(err)
        (<TokenRefusal.EXPIRED: 'expired'>, 'join token refused (expired): ended at 10:00 UTC')
    """

    def __init__(self, reason: TokenRefusal, detail: str, *, token_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.token_id = token_id
        super().__init__(f"join token refused ({reason.value}): {detail}")


class SignalingError(SessionError):
    """The signaling server answered with an error, refused the connection, or the link broke.

    Attributes:
        code: The protocol's error code (``"forbidden"``, ``"token"``, ...) or ``"closed"``.
        detail: The server's message or what went wrong.

    Examples:
        >>> str(SignalingError("forbidden", "only a physician may admit"))
        'signaling: forbidden: only a physician may admit'
    """

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"signaling: {code}: {detail}")


class PeerError(SessionError):
    """The WebRTC peer could not negotiate, connect, or carry out a request.

    Attributes:
        reason: What went wrong; an aiortc error is ``__cause__``.

    Examples:
        >>> str(PeerError("ICE failed"))
        'peer connection: ICE failed'
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"peer connection: {reason}")


class AuditIntegrityError(SessionError):
    """The audit log's hash chain is broken: an entry was altered, removed or reordered.

    Attributes:
        index: Position of the first entry that does not verify.
        reason: What does not match.

    Examples:
        >>> str(AuditIntegrityError(3, "hash does not match the entry"))
        'audit log entry 3: hash does not match the entry'
    """

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"audit log entry {index}: {reason}")


class SfuError(SessionError):
    """The Janus SFU answered a request with an error, or could not be reached at all.

    Attributes:
        code: Janus's error code (``403`` unauthorized, ``428`` no such room, ...), or
            ``None`` when Janus could not be reached (then an httpx error is ``__cause__``).
        detail: Janus's reason, or what failed.

    Examples:
        >>> str(SfuError(403, "Unauthorized request (wrong or missing secret/token)"))
        'sfu: Janus error 403: Unauthorized request (wrong or missing secret/token)'
        >>> SfuError(None, "connection refused").unreachable
        True
    """

    def __init__(self, code: int | None, detail: str) -> None:
        self.code = code
        self.detail = detail
        what = f"Janus error {code}" if code is not None else "Janus unreachable"
        super().__init__(f"sfu: {what}: {detail}")

    @property
    def unreachable(self) -> bool:
        """Whether Janus could not be reached (rather than refusing the request)."""
        return self.code is None


class RoomError(TelemedroomError):
    """Something went wrong in the room: its configuration, a visit's state machine, a check-in.

    Examples:
        >>> issubclass(RoomStateError, RoomError)
        True
    """


class RoomConfigError(RoomError, ConfigError):
    """A room configuration key is missing or has a value that cannot be used.

    Attributes:
        key: The key, dotted for nested tables (``"fhir.base_url"``); ``None`` when the
            file as a whole cannot be read.
        source: The TOML file it came from, or ``"environment"``/``"arguments"``.
        reason: What is wrong with it.

    Examples:
        >>> str(RoomConfigError("room_id", "room.toml", "missing"))
        'room configuration room.toml: room_id: missing'
    """

    product = "room"


class RoomStateError(RoomError):
    """The room cannot do this now: the visit's state machine has no such transition.

    Attributes:
        state: The room's state (a :class:`telemedroom.RoomState` value).
        action: What was asked (``"measure"``, ``"check_in"``, ...).
        target: The state the action would lead to, if it has one.

    Examples:
        >>> str(RoomStateError("idle", "measure", "measuring"))
        'the room cannot measure in state idle (no transition idle -> measuring)'
    """

    def __init__(self, state: str, action: str, target: str | None = None) -> None:
        self.state = state
        self.action = action
        self.target = target
        why = f" (no transition {state} -> {target})" if target else ""
        super().__init__(f"the room cannot {action} in state {state}{why}")


class CheckInRefused(RoomError):
    """A booking code was not accepted at the kiosk.

    Attributes:
        reason: ``"unknown_code"``, ``"too_many_attempts"``, ``"not_now"`` or ``"busy"``;
            the same word the kiosk's ``CheckInRejected`` event carries. The code itself
            is never kept.

    Examples:
        >>> str(CheckInRefused("unknown_code"))
        'check-in refused: unknown_code'
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"check-in refused: {reason}" + (f" ({detail})" if detail else ""))


# -- the residents' booking page ------------------------------------------------------------


class BookingError(TelemedroomError):
    """Something about the residents' booking page (``telemedroom.booking``) or its records."""


class BookingConfigError(BookingError, ConfigError):
    """A booking configuration key is missing or invalid.

    Attributes:
        key: The key (dotted for nested tables), or ``None`` for the whole file.
        source: The file (or ``"environment"``).
        reason: What is wrong and what to do.

    Examples:
        >>> print(BookingConfigError("smtp.port", "booking.toml", "must be a number"))
        booking configuration booking.toml: smtp.port: must be a number
    """

    product = "booking"


class BookingInputError(BookingError, ValueError):
    """A field of a resident's form is missing or invalid.

    The value itself is never kept (it may be personal data); the page shows ``reason``
    next to the field.

    Attributes:
        field: The form field, e.g. ``"birth_date"``.
        reason: A short code the page translates, e.g. ``"not_a_date"``, ``"too_long"``.

    Examples:
        >>> err = BookingInputError("birth_date", "not_a_date")
        >>> str(err), isinstance(err, ValueError)
        ('booking form field birth_date: not_a_date', True)
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"booking form field {field}: {reason}")


class BookingRefused(BookingError):
    """A booking request was refused before it reached the schedule.

    Attributes:
        reason: ``"rate_limited"``, ``"hold_limit"``, ``"csrf"``, ``"bot"``,
            ``"link_invalid"``, ``"consent_missing"`` or ``"not_found"``.
        retry_after: Seconds after which the same request may succeed, if known.

    Examples:
        >>> str(BookingRefused("rate_limited", retry_after=30))
        'booking request refused: rate_limited (retry after 30 s)'
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        after = f" (retry after {retry_after:g} s)" if retry_after is not None else ""
        super().__init__(f"booking request refused: {reason}{after}")


class EmailDeliveryError(BookingError):
    """The SMTP server did not take a confirmation e-mail (the booking itself stands).

    Attributes:
        server: ``host:port`` of the SMTP server.
        reason: What the server or the connection said.

    Examples:
        >>> print(EmailDeliveryError("mail.example:587", "connection refused"))
        e-mail not delivered to mail.example:587: connection refused
    """

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"e-mail not delivered to {server}: {reason}")


# -- the health apartment's home gateway ------------------------------------------------------


class ApartmentError(TelemedroomError):
    """Something went wrong in the health apartment's home gateway.

    Examples:
        >>> issubclass(ApartmentConfigError, ApartmentError)
        True
    """


class ApartmentConfigError(ApartmentError, ConfigError):
    """An apartment configuration key is missing or has a value that cannot be used.

    Attributes:
        key: The key, dotted for nested tables (``"devices.0.kind"``); ``None`` when the
            file as a whole cannot be read.
        source: The TOML file it came from, or ``"environment"``.
        reason: What is wrong with it.

    Examples:
        >>> str(ApartmentConfigError("patient", "apartment.toml", "missing"))
        'apartment configuration apartment.toml: patient: missing'
    """

    product = "apartment"


class StorageFullError(ApartmentError):
    """Too little disk space is left to accept a reading without risking what is already kept.

    The gateway refuses new readings (and raises a ``device`` alert) instead of writing
    half a record; everything accepted before stays on disk.

    Attributes:
        path: The data directory.
        free: Bytes free there.
        needed: Bytes the gateway keeps in reserve.

    Examples:
        >>> str(StorageFullError("/var/lib/apartment", 1_000_000, 50_000_000))
        'disk full at /var/lib/apartment: 1.0 MB free, 50.0 MB needed; new readings are refused'
    """

    def __init__(self, path: str, free: int, needed: int) -> None:
        self.path = path
        self.free = free
        self.needed = needed
        super().__init__(
            f"disk full at {path}: {free / 1e6:.1f} MB free, {needed / 1e6:.1f} MB needed;"
            " new readings are refused"
        )


# -- the clinic hub (telemedroom.hub) -----------------------------------------------------------


class HubError(TelemedroomError):
    """Something went wrong in the clinic hub: its configuration, a login, a request, a heartbeat.

    Examples:
        >>> issubclass(LoginRefused, HubError)
        True
    """


class HubConfigError(HubError, ConfigError):
    """A hub configuration key is missing or invalid.

    Attributes:
        key: The dotted key (``oidc.issuer``), or ``""`` for the file as a whole.
        source: The file (or ``"environment"``) it came from.
        reason: What is wrong.

    Examples:
        >>> str(HubConfigError("oidc.issuer", "hub.toml", "missing"))
        'hub configuration hub.toml: oidc.issuer: missing'
    """

    product = "hub"


class LoginRefused(HubError):
    """A staff member's login was refused.

    Attributes:
        reason: ``"unknown_state"`` (an unknown, used or expired login attempt: a replayed
            callback), ``"idp_error"``, ``"code_refused"`` (the IdP would not exchange the
            code), ``"id_token"`` (the ID token does not verify), ``"no_role"``,
            ``"bad_credentials"`` (local accounts), ``"idp_unreachable"``.
        detail: More words; never a password, code or token.

    Examples:
        >>> str(LoginRefused("no_role", "the roles claim names neither physician nor operator"))
        'login refused (no_role): the roles claim names neither physician nor operator'
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"login refused ({reason})" + (f": {detail}" if detail else ""))


class AccessRefused(HubError):
    """A request to the hub was refused.

    Attributes:
        reason: ``"no_session"``, ``"session_expired"``, ``"csrf"``, ``"origin"``,
            ``"forbidden_role"``, ``"not_assigned"``.
        status: The HTTP status the hub answers with (401 or 403).

    Examples:
        >>> err = AccessRefused("csrf", "no CSRF token in the form")
        >>> err.status, str(err)
        (403, 'request refused (csrf): no CSRF token in the form')
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.status = 401 if reason in ("no_session", "session_expired") else 403
        super().__init__(f"request refused ({reason})" + (f": {detail}" if detail else ""))


class HeartbeatRefused(HubError):
    """A room's heartbeat was refused by the hub.

    Attributes:
        room: The room it claimed to come from.
        reason: ``"malformed"``, ``"unknown_room"``, ``"bad_signature"``,
            ``"room_mismatch"`` (signed for another room), ``"replayed"``, ``"from_future"``.
        detail: More words about it.

    Examples:
        >>> str(HeartbeatRefused("nord-1", "bad_signature", "not signed with the key of nord-1"))
        'heartbeat from nord-1 refused (bad_signature): not signed with the key of nord-1'
    """

    def __init__(self, room: str, reason: str, detail: str = "") -> None:
        self.room = room
        self.reason = reason
        self.detail = detail
        super().__init__(f"heartbeat from {room} refused ({reason})" + (f": {detail}" if detail else ""))
