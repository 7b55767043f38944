"""Join tokens: short-lived compact JWS (EdDSA over Ed25519) bound to a room and an appointment.

The booking system holds a :class:`TokenIssuer` (the private key); the signaling server
holds a :class:`TokenVerifier` (the public keys, by key id, so keys can be rotated). A
token says who may join which room for which appointment, in which role, and when.
:class:`ActiveTokens` keeps a token to one live connection at a time, and
:class:`BookingCodes` turns a short code a resident types at the kiosk into a patient
token, with a limit on wrong guesses.

The algorithm is EdDSA with Ed25519, written ``"Ed25519"`` in the JWS header as RFC 9864
§2.2 (fully specified algorithms) asks; the older polymorphic ``"EdDSA"`` is refused.

Examples:
    >>> from datetime import datetime, timedelta, UTC
    >>> issuer = TokenIssuer.generate("2026-11")
    >>> start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    >>> token = issuer.issue(room="quarter-1", appointment="apt-42", role="physician",
    ...                      subject="dr-weber", not_before=start, expires_at=start + timedelta(hours=1))
    >>> verifier = TokenVerifier(issuer.public_keys())
    >>> claims = verifier.verify(token, room="quarter-1", appointment="apt-42",
    ...                          now=start + timedelta(minutes=5))
    >>> claims.role, claims.subject
    ('physician', 'dr-weber')
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from telemedroom.errors import TokenError, TokenRefusal

__all__ = [
    "ALGORITHM",
    "DEFAULT_AUDIENCE",
    "DEFAULT_LEEWAY",
    "MAX_TOKEN_LENGTH",
    "ActiveTokens",
    "BookingCodes",
    "JoinClaims",
    "ParticipantRole",
    "TokenIssuer",
    "TokenVerifier",
    "normalize_code",
]

ALGORITHM: Final = "Ed25519"
"""JWS ``alg`` of join tokens: EdDSA with Ed25519 (RFC 9864 §2.2, RFC 8037 §3.1)."""

DEFAULT_AUDIENCE: Final = "telemedroom-session"
MAX_TOKEN_LENGTH: Final = 4096  # a join token is ~400 characters; anything longer is refused unread
DEFAULT_LEEWAY: Final = timedelta(seconds=30)

ParticipantRole = Literal["patient", "physician", "companion", "interpreter"]
"""Who joins: the resident (``patient``), a remote ``physician``, a ``companion`` (a relative
or carer) or an ``interpreter``; in a multi-party visit the role decides what one sees."""

_Text = Annotated[str, Field(min_length=1, max_length=200)]


class JoinClaims(BaseModel):
    """What a verified join token says (the JWT claims, RFC 7519 §4.1, and ours).

    Attributes:
        token_id: Unique id of the token (``jti``).
        issuer: Who issued it (``iss``).
        audience: The service it is for (``aud``).
        subject: The participant's id in the booking system (``sub``).
        name: Name shown to the others (no health data).
        room: The telemedicine room.
        appointment: The appointment the token admits to.
        role: ``patient``, ``physician``, ``companion`` or ``interpreter``.
        issued_at: ``iat``.
        not_before: Start of the time window (``nbf``).
        expires_at: End of the time window (``exp``).

    Examples:
        >>> from datetime import datetime, UTC
        >>> JoinClaims(token_id="t1", issuer="clinic", audience="telemedroom-session",
        ...            subject="p-7", room="r1", appointment="a1", role="patient",
        ...            issued_at=datetime(2026, 11, 25, 8, tzinfo=UTC),
        ...            not_before=datetime(2026, 11, 25, 9, tzinfo=UTC),
        ...            expires_at=datetime(2026, 11, 25, 10, tzinfo=UTC)).name
        ''
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: _Text
    issuer: _Text
    audience: _Text
    subject: _Text
    name: Annotated[str, Field(max_length=200)] = ""
    room: _Text
    appointment: _Text
    role: ParticipantRole
    issued_at: datetime
    not_before: datetime
    expires_at: datetime


# JWT claim name (RFC 7519 §4.1) -> JoinClaims field; our own claims keep their names.
_CLAIM_FIELDS: Final[dict[str, str]] = {
    "jti": "token_id",
    "iss": "issuer",
    "aud": "audience",
    "sub": "subject",
    "iat": "issued_at",
    "nbf": "not_before",
    "exp": "expires_at",
    "name": "name",
    "room": "room",
    "appointment": "appointment",
    "role": "role",
}
_TIME_CLAIMS: Final = frozenset({"iat", "nbf", "exp"})


def _aware(value: datetime, what: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


class TokenIssuer:
    """Signs join tokens with one Ed25519 key, named by its key id (``kid``).

    Args:
        signing_key: The private key.
        kid: Its key id; verifiers look the public key up by it.
        issuer: The ``iss`` claim.
        audience: The ``aud`` claim; the verifier must expect the same.

    Examples:
        >>> issuer = TokenIssuer.generate("k1", issuer="clinic-a")
        >>> sorted(issuer.public_keys())
        ['k1']
    """

    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        kid: str,
        *,
        issuer: str = "telemedroom",
        audience: str = DEFAULT_AUDIENCE,
    ) -> None:
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        self._private = signing_key
        self._key = OKPKey.import_key(signing_key)

    @classmethod
    def generate(cls, kid: str, **options: str) -> TokenIssuer:
        """An issuer with a fresh random key (for tests and single-process set-ups)."""
        return cls(Ed25519PrivateKey.generate(), kid, **options)

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half of the signing key."""
        return self._private.public_key()

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """``{kid: public_key}``, ready for :class:`TokenVerifier`."""
        return {self.kid: self.public_key}

    def issue(
        self,
        *,
        room: str,
        appointment: str,
        role: ParticipantRole,
        subject: str,
        not_before: datetime,
        expires_at: datetime,
        name: str = "",
    ) -> str:
        """A signed compact JWS for one participant of one appointment.

        Raises:
            ValueError: A time is not timezone-aware or the window is empty.
        """
        _aware(not_before, "not_before")
        _aware(expires_at, "expires_at")
        if expires_at <= not_before:
            raise ValueError(f"the token's window is empty: {not_before} .. {expires_at}")
        claims = JoinClaims(
            token_id=uuid.uuid4().hex,
            issuer=self.issuer,
            audience=self.audience,
            subject=subject,
            name=name,
            room=room,
            appointment=appointment,
            role=role,
            issued_at=datetime.now(UTC),
            not_before=not_before,
            expires_at=expires_at,
        )
        payload: dict[str, object] = {}
        for claim, field in _CLAIM_FIELDS.items():
            value = getattr(claims, field)
            payload[claim] = int(value.timestamp()) if claim in _TIME_CLAIMS else value
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return jws.serialize_compact(header, body, self._key, algorithms=[ALGORITHM])


class TokenVerifier:
    """Checks join tokens: signature, audience, room, appointment and time window.

    Several public keys may be trusted at once (by key id), so a new signing key can be
    rolled out before the old one is retired.

    Args:
        public_keys: ``{kid: Ed25519 public key}``.
        audience: The ``aud`` the tokens must carry.
        leeway: Clock skew allowed at both ends of the window.

    Examples:
        >>> from datetime import datetime, timedelta, UTC
        >>> old, new = TokenIssuer.generate("2026-10"), TokenIssuer.generate("2026-11")
        >>> verifier = TokenVerifier({**old.public_keys(), **new.public_keys()})
        >>> now = datetime.now(UTC)
        >>> token = old.issue(room="r", appointment="a", role="patient", subject="p",
        ...                   not_before=now, expires_at=now + timedelta(minutes=30))
        >>> verifier.verify(token, room="r").role
        'patient'
    """

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey],
        *,
        audience: str = DEFAULT_AUDIENCE,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        self.audience = audience
        self.leeway = leeway
        self._keys = {kid: OKPKey.import_key(key) for kid, key in public_keys.items()}

    def verify(
        self,
        token: str,
        *,
        room: str,
        appointment: str | None = None,
        now: datetime | None = None,
    ) -> JoinClaims:
        """The token's claims, if it is genuine and valid for ``room`` (and ``appointment``) now.

        Raises:
            TokenError: With the :class:`~telemedroom.errors.TokenRefusal` reason.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenError(TokenRefusal.MALFORMED, "not a compact JWS of a sane length")
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, UnicodeError, ValueError) as exc:
            raise TokenError(TokenRefusal.MALFORMED, "the JWS header does not parse") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError(TokenRefusal.BAD_SIGNATURE, f"algorithm {header.get('alg')!r} is not accepted")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise TokenError(TokenRefusal.BAD_SIGNATURE, f"unknown key id {header.get('kid')!r}")
        try:
            payload = jws.deserialize_compact(token, key, algorithms=[ALGORITHM]).payload
        except BadSignatureError as exc:
            raise TokenError(TokenRefusal.BAD_SIGNATURE, "the signature does not verify") from exc
        except JoseError as exc:
            raise TokenError(TokenRefusal.MALFORMED, f"the JWS does not parse: {exc.error}") from exc
        claims = _parse_claims(payload)
        self._check(claims, room, appointment, now or datetime.now(UTC))
        return claims

    def _check(self, claims: JoinClaims, room: str, appointment: str | None, now: datetime) -> None:
        refuse = _refuser(claims.token_id)
        if claims.audience != self.audience:
            raise refuse(TokenRefusal.WRONG_AUDIENCE, f"issued for {claims.audience!r}")
        if claims.room != room:
            raise refuse(TokenRefusal.WRONG_ROOM, f"issued for room {claims.room!r}, not {room!r}")
        if appointment is not None and claims.appointment != appointment:
            raise refuse(
                TokenRefusal.WRONG_APPOINTMENT, f"issued for another appointment than {appointment!r}"
            )
        if now < claims.not_before - self.leeway:
            raise refuse(TokenRefusal.NOT_YET_VALID, f"valid from {claims.not_before.isoformat()}")
        if now >= claims.expires_at + self.leeway:
            raise refuse(TokenRefusal.EXPIRED, f"ended at {claims.expires_at.isoformat()}")


def _refuser(token_id: str) -> Callable[[TokenRefusal, str], TokenError]:
    return lambda reason, detail: TokenError(reason, detail, token_id=token_id)


def _parse_claims(payload: bytes) -> JoinClaims:
    try:
        raw = json.loads(payload)
        if not isinstance(raw, dict) or not set(raw) <= set(_CLAIM_FIELDS):
            raise ValueError("unexpected claims")
        fields = {
            _CLAIM_FIELDS[claim]: datetime.fromtimestamp(value, UTC) if claim in _TIME_CLAIMS else value
            for claim, value in raw.items()
        }
        return JoinClaims.model_validate(fields)
    except (ValueError, TypeError, OverflowError, OSError, ValidationError) as exc:
        raise TokenError(TokenRefusal.MALFORMED, "the claims do not parse") from exc


class ActiveTokens:
    """One live connection per token id: a second, simultaneous one is refused.

    Examples:
        >>> from telemedroom.errors import TokenError
        >>> active = ActiveTokens()
        >>> active.acquire("t-1")
        >>> try:
        ...     active.acquire("t-1")
        ... except TokenError as exc:
        ...     print(exc.reason.value)
        already_connected
        >>> active.release("t-1"); active.acquire("t-1")
    """

    def __init__(self) -> None:
        self._held: set[str] = set()

    def acquire(self, token_id: str) -> None:
        """Mark the token as connected.

        Raises:
            TokenError: ``ALREADY_CONNECTED`` when it already is.
        """
        if token_id in self._held:
            raise TokenError(
                TokenRefusal.ALREADY_CONNECTED,
                "this token is in use by another connection",
                token_id=token_id,
            )
        self._held.add(token_id)

    def release(self, token_id: str) -> None:
        """The connection ended (or its resume window ran out); safe to call twice."""
        self._held.discard(token_id)

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._held


# Crockford's base32 (https://www.crockford.com/base32.html): no I, L, O, U; those typed
# by mistake are read as 1, 1, 0 and rejected respectively.
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPOS: Final = str.maketrans({"I": "1", "L": "1", "O": "0"})


def normalize_code(code: str) -> str:
    """A booking code as stored: upper case, without separators, typos of 0/1 corrected.

    Examples:
        >>> normalize_code("k7qx-m2pd-lo")
        'K7QXM2PD10'
    """
    return "".join(code.upper().split()).replace("-", "").translate(_TYPOS)


@dataclass(frozen=True)
class _Booking:
    room: str
    appointment: str
    subject: str
    name: str
    not_before: datetime
    expires_at: datetime


class BookingCodes:
    """Short codes a resident types at the kiosk, each exchanged once for a patient join token.

    A code has ``length`` characters of Crockford base32 (5 random bits each: 50 bits
    by default, from :mod:`secrets`), shown in groups of four. Codes are kept only as
    SHA-256 hashes. Each client (a kiosk, an IP address) may get ``max_failures`` wrong
    codes per ``window``; beyond that every attempt is refused as ``RATE_LIMITED`` until
    old failures leave the window, so guessing a valid code takes millions of years.

    Args:
        issuer: Signs the patient tokens.
        length: Characters per code.
        max_failures: Wrong codes allowed per client per window.
        window: The rate-limit window.
        clock: Monotonic seconds (injectable for tests).

    Examples:
        >>> from datetime import datetime, timedelta, UTC
        >>> issuer = TokenIssuer.generate("k1")
        >>> codes = BookingCodes(issuer)
        >>> now = datetime.now(UTC)
        >>> code = codes.create(room="r1", appointment="a1", subject="p-7",
        ...                     not_before=now, expires_at=now + timedelta(minutes=30))
        >>> len(code), code[4]
        (12, '-')
        >>> token = codes.redeem(code.lower(), client="kiosk-1")
        >>> TokenVerifier(issuer.public_keys()).verify(token, room="r1").role
        'patient'
    """

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        length: int = 10,
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if length < 8:
            raise ValueError("a booking code needs at least 8 characters (40 bits)")
        self._issuer = issuer
        self.length = length
        self.max_failures = max_failures
        self.window = window.total_seconds()
        self._clock = clock
        self._bookings: dict[bytes, _Booking] = {}
        self._failures: dict[str, deque[float]] = {}

    def create(
        self,
        *,
        room: str,
        appointment: str,
        subject: str,
        not_before: datetime,
        expires_at: datetime,
        name: str = "",
    ) -> str:
        """A new code for one appointment, formatted ``XXXX-XXXX-XX``."""
        _aware(not_before, "not_before")
        _aware(expires_at, "expires_at")
        code = "".join(secrets.choice(_ALPHABET) for _ in range(self.length))
        self._bookings[_digest(code)] = _Booking(room, appointment, subject, name, not_before, expires_at)
        return "-".join(code[i : i + 4] for i in range(0, len(code), 4))

    def redeem(self, code: str, *, client: str, now: datetime | None = None) -> str:
        """Exchange a code for a patient join token; the code is used up.

        Raises:
            TokenError: ``RATE_LIMITED`` (too many wrong codes from ``client``),
                ``UNKNOWN_CODE`` or ``EXPIRED``.
        """
        moment = self._clock()
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= moment - self.window:
            failures.popleft()
        if len(failures) >= self.max_failures:
            raise TokenError(TokenRefusal.RATE_LIMITED, f"too many wrong codes; wait {self.window:.0f} s")
        booking = self._bookings.get(_digest(normalize_code(code)))
        if booking is None:
            failures.append(moment)
            raise TokenError(TokenRefusal.UNKNOWN_CODE, "no appointment has this code")
        if (now or datetime.now(UTC)) >= booking.expires_at:
            raise TokenError(
                TokenRefusal.EXPIRED, f"the appointment ended at {booking.expires_at.isoformat()}"
            )
        del self._bookings[_digest(normalize_code(code))]
        if not failures:
            del self._failures[client]
        return self._issuer.issue(
            room=booking.room,
            appointment=booking.appointment,
            role="patient",
            subject=booking.subject,
            name=booking.name,
            not_before=booking.not_before,
            expires_at=booking.expires_at,
        )


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()
