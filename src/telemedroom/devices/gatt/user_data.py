"""User Data Service: User Control Point (0x2A9F) and User Index (0x2A9A).

User Data Service 1.0 §3.3 (User Control Point) and GATT Specification Supplement
("User Control Point", "User Index"). A multi-user scale keeps readings per user slot and
hands them out only after the user's consent code has been given for that slot::

    request:  op code u8 | parameter
              register new user: consent code u16       (0x01)
              consent:           user index u8 | consent code u16   (0x02)
              delete user data:  (none)                  (0x03)
    response: 0x20 | request op code u8 | response value u8 | [user index u8 for 0x01]

Consent codes are 0-9999 (UDS §3.3.2.1); user index 0xFF means "unknown user".

Examples:
    >>> encode_request(consent(1, 1234)).hex()
    '0201d204'
    >>> decode_response(bytes.fromhex("20 02 01"))
    UcpResponse(request_op_code=2, result=1, user_index=None)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from telemedroom.devices.gatt._wire import fail
from telemedroom.errors import CodecError

__all__ = [
    "USER_CONTROL_POINT",
    "USER_INDEX",
    "UcpOpCode",
    "UcpRequest",
    "UcpResponse",
    "UcpResult",
    "consent",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "result_name",
]

USER_CONTROL_POINT = 0x2A9F
USER_INDEX = 0x2A9A
_MAX_CONSENT_CODE = 9999  # UDS §3.3.2.1
_MAX_USER_INDEX = 0xFE  # 0xFF is "unknown user"
_U16 = struct.Struct("<H")


class UcpOpCode(IntEnum):
    """User Control Point op codes (UDS 1.0 §3.3.1, Table 3.3).

    Examples:
        >>> UcpOpCode(2).name
        'CONSENT'
    """

    REGISTER_NEW_USER = 0x01
    CONSENT = 0x02
    DELETE_USER_DATA = 0x03
    RESPONSE_CODE = 0x20


class UcpResult(IntEnum):
    """User Control Point response values (UDS 1.0 §3.3.1, Table 3.4).

    Examples:
        >>> UcpResult(5).name
        'USER_NOT_AUTHORIZED'
    """

    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    USER_NOT_AUTHORIZED = 0x05


@dataclass(frozen=True, slots=True)
class UcpRequest:
    """A request written to the User Control Point.

    Examples:
        >>> UcpRequest(UcpOpCode.REGISTER_NEW_USER, consent_code=42).user_index is None
        True
    """

    op_code: UcpOpCode
    user_index: int | None = None
    consent_code: int | None = None


@dataclass(frozen=True, slots=True)
class UcpResponse:
    """The server's answer: which request, how it went, and the new user's index.

    Examples:
        >>> UcpResponse(1, 1, 3).user_index
        3
    """

    request_op_code: int
    result: int
    user_index: int | None = None


def result_name(code: int) -> str:
    """The snake_case name of a response value, ``reserved_0x..`` if unassigned.

    Examples:
        >>> result_name(5), result_name(9)
        ('user_not_authorized', 'reserved_0x09')
    """
    try:
        return UcpResult(code).name.lower()
    except ValueError:
        return f"reserved_0x{code:02x}"


def consent(user_index: int, consent_code: int) -> UcpRequest:
    """The Consent request for a user slot.

    Examples:
        >>> consent(3, 9999).consent_code
        9999
    """
    return UcpRequest(UcpOpCode.CONSENT, user_index, consent_code)


def _check(user_index: int | None, consent_code: int | None) -> None:
    if user_index is not None and not 0 <= user_index <= _MAX_USER_INDEX:
        raise CodecError(f"user index {user_index} is outside 0-{_MAX_USER_INDEX}")
    if consent_code is not None and not 0 <= consent_code <= _MAX_CONSENT_CODE:
        raise CodecError(f"consent code {consent_code} is outside 0-{_MAX_CONSENT_CODE}")


def encode_request(request: UcpRequest) -> bytes:
    """Encode a User Control Point request.

    Raises:
        CodecError: A parameter is missing or out of range, or the op code is a response.

    Examples:
        >>> encode_request(UcpRequest(UcpOpCode.REGISTER_NEW_USER, consent_code=1)).hex()
        '010100'
    """
    op, index, code = request.op_code, request.user_index, request.consent_code
    _check(index, code)
    if op == UcpOpCode.REGISTER_NEW_USER and code is not None and index is None:
        return bytes([op]) + _U16.pack(code)
    if op == UcpOpCode.CONSENT and code is not None and index is not None:
        return bytes([op, index]) + _U16.pack(code)
    if op == UcpOpCode.DELETE_USER_DATA and code is None and index is None:
        return bytes([op])
    raise CodecError(f"{request!r} does not fit the User Control Point (UDS §3.3.1)")


def decode_request(data: bytes) -> UcpRequest:
    """Decode a User Control Point request, as a scale (or its simulation) receives it.

    Raises:
        MeasurementDecodeError: Unknown op code, wrong length, or a parameter out of range.

    Examples:
        >>> decode_request(bytes.fromhex("0201d204")).user_index
        1
    """
    uuid = USER_CONTROL_POINT
    sizes = {UcpOpCode.REGISTER_NEW_USER: 3, UcpOpCode.CONSENT: 4, UcpOpCode.DELETE_USER_DATA: 1}
    if not data:
        fail(uuid, data, 0, "empty request")
    try:
        op = UcpOpCode(data[0])
    except ValueError:
        fail(uuid, data, 0, f"op code 0x{data[0]:02x} is not defined")
    if op not in sizes:
        fail(uuid, data, 0, f"op code {op.name} is a response, not a request")
    if len(data) != sizes[op]:
        fail(uuid, data, min(len(data), sizes[op]), f"{op.name} is {sizes[op]} bytes")
    if op == UcpOpCode.DELETE_USER_DATA:
        return UcpRequest(op)
    index = data[1] if op == UcpOpCode.CONSENT else None
    code = _U16.unpack_from(data, len(data) - 2)[0]
    try:
        _check(index, code)
    except CodecError as exc:
        fail(uuid, data, 1, str(exc))
    return UcpRequest(op, index, code)


def encode_response(response: UcpResponse) -> bytes:
    """Encode a User Control Point response (for virtual devices).

    Raises:
        CodecError: A field does not fit its byte.

    Examples:
        >>> encode_response(UcpResponse(UcpOpCode.REGISTER_NEW_USER, UcpResult.SUCCESS, 2)).hex()
        '20010102'
    """
    fields = [response.request_op_code, response.result]
    if response.user_index is not None:
        fields.append(response.user_index)
    if not all(0 <= f <= 0xFF for f in fields):
        raise CodecError(f"{response!r} does not fit the User Control Point")
    return bytes([UcpOpCode.RESPONSE_CODE, *fields])


def decode_response(data: bytes) -> UcpResponse:
    """Decode a User Control Point indication.

    Raises:
        MeasurementDecodeError: Not a response, or a wrong length.

    Examples:
        >>> decode_response(bytes.fromhex("20 01 01 02")).user_index
        2
    """
    uuid = USER_CONTROL_POINT
    if len(data) not in (3, 4):
        fail(uuid, data, min(len(data), 3), "a response is three or four bytes")
    if data[0] != UcpOpCode.RESPONSE_CODE:
        fail(uuid, data, 0, f"op code 0x{data[0]:02x} is not a response")
    return UcpResponse(data[1], data[2], data[3] if len(data) == 4 else None)
