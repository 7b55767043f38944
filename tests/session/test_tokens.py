"""Join tokens: every refusal reason, key rotation, one connection per token, booking codes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.errors import TokenError, TokenRefusal
from telemedroom.session import ActiveTokens, BookingCodes, TokenIssuer, TokenVerifier
from telemedroom.session.tokens import normalize_code

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
ISSUER = TokenIssuer.generate("2026-11", issuer="clinic")


def token(issuer: TokenIssuer = ISSUER, **overrides: object) -> str:
    fields: dict[str, object] = {
        "room": "quarter-1",
        "appointment": "apt-42",
        "role": "patient",
        "subject": "p-7",
        "name": "Ada",
        "not_before": START,
        "expires_at": END,
    }
    fields.update(overrides)
    return issuer.issue(**fields)  # type: ignore[arg-type]


def refusal(verifier: TokenVerifier, text: str, **kwargs: object) -> TokenRefusal:
    options: dict[str, object] = {"room": "quarter-1", "now": START + timedelta(minutes=1)}
    options.update(kwargs)
    with pytest.raises(TokenError) as info:
        verifier.verify(text, **options)  # type: ignore[arg-type]
    return info.value.reason


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_genuine_token_verifies_with_all_its_claims() -> None:
    claims = TokenVerifier(ISSUER.public_keys()).verify(
        token(), room="quarter-1", appointment="apt-42", now=START + timedelta(minutes=5)
    )
    assert (claims.room, claims.appointment, claims.role, claims.subject, claims.name) == (
        "quarter-1",
        "apt-42",
        "patient",
        "p-7",
        "Ada",
    )
    assert (claims.not_before, claims.expires_at, claims.issuer) == (START, END, "clinic")
    assert len(claims.token_id) == 32


def test_the_header_names_the_algorithm_and_the_key() -> None:
    header = json.loads(base64.urlsafe_b64decode(token().split(".")[0] + "=="))
    assert header == {"alg": "Ed25519", "kid": "2026-11", "typ": "JWT"}


def test_signed_by_another_key_with_the_same_kid_is_a_bad_signature() -> None:
    impostor = TokenIssuer.generate("2026-11")
    assert refusal(TokenVerifier(ISSUER.public_keys()), token(impostor)) is TokenRefusal.BAD_SIGNATURE


def test_an_unknown_key_id_is_a_bad_signature() -> None:
    other = TokenIssuer.generate("2025-01")
    assert refusal(TokenVerifier(ISSUER.public_keys()), token(other)) is TokenRefusal.BAD_SIGNATURE


def test_a_changed_payload_no_longer_verifies() -> None:
    header, payload, signature = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "physician"
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert refusal(TokenVerifier(ISSUER.public_keys()), forged) is TokenRefusal.BAD_SIGNATURE


@pytest.mark.parametrize("alg", ["none", "EdDSA", "HS256"])
def test_other_algorithms_are_refused(alg: str) -> None:
    _, payload, signature = token().split(".")
    header = b64(json.dumps({"alg": alg, "kid": "2026-11"}).encode())
    assert refusal(TokenVerifier(ISSUER.public_keys()), f"{header}.{payload}.{signature}") is (
        TokenRefusal.BAD_SIGNATURE
    )


def test_rotation_accepts_old_and_new_keys_and_drops_retired_ones() -> None:
    new = TokenIssuer.generate("2026-12", issuer="clinic")
    both = TokenVerifier({**ISSUER.public_keys(), **new.public_keys()})
    now = START + timedelta(minutes=1)
    assert both.verify(token(), room="quarter-1", now=now).subject == "p-7"
    assert both.verify(token(new), room="quarter-1", now=now).subject == "p-7"
    assert refusal(TokenVerifier(new.public_keys()), token()) is TokenRefusal.BAD_SIGNATURE


def test_wrong_audience_room_and_appointment() -> None:
    verifier = TokenVerifier(ISSUER.public_keys())
    elsewhere = TokenIssuer(ISSUER._private, "2026-11", audience="another-service")
    assert refusal(verifier, token(elsewhere)) is TokenRefusal.WRONG_AUDIENCE
    assert refusal(verifier, token(), room="quarter-2") is TokenRefusal.WRONG_ROOM
    assert refusal(verifier, token(), appointment="apt-43") is TokenRefusal.WRONG_APPOINTMENT


def test_the_time_window_has_a_small_leeway() -> None:
    verifier = TokenVerifier(ISSUER.public_keys(), leeway=timedelta(seconds=30))
    check = verifier.verify
    assert check(token(), room="quarter-1", now=START - timedelta(seconds=29)).subject == "p-7"
    assert check(token(), room="quarter-1", now=END + timedelta(seconds=29)).subject == "p-7"
    assert refusal(verifier, token(), now=START - timedelta(seconds=31)) is TokenRefusal.NOT_YET_VALID
    assert refusal(verifier, token(), now=END + timedelta(seconds=30)) is TokenRefusal.EXPIRED


def test_refusals_carry_the_token_id_but_never_the_token() -> None:
    text = token()
    with pytest.raises(TokenError) as info:
        TokenVerifier(ISSUER.public_keys()).verify(text, room="quarter-1", now=END + timedelta(hours=1))
    assert info.value.token_id is not None
    assert len(info.value.token_id) == 32
    assert text not in str(info.value)
    assert text.split(".")[2] not in repr(info.value.__dict__)


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b.c", "a.b", "x" * 5000, "é.é.é", f"{b64(b'{}')}.{b64(b'[]')}.{b64(b'x')}"],
)
def test_garbage_is_malformed_or_a_bad_signature(garbage: str) -> None:
    reason = refusal(TokenVerifier(ISSUER.public_keys()), garbage)
    assert reason in {TokenRefusal.MALFORMED, TokenRefusal.BAD_SIGNATURE}


def test_a_signed_token_with_foreign_claims_is_malformed() -> None:
    from joserfc import jws

    header = {"alg": "Ed25519", "kid": "2026-11"}
    body = json.dumps({"room": "quarter-1", "admin": True}).encode()
    forged = jws.serialize_compact(header, body, ISSUER._key, algorithms=["Ed25519"])
    assert refusal(TokenVerifier(ISSUER.public_keys()), forged) is TokenRefusal.MALFORMED


@given(st.text(max_size=300))
def test_any_text_is_refused_with_a_token_error(text: str) -> None:
    with pytest.raises(TokenError) as info:
        TokenVerifier(ISSUER.public_keys()).verify(text, room="quarter-1")
    assert info.value.reason in {TokenRefusal.MALFORMED, TokenRefusal.BAD_SIGNATURE}


@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=255))
def test_any_flipped_byte_is_refused(position: int, value: int) -> None:
    text = token()
    position %= len(text)
    flipped = text[:position] + chr(33 + value % 90) + text[position + 1 :]
    if flipped == text:
        return
    with pytest.raises(TokenError):
        TokenVerifier(ISSUER.public_keys()).verify(flipped, room="quarter-1", now=START)


def test_an_empty_window_or_naive_time_cannot_be_issued() -> None:
    with pytest.raises(ValueError, match="empty"):
        token(expires_at=START)
    with pytest.raises(ValueError, match="timezone"):
        token(not_before=datetime(2026, 11, 25, 9))


def test_one_connection_per_token_id() -> None:
    active = ActiveTokens()
    active.acquire("t-1")
    active.acquire("t-2")
    with pytest.raises(TokenError) as info:
        active.acquire("t-1")
    assert info.value.reason is TokenRefusal.ALREADY_CONNECTED
    assert info.value.token_id == "t-1"
    active.release("t-1")
    active.release("t-1")
    active.acquire("t-1")
    assert "t-1" in active


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def booking(codes: BookingCodes) -> str:
    return codes.create(
        room="quarter-1", appointment="apt-42", subject="p-7", not_before=START, expires_at=END
    )


def test_a_booking_code_yields_one_patient_token_once() -> None:
    codes = BookingCodes(ISSUER)
    code = booking(codes)
    assert len(code.replace("-", "")) == 10
    assert set(code.replace("-", "")) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    claims = TokenVerifier(ISSUER.public_keys()).verify(
        codes.redeem(code, client="kiosk", now=START), room="quarter-1", appointment="apt-42", now=START
    )
    assert (claims.role, claims.subject) == ("patient", "p-7")
    with pytest.raises(TokenError) as info:
        codes.redeem(code, client="kiosk", now=START)
    assert info.value.reason is TokenRefusal.UNKNOWN_CODE


def test_typed_codes_forgive_case_separators_and_look_alikes() -> None:
    codes = BookingCodes(ISSUER)
    code = booking(codes)
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert codes.redeem(typed, client="kiosk", now=START)
    assert normalize_code(" ab-cd ef-io ") == "ABCDEF10"


def test_wrong_codes_are_rate_limited_per_client_within_a_window() -> None:
    clock = ManualClock()
    codes = BookingCodes(ISSUER, max_failures=3, window=timedelta(minutes=15), clock=clock)
    code = booking(codes)
    for _ in range(3):
        with pytest.raises(TokenError) as info:
            codes.redeem("0000-0000-00", client="kiosk-1", now=START)
        assert info.value.reason is TokenRefusal.UNKNOWN_CODE
    with pytest.raises(TokenError) as info:
        codes.redeem(code, client="kiosk-1", now=START)  # even the right code
    assert info.value.reason is TokenRefusal.RATE_LIMITED
    assert codes.redeem(booking(codes), client="kiosk-2", now=START)  # other clients are not affected
    clock.now += 15 * 60
    assert codes.redeem(code, client="kiosk-1", now=START)


def test_a_code_for_a_past_appointment_is_expired() -> None:
    codes = BookingCodes(ISSUER)
    with pytest.raises(TokenError) as info:
        codes.redeem(booking(codes), client="kiosk", now=END)
    assert info.value.reason is TokenRefusal.EXPIRED


def test_codes_are_unguessable() -> None:
    codes = BookingCodes(ISSUER)
    made = {booking(codes) for _ in range(2000)}
    assert len(made) == 2000
    with pytest.raises(ValueError, match="at least 8"):
        BookingCodes(ISSUER, length=6)
