"""The one exception tree of telemedroom.

Every error the library raises is a :class:`TelemedroomError`; catch that to catch them
all, or a branch to handle one layer. Errors of the libraries beneath us (bleak, httpx,
bumble, ``struct``) are translated at the boundary and chained as ``__cause__``.

```text
TelemedroomError
├── MissingExtraError (ImportError)  an optional part needs ``pip install 'telemedroom[extra]'``
├── MissingExtra (ImportError)       the same, as raised by the Bluetooth layer
└── DeviceError                      something about a medical device or its data
    ├── MeasurementDecodeError       bytes from a device do not follow the profile
    ├── UnsupportedCharacteristic    no decoder for this GATT characteristic
    ├── CodecError (ValueError)      a value cannot be put on the wire
    │   └── MeasurementEncodeError   a Measurement cannot be put on the wire
    ├── DeviceNotFound               no device answered at this address
    ├── DeviceConnectionError        the link to a device failed
    │   └── PairingError             the device refused or failed pairing/bonding
    ├── RecordAccessError            a Record Access Control Point procedure failed
    ├── ConsentError                 a multi-user device refused a user's consent code
    ├── DriverLoadError              a device driver plugin could not be loaded
    └── MediaDeviceError             a camera, microphone or stethoscope cannot be opened or read
└── SessionError                     something about a consultation session
    ├── TokenError                   a join token or booking code was refused (``reason``)
    ├── SignalingError               the signaling server refused a message or the link broke
    ├── PeerError                    the WebRTC peer could not connect or answer a request
    └── AuditIntegrityError          the audit log's hash chain is broken (``index``)
```

Later layers add ``FhirError`` and ``SchedulingError`` under the same root.

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

from enum import StrEnum

__all__ = [
    "AuditIntegrityError",
    "CodecError",
    "ConsentError",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceNotFound",
    "DriverLoadError",
    "MeasurementDecodeError",
    "MeasurementEncodeError",
    "MediaDeviceError",
    "MissingExtra",
    "MissingExtraError",
    "PairingError",
    "PeerError",
    "RecordAccessError",
    "SessionError",
    "SignalingError",
    "TelemedroomError",
    "TokenError",
    "UnsupportedCharacteristic",
]


class TelemedroomError(Exception):
    """Base of every error raised by telemedroom.

    Examples:
        >>> issubclass(DeviceNotFound, TelemedroomError)
        True
    """


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


class MissingExtra(TelemedroomError, ImportError):
    """An optional part of telemedroom needs a package that is not installed.

    It is also an :class:`ImportError`.

    Attributes:
        extra: The pip extra that installs what is missing (``"ble"``, ``"sim"``, ...).
        package: The missing package.

    Examples:
        >>> str(MissingExtra("ble", "bleak"))
        "this needs the package 'bleak': pip install 'telemedroom[ble]'"
    """

    def __init__(self, extra: str, package: str) -> None:
        self.extra = extra
        self.package = package
        super().__init__(f"this needs the package {package!r}: pip install 'telemedroom[{extra}]'")


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

    Attributes:
        extra: The extra that provides it, e.g. ``"video"``.
        feature: What needed it, e.g. ``"telemedroom.devices.media"``.

    Examples:
        >>> print(MissingExtraError("video", "telemedroom.devices.media"))
        telemedroom.devices.media needs the 'video' extra: pip install 'telemedroom[video]'
    """

    def __init__(self, extra: str, feature: str) -> None:
        self.extra = extra
        self.feature = feature
        super().__init__(f"{feature} needs the {extra!r} extra: pip install 'telemedroom[{extra}]'")


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
