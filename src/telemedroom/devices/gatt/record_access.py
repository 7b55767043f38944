"""Record Access Control Point (0x2A52): asking a glucometer for its stored records.

GATT Specification Supplement, "Record Access Control Point" (RACP), as used by the
Glucose Service 1.0.1 ("Record Access Control Point behavioral description") and the
Glucose Profile 1.0.1 ("Record Access Control Point procedures"). Layout::

    op code u8 | operator u8 | operand (depends on op code and operator)

A request operand is a filter type u8 followed by one (``<=``, ``>=``) or two
(``within range``) u16 sequence numbers; "all", "first" and "last" take none. The
server answers "report number of stored records" with ``05 00 <count u16>`` and every
other procedure with ``06 00 <request op code u8> <response code u8>``, after the
records themselves have been notified on Glucose Measurement (0x2A18).

Only the sequence-number filter is implemented: it is the one every glucometer must
support, and the one that lets a room fetch just the records it has not seen. A request
filtering by user facing time is refused with a :class:`~telemedroom.errors.CodecError`
when encoding, and with a decode error when received.

Examples:
    >>> encode_request(report_stored_records(since=18)).hex()
    '0103011200'
    >>> decode_response(bytes.fromhex("06 00 01 01"))
    ResponseCodeValue(request_op_code=1, response_code=1)
    >>> decode_response(bytes.fromhex("05 00 2a00")).count
    42
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from telemedroom.devices.gatt._wire import fail
from telemedroom.errors import CodecError

__all__ = [
    "RECORD_ACCESS_CONTROL_POINT",
    "FilterType",
    "NumberOfRecords",
    "OpCode",
    "Operator",
    "RacpRequest",
    "ResponseCode",
    "ResponseCodeValue",
    "abort_operation",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "report_number_of_stored_records",
    "report_stored_records",
    "response_name",
]

RECORD_ACCESS_CONTROL_POINT = 0x2A52


class OpCode(IntEnum):
    """RACP op codes (GSS, Record Access Control Point, "Op Code" field).

    Examples:
        >>> OpCode(4).name
        'REPORT_NUMBER_OF_STORED_RECORDS'
    """

    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class Operator(IntEnum):
    """RACP operators (GSS, Record Access Control Point, "Operator" field).

    Examples:
        >>> Operator.GREATER_THAN_OR_EQUAL_TO.value
        3
    """

    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL_TO = 0x02
    GREATER_THAN_OR_EQUAL_TO = 0x03
    WITHIN_RANGE_OF = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class FilterType(IntEnum):
    """What a filtering operand compares (Glucose Service, RACP "Filter Type").

    Examples:
        >>> FilterType(1).name
        'SEQUENCE_NUMBER'
    """

    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class ResponseCode(IntEnum):
    """RACP response codes (GSS, Record Access Control Point, "Response Code Values").

    Examples:
        >>> ResponseCode(6).name
        'NO_RECORDS_FOUND'
    """

    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


# Requests a client may send, and the operators each accepts (GSS RACP op code table).
_REQUESTS = frozenset(
    {
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)
# Operator -> how many u16 values follow the filter type (None: no operand at all).
_OPERAND_VALUES: dict[Operator, int | None] = {
    Operator.ALL_RECORDS: None,
    Operator.FIRST_RECORD: None,
    Operator.LAST_RECORD: None,
    Operator.LESS_THAN_OR_EQUAL_TO: 1,
    Operator.GREATER_THAN_OR_EQUAL_TO: 1,
    Operator.WITHIN_RANGE_OF: 2,
}

_U16 = struct.Struct("<H")


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request written to the Record Access Control Point.

    Attributes:
        op_code: What to do.
        operator: Which records (``NULL`` for "abort operation").
        operand: The sequence numbers the operator compares with: none, one, or
            ``(minimum, maximum)`` for ``WITHIN_RANGE_OF``.

    Examples:
        >>> RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE_OF, (3, 9)).operand
        (3, 9)
    """

    op_code: OpCode
    operator: Operator = Operator.NULL
    operand: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NumberOfRecords:
    """The answer to "report number of stored records".

    Examples:
        >>> encode_response(NumberOfRecords(3)).hex()
        '05000300'
    """

    count: int


@dataclass(frozen=True, slots=True)
class ResponseCodeValue:
    """The end of every other procedure: which request, and how it went.

    Codes outside :class:`ResponseCode` (reserved for future use) are kept as numbers.

    Examples:
        >>> ResponseCodeValue(1, 6).succeeded
        True
    """

    request_op_code: int
    response_code: int

    @property
    def succeeded(self) -> bool:
        """``SUCCESS``, or ``NO_RECORDS_FOUND`` (an empty answer is not a failure)."""
        return self.response_code in (ResponseCode.SUCCESS, ResponseCode.NO_RECORDS_FOUND)


def response_name(code: int) -> str:
    """The snake_case name of a response code, ``reserved_0x..`` if unassigned.

    Examples:
        >>> response_name(9), response_name(0x42)
        ('operand_not_supported', 'reserved_0x42')
    """
    try:
        return ResponseCode(code).name.lower()
    except ValueError:
        return f"reserved_0x{code:02x}"


def report_stored_records(since: int | None = None) -> RacpRequest:
    """Report all stored records, or those with sequence number >= ``since``.

    Examples:
        >>> encode_request(report_stored_records()).hex()
        '0101'
    """
    if since is None:
        return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)
    return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL_TO, (since,))


def report_number_of_stored_records(since: int | None = None) -> RacpRequest:
    """Count all stored records, or those with sequence number >= ``since``.

    Examples:
        >>> encode_request(report_number_of_stored_records(since=5)).hex()
        '0403010500'
    """
    if since is None:
        return RacpRequest(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)
    return RacpRequest(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL_TO, (since,))


def abort_operation() -> RacpRequest:
    """Stop the procedure in progress (operator Null, no operand).

    Examples:
        >>> encode_request(abort_operation()).hex()
        '0300'
    """
    return RacpRequest(OpCode.ABORT_OPERATION)


def encode_request(request: RacpRequest) -> bytes:
    """Encode a request for writing to the Record Access Control Point.

    Raises:
        CodecError: The op code is not a request, the operator does not fit it, the
            operand count is wrong or a sequence number is outside 0-65535.

    Examples:
        >>> encode_request(RacpRequest(OpCode.DELETE_STORED_RECORDS, Operator.WITHIN_RANGE_OF, (1, 2))).hex()
        '02040101000200'
    """
    op, operator, operand = request.op_code, request.operator, request.operand
    if op == OpCode.ABORT_OPERATION:
        if operator != Operator.NULL or operand:
            raise CodecError("abort operation takes the Null operator and no operand")
        return bytes([op, operator])
    if op not in _REQUESTS:
        raise CodecError(f"op code {op!r} is a server response, not a request")
    if operator not in _OPERAND_VALUES:
        raise CodecError(f"operator {operator!r} does not select records")
    values = _OPERAND_VALUES[operator]
    if len(operand) != (values or 0):
        raise CodecError(f"operator {operator.name} takes {values or 0} sequence numbers, got {len(operand)}")
    out = bytearray([op, operator])
    if values:
        if operator == Operator.WITHIN_RANGE_OF and operand[0] > operand[1]:
            raise CodecError(f"range {operand[0]}..{operand[1]} is empty: minimum above maximum")
        out.append(FilterType.SEQUENCE_NUMBER)
        for value in operand:
            if not 0 <= value <= 0xFFFF:
                raise CodecError(f"sequence number {value} is outside 0-65535")
            out += _U16.pack(value)
    return bytes(out)


def decode_request(data: bytes) -> RacpRequest:
    """Decode a request, as a glucometer (or its simulation) receives it.

    Raises:
        MeasurementDecodeError: Unknown op code or operator, an operator that does not fit
            the op code, a filter other than sequence number, or a wrong operand length.

    Examples:
        >>> r = decode_request(bytes.fromhex("0103011200"))
        >>> r.op_code.name, r.operator.name, r.operand
        ('REPORT_STORED_RECORDS', 'GREATER_THAN_OR_EQUAL_TO', (18,))
    """
    uuid = RECORD_ACCESS_CONTROL_POINT
    if len(data) < 2:
        fail(uuid, data, len(data), "a request is at least an op code and an operator")
    try:
        op = OpCode(data[0])
    except ValueError:
        fail(uuid, data, 0, f"op code 0x{data[0]:02x} is not defined")
    try:
        operator = Operator(data[1])
    except ValueError:
        fail(uuid, data, 1, f"operator 0x{data[1]:02x} is not defined")
    if op == OpCode.ABORT_OPERATION:
        if operator != Operator.NULL or len(data) != 2:
            fail(uuid, data, 1, "abort operation takes the Null operator and no operand")
        return RacpRequest(op, operator)
    if op not in _REQUESTS:
        fail(uuid, data, 0, f"op code {op.name} is a server response, not a request")
    if operator not in _OPERAND_VALUES:
        fail(uuid, data, 1, f"operator {operator.name} does not select records")
    values = _OPERAND_VALUES[operator]
    if values is None:
        if len(data) != 2:
            fail(uuid, data, 2, f"operator {operator.name} takes no operand")
        return RacpRequest(op, operator)
    if len(data) < 3:
        fail(uuid, data, 2, f"operator {operator.name} needs a filter type and {values} values")
    if data[2] != FilterType.SEQUENCE_NUMBER:
        fail(uuid, data, 2, f"filter type 0x{data[2]:02x} is not supported; only sequence number")
    if len(data) != 3 + 2 * values:
        fail(
            uuid, data, min(len(data), 3 + 2 * values), f"operator {operator.name} takes {values} u16 values"
        )
    operand = tuple(_U16.unpack_from(data, 3 + 2 * i)[0] for i in range(values))
    if operator == Operator.WITHIN_RANGE_OF and operand[0] > operand[1]:
        fail(uuid, data, 3, f"range {operand[0]}..{operand[1]} is empty: minimum above maximum")
    return RacpRequest(op, operator, operand)


def encode_response(response: NumberOfRecords | ResponseCodeValue) -> bytes:
    """Encode a server response, as a glucometer (or its simulation) indicates it.

    Raises:
        CodecError: A count or code does not fit its field.

    Examples:
        >>> answer = ResponseCodeValue(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND)
        >>> encode_response(answer).hex()
        '06000106'
    """
    if isinstance(response, NumberOfRecords):
        if not 0 <= response.count <= 0xFFFF:
            raise CodecError(f"record count {response.count} is outside 0-65535")
        return bytes([OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, Operator.NULL]) + _U16.pack(response.count)
    if not (0 <= response.request_op_code <= 0xFF and 0 <= response.response_code <= 0xFF):
        raise CodecError(f"{response!r} does not fit two bytes")
    return bytes([OpCode.RESPONSE_CODE, Operator.NULL, response.request_op_code, response.response_code])


def decode_response(data: bytes) -> NumberOfRecords | ResponseCodeValue:
    """Decode an indication of the Record Access Control Point.

    Raises:
        MeasurementDecodeError: Not a response op code, a non-Null operator, or a wrong length.

    Examples:
        >>> decode_response(bytes.fromhex("06 00 03 01")).succeeded
        True
    """
    uuid = RECORD_ACCESS_CONTROL_POINT
    if len(data) != 4:
        fail(uuid, data, min(len(data), 4), "a response is four bytes")
    if data[1] != Operator.NULL:
        fail(uuid, data, 1, f"a response carries the Null operator, not 0x{data[1]:02x}")
    if data[0] == OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        return NumberOfRecords(_U16.unpack_from(data, 2)[0])
    if data[0] != OpCode.RESPONSE_CODE:
        fail(uuid, data, 0, f"op code 0x{data[0]:02x} is not a response")
    return ResponseCodeValue(data[2], data[3])
