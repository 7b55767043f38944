"""The one exception tree of telemedroom.

Every error the library raises is a :class:`TelemedroomError`; catch that to catch them
all, or a branch to handle one layer. Errors of the libraries beneath us (bleak, httpx,
bumble, ``struct``) are translated at the boundary and chained as ``__cause__``.

```text
TelemedroomError
├── MissingExtraError (ImportError)  an optional part needs ``pip install 'telemedroom[extra]'``
└── DeviceError                      something about a medical device or its data
    ├── MeasurementDecodeError       bytes from a device do not follow the profile
    ├── UnsupportedCharacteristic    no decoder for this GATT characteristic
    ├── CodecError (ValueError)      a value cannot be put on the wire
    │   └── MeasurementEncodeError   a Measurement cannot be put on the wire
    ├── DeviceNotFound               no device answered at this address
    ├── DeviceConnectionError        the link to a device failed
    └── MediaDeviceError             a camera, microphone or stethoscope cannot be opened or read
```

Later layers add ``FhirError``, ``SessionError`` and ``SchedulingError`` under the same
root.

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

__all__ = [
    "CodecError",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceNotFound",
    "MeasurementDecodeError",
    "MeasurementEncodeError",
    "MediaDeviceError",
    "MissingExtraError",
    "TelemedroomError",
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
