"""Device Information Service (0x180A): who made the device.

GATT Specification Supplement §3.148 Manufacturer Name String (0x2A29), §3.150 Model
Number String (0x2A24), §3.196 Serial Number String (0x2A25), §3.91 Firmware Revision
String (0x2A26), §3.118 Hardware Revision String (0x2A27), §3.207 Software Revision
String (0x2A28), §3.216 System ID (0x2A23); Device Information Service 1.1.

Examples:
    >>> info = decode_device_information({
    ...     0x2A29: b"Acme Medical", 0x2A24: b"BP-7",
    ...     0x2A23: bytes.fromhex("5f4e3dfeff2c1b00"),
    ... })
    >>> info.manufacturer, info.model, info.system_id
    ('Acme Medical', 'BP-7', '00-1B-2C-FF-FE-3D-4E-5F')
"""

from __future__ import annotations

from collections.abc import Mapping

from telemedroom.devices.gatt._wire import fail, short_uuid
from telemedroom.errors import MeasurementEncodeError, UnsupportedCharacteristic
from telemedroom.measurements import DeviceInfo

__all__ = [
    "DEVICE_INFORMATION_FIELDS",
    "SYSTEM_ID",
    "decode_device_information",
    "decode_system_id",
    "encode_device_information",
    "encode_system_id",
]

SYSTEM_ID = 0x2A23

# characteristic -> DeviceInfo field; the UTF-8 strings of the service.
DEVICE_INFORMATION_FIELDS = {
    0x2A29: "manufacturer",
    0x2A24: "model",
    0x2A25: "serial_number",
    0x2A26: "firmware_revision",
    0x2A27: "hardware_revision",
    0x2A28: "software_revision",
}


def decode_system_id(data: bytes) -> str:
    """Decode a System ID (0x2A23) as the EUI-64 the PHD IG uses (``"00-1B-2C-FF-FE-3D-4E-5F"``).

    On the wire the 40-bit manufacturer identifier comes first and the 24-bit OUI last,
    both little-endian, so the EUI-64 (OUI first) is the eight bytes reversed.

    Raises:
        MeasurementDecodeError: The value is not eight bytes.

    Examples:
        >>> decode_system_id(bytes.fromhex("0100000000563412"))
        '12-34-56-00-00-00-00-01'
    """
    if len(data) != 8:
        fail(SYSTEM_ID, data, min(len(data), 8), "a System ID is eight bytes")
    return "-".join(f"{b:02X}" for b in reversed(data))


def encode_system_id(eui64: str) -> bytes:
    """Encode an EUI-64 (``"00-1B-2C-FF-FE-3D-4E-5F"``, colons or no separators also work).

    Raises:
        MeasurementEncodeError: The text is not eight hex bytes.

    Examples:
        >>> encode_system_id("12-34-56-00-00-00-00-01").hex()
        '0100000000563412'
    """
    digits = eui64.replace("-", "").replace(":", "")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise MeasurementEncodeError(f"{eui64!r} is not an EUI-64 of eight hex bytes")
    return raw[::-1]


def _text(data: bytes) -> str:
    # Devices pad with NULs and some send Latin-1; keep what can be read rather than lose the field.
    return data.rstrip(b"\x00").decode("utf-8", errors="replace").strip()


def decode_device_information(values: Mapping[int | str, bytes], *, address: str | None = None) -> DeviceInfo:
    """Build a :class:`~telemedroom.DeviceInfo` from the values read from the service.

    Args:
        values: Characteristic UUID (any spelling :func:`~telemedroom.devices.gatt.decode`
            accepts) -> value. Characteristics not of this service are an error;
            missing ones stay ``None``.
        address: The device's Bluetooth address, if known.

    Raises:
        UnsupportedCharacteristic: A key is not a Device Information characteristic.
        MeasurementDecodeError: The System ID is not eight bytes.

    Examples:
        >>> decode_device_information({"2a25": b"SN-0042\\x00\\x00"}).serial_number
        'SN-0042'
    """
    fields: dict[str, str | None] = {"address": address}
    for key, data in values.items():
        uuid = short_uuid(key)
        if uuid == SYSTEM_ID:
            fields["system_id"] = decode_system_id(data)
        elif uuid in DEVICE_INFORMATION_FIELDS:
            fields[DEVICE_INFORMATION_FIELDS[uuid]] = _text(data) or None
        else:
            raise UnsupportedCharacteristic(f"{uuid:04x} (not in the Device Information Service)")
    return DeviceInfo(**fields)


def encode_device_information(info: DeviceInfo) -> dict[int, bytes]:
    """The characteristic values a device with ``info`` exposes (for virtual devices).

    Raises:
        MeasurementEncodeError: A text is not UTF-8 encodable (a lone surrogate) or the
            System ID is not an EUI-64.

    Examples:
        >>> encode_device_information(DeviceInfo(manufacturer="Acme"))
        {10793: b'Acme'}
    """
    values: dict[int, bytes] = {}
    for uuid, name in DEVICE_INFORMATION_FIELDS.items():
        text = getattr(info, name)
        if text is None:
            continue
        try:  # GSS utf8s: a lone surrogate has no UTF-8 form
            values[uuid] = text.encode()
        except UnicodeEncodeError as exc:
            raise MeasurementEncodeError(f"{name} {text!r} cannot be sent as UTF-8: {exc.reason}") from exc
    if info.system_id is not None:
        values[SYSTEM_ID] = encode_system_id(info.system_id)
    return values
