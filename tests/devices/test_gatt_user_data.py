"""User Control Point (0x2A9F): golden packets, round trips, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.devices.gatt import user_data as uds
from telemedroom.errors import CodecError, MeasurementDecodeError

Op = uds.UcpOpCode

GOLDEN = [
    ("01d204", uds.UcpRequest(Op.REGISTER_NEW_USER, consent_code=1234)),
    ("0201d204", uds.consent(1, 1234)),
    ("02fe0f27", uds.consent(0xFE, 9999)),
    ("03", uds.UcpRequest(Op.DELETE_USER_DATA)),
]


@pytest.mark.parametrize(("wire", "request_"), GOLDEN, ids=[w for w, _ in GOLDEN])
def test_golden_requests(wire: str, request_: uds.UcpRequest) -> None:
    assert uds.encode_request(request_).hex() == wire
    assert uds.decode_request(bytes.fromhex(wire)) == request_


@pytest.mark.parametrize(
    ("wire", "response"),
    [
        ("200201", uds.UcpResponse(2, 1)),
        ("20020105", uds.UcpResponse(2, 1, 5)),
        ("200105", uds.UcpResponse(1, 5)),
    ],
)
def test_golden_responses(wire: str, response: uds.UcpResponse) -> None:
    assert uds.encode_response(response).hex() == wire
    assert uds.decode_response(bytes.fromhex(wire)) == response


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (uds.consent(0xFF, 1), "user index 255"),
        (uds.consent(1, 10000), "consent code 10000"),
        (uds.UcpRequest(Op.CONSENT, consent_code=1), "does not fit"),
        (uds.UcpRequest(Op.RESPONSE_CODE), "does not fit"),
    ],
)
def test_requests_that_cannot_be_encoded(request_: uds.UcpRequest, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        uds.encode_request(request_)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [("", "empty"), ("09", "not defined"), ("20", "a response"), ("0201d2", "4 bytes"), ("02011027", "9999")],
)
def test_malformed_requests(wire: str, reason: str) -> None:
    with pytest.raises(MeasurementDecodeError, match=reason) as info:
        uds.decode_request(bytes.fromhex(wire))
    assert info.value.uuid == "2a9f"


def test_malformed_responses_and_names() -> None:
    with pytest.raises(MeasurementDecodeError, match="three or four"):
        uds.decode_response(b"\x20\x02")
    with pytest.raises(MeasurementDecodeError, match="not a response"):
        uds.decode_response(b"\x02\x02\x01")
    with pytest.raises(CodecError):
        uds.encode_response(uds.UcpResponse(2, 300))
    assert uds.result_name(uds.UcpResult.INVALID_PARAMETER) == "invalid_parameter"


requests = st.one_of(
    st.builds(uds.consent, st.integers(0, 0xFE), st.integers(0, 9999)),
    st.builds(uds.UcpRequest, st.just(Op.REGISTER_NEW_USER), st.none(), st.integers(0, 9999)),
    st.just(uds.UcpRequest(Op.DELETE_USER_DATA)),
)


@given(requests)
def test_every_request_round_trips(request_: uds.UcpRequest) -> None:
    assert uds.decode_request(uds.encode_request(request_)) == request_


@given(st.binary(max_size=6))
def test_any_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    for decode, encode in (
        (uds.decode_request, uds.encode_request),
        (uds.decode_response, uds.encode_response),
    ):
        try:
            decoded = decode(data)
        except MeasurementDecodeError as exc:
            assert exc.data_hex == data.hex()
        else:
            assert encode(decoded) == data  # type: ignore[operator]
