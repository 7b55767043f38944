"""Record Access Control Point (0x2A52): golden packets, round trips, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.devices.gatt import record_access as racp
from telemedroom.errors import CodecError, MeasurementDecodeError

Op, Operator, Code = racp.OpCode, racp.Operator, racp.ResponseCode

# Byte layouts written out from the GSS RACP field tables (op code | operator | operand).
GOLDEN_REQUESTS = [
    ("0101", racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)),
    ("0103012a00", racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL_TO, (42,))),
    ("010201ffff", racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.LESS_THAN_OR_EQUAL_TO, (0xFFFF,))),
    ("01040101000900", racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE_OF, (1, 9))),
    ("0105", racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.FIRST_RECORD)),
    ("0106", racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.LAST_RECORD)),
    ("0201", racp.RacpRequest(Op.DELETE_STORED_RECORDS, Operator.ALL_RECORDS)),
    ("0401", racp.RacpRequest(Op.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)),
    ("0300", racp.RacpRequest(Op.ABORT_OPERATION)),
]
GOLDEN_RESPONSES = [
    ("05000000", racp.NumberOfRecords(0)),
    ("0500e803", racp.NumberOfRecords(1000)),
    ("06000101", racp.ResponseCodeValue(Op.REPORT_STORED_RECORDS, Code.SUCCESS)),
    ("06000106", racp.ResponseCodeValue(Op.REPORT_STORED_RECORDS, Code.NO_RECORDS_FOUND)),
    ("06000301", racp.ResponseCodeValue(Op.ABORT_OPERATION, Code.SUCCESS)),
    ("06000109", racp.ResponseCodeValue(Op.REPORT_STORED_RECORDS, Code.OPERAND_NOT_SUPPORTED)),
]


@pytest.mark.parametrize(("wire", "request_"), GOLDEN_REQUESTS, ids=[w for w, _ in GOLDEN_REQUESTS])
def test_golden_requests(wire: str, request_: racp.RacpRequest) -> None:
    assert racp.encode_request(request_).hex() == wire
    assert racp.decode_request(bytes.fromhex(wire)) == request_


@pytest.mark.parametrize(("wire", "response"), GOLDEN_RESPONSES, ids=[w for w, _ in GOLDEN_RESPONSES])
def test_golden_responses(wire: str, response: racp.NumberOfRecords | racp.ResponseCodeValue) -> None:
    assert racp.encode_response(response).hex() == wire
    assert racp.decode_response(bytes.fromhex(wire)) == response


def test_convenience_requests() -> None:
    assert racp.report_stored_records() == GOLDEN_REQUESTS[0][1]
    assert racp.report_stored_records(since=42) == GOLDEN_REQUESTS[1][1]
    assert racp.report_number_of_stored_records().operator == Operator.ALL_RECORDS
    assert racp.abort_operation() == GOLDEN_REQUESTS[-1][1]


@pytest.mark.parametrize(
    ("wire", "offset", "reason"),
    [
        ("", 0, "at least an op code"),
        ("01", 1, "at least an op code"),
        ("09 01", 0, "op code 0x09"),
        ("01 07", 1, "operator 0x07"),
        ("01 00", 1, "does not select records"),
        ("05 01", 0, "server response"),
        ("03 01", 1, "Null operator"),
        ("01 01 00", 2, "takes no operand"),
        ("01 03", 2, "needs a filter type"),
        ("01 03 02 0000000000000000", 2, "only sequence number"),
        ("01 03 01 2a", 4, "u16 values"),
        ("01 04 01 0100", 5, "u16 values"),
        ("01 04 01 0900 0100", 3, "minimum above maximum"),
    ],
)
def test_malformed_requests_say_where(wire: str, offset: int, reason: str) -> None:
    with pytest.raises(MeasurementDecodeError) as info:
        racp.decode_request(bytes.fromhex(wire))
    assert info.value.uuid == "2a52"
    assert info.value.offset == offset
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("wire", "reason"),
    [("060001", "four bytes"), ("06010101", "Null operator"), ("01000101", "not a response")],
)
def test_malformed_responses(wire: str, reason: str) -> None:
    with pytest.raises(MeasurementDecodeError, match=reason):
        racp.decode_response(bytes.fromhex(wire))


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (racp.RacpRequest(Op.RESPONSE_CODE, Operator.NULL), "server response"),
        (racp.RacpRequest(Op.ABORT_OPERATION, Operator.ALL_RECORDS), "Null operator"),
        (racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.NULL), "does not select"),
        (racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL_TO), "takes 1"),
        (racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.ALL_RECORDS, (1,)), "takes 0"),
        (
            racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE_OF, (9, 1)),
            "minimum above maximum",
        ),
        (
            racp.RacpRequest(Op.REPORT_STORED_RECORDS, Operator.LESS_THAN_OR_EQUAL_TO, (70000,)),
            "outside 0-65535",
        ),
    ],
)
def test_requests_that_cannot_be_encoded(request_: racp.RacpRequest, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        racp.encode_request(request_)


def test_responses_that_cannot_be_encoded() -> None:
    with pytest.raises(CodecError):
        racp.encode_response(racp.NumberOfRecords(-1))
    with pytest.raises(CodecError):
        racp.encode_response(racp.ResponseCodeValue(256, 1))


def test_response_names_and_success() -> None:
    assert racp.response_name(Code.INVALID_OPERAND) == "invalid_operand"
    assert racp.response_name(0x0A) == "reserved_0x0a"
    assert racp.ResponseCodeValue(1, Code.NO_RECORDS_FOUND).succeeded
    assert not racp.ResponseCodeValue(1, Code.PROCEDURE_NOT_COMPLETED).succeeded


sequence = st.integers(0, 0xFFFF)


@st.composite
def requests(draw: st.DrawFn) -> racp.RacpRequest:
    op = draw(st.sampled_from([*racp._REQUESTS, Op.ABORT_OPERATION]))
    if op == Op.ABORT_OPERATION:
        return racp.RacpRequest(op)
    operator = draw(st.sampled_from(sorted(racp._OPERAND_VALUES)))
    count = racp._OPERAND_VALUES[operator] or 0
    operand = tuple(sorted(draw(st.lists(sequence, min_size=count, max_size=count))))
    return racp.RacpRequest(op, operator, operand)


@given(requests())
def test_every_request_round_trips(request_: racp.RacpRequest) -> None:
    assert racp.decode_request(racp.encode_request(request_)) == request_


@given(
    st.one_of(
        st.builds(racp.NumberOfRecords, sequence),
        st.builds(racp.ResponseCodeValue, st.integers(0, 255), st.integers(0, 255)),
    )
)
def test_every_response_round_trips(response: racp.NumberOfRecords | racp.ResponseCodeValue) -> None:
    assert racp.decode_response(racp.encode_response(response)) == response


@given(st.binary(max_size=12))
def test_any_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    for decode in (racp.decode_request, racp.decode_response):
        try:
            decoded = decode(data)
        except MeasurementDecodeError as exc:
            assert exc.uuid == "2a52"
            assert exc.data_hex == data.hex()
        else:
            encode = racp.encode_request if decode is racp.decode_request else racp.encode_response
            assert encode(decoded) == data  # type: ignore[operator]
