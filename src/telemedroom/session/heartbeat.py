"""Room heartbeats: a room's status, signed with the room's own Ed25519 key, for the clinic hub.

A room reports to the hub what the operator's fleet view and the physicians' worklist
show: its visit state, the appointment in progress and the readings so far, the devices
it saw with their battery level, its outbox backlog and refused records, its last visit,
its cleaning buffer and its software version. Each report is a compact JWS (EdDSA over
Ed25519, ``alg`` ``"Ed25519"`` as for join tokens) whose ``kid`` is the room id; the hub
holds one public key per room, so a room cannot report as another, and a report whose
``room`` differs from the key that signed it is refused.

``boot`` (random per start of the room) and ``sequence`` (counting from 0 within a boot)
order a room's reports: the hub refuses a report it has already seen (a replay), while
reports queued while the hub was unreachable arrive later, in order, and are kept
as history (the room catches up).

Examples:
    >>> from datetime import datetime, UTC
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> key = Ed25519PrivateKey.generate()
    >>> signer = HeartbeatSigner("nord-1", key)
    >>> beat = Heartbeat(room="nord-1", boot="b1", sequence=0, sent_at=datetime.now(UTC),
    ...                  version="0.1.0", state="idle")
    >>> other = Ed25519PrivateKey.generate().public_key()
    >>> verifier = HeartbeatVerifier({"nord-1": key.public_key(), "sued-2": other})
    >>> verifier.verify(signer.sign(beat), room="nord-1").state
    'idle'
    >>> verifier.verify(signer.sign(beat), room="sued-2")
    Traceback (most recent call last):
    ...
    telemedroom.errors.HeartbeatRefused: heartbeat from sued-2 refused (room_mismatch): ...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from telemedroom.errors import HeartbeatRefused

__all__ = [
    "HEARTBEAT_ALGORITHM",
    "MAX_HEARTBEAT_LENGTH",
    "AlertStatus",
    "DeviceStatus",
    "Heartbeat",
    "HeartbeatSigner",
    "HeartbeatVerifier",
]

HEARTBEAT_ALGORITHM: Final = "Ed25519"
"""JWS ``alg`` of heartbeats: EdDSA with Ed25519 (RFC 9864 §2.2, RFC 8037 §3.1)."""

MAX_HEARTBEAT_LENGTH: Final = 32_768  # a heartbeat is ~1-2 kB; anything longer is refused unread
_FUTURE_LEEWAY: Final = timedelta(seconds=60)
_ROOM_ID = r"^[A-Za-z0-9\-.]{1,64}$"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("must be timezone-aware")
    return value


_When = Annotated[datetime, AfterValidator(_aware)]


class DeviceStatus(BaseModel):
    """A device the room saw: its kind, when, and its battery level if it reports one.

    Examples:
        >>> DeviceStatus(kind="blood_pressure", battery=12).battery
        12
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(max_length=200)] | None = None
    battery: Annotated[int, Field(ge=0, le=100)] | None = None
    seen_at: _When | None = None


class AlertStatus(BaseModel):
    """An open alert of a health apartment as the hub shows it: which rule, how severe, no values.

    The reading that raised it stays in the clinic's records (the Flag in the outbox, the
    ward's webhook); the hub learns only what staff need to see that something waits.

    Examples:
        >>> from datetime import datetime, UTC
        >>> AlertStatus(id="a1", rule="weight-gain", severity="high",
        ...             raised_at=datetime.now(UTC)).acknowledged
        False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64)]
    rule: Annotated[str, Field(min_length=1, max_length=64)]
    severity: Literal["low", "moderate", "high"]
    raised_at: _When
    acknowledged: bool = False


class Heartbeat(BaseModel):
    """One status report of a room.

    Attributes:
        room: The room id (must match the signing key's room).
        boot: Random id of this start of the room.
        sequence: Counts from 0 within a boot.
        sent_at: When the room made the report (timezone-aware).
        version: The room's telemedroom version.
        state: The room's visit state (``idle``, ``checked_in``, ``measuring``,
            ``waiting``, ``in_consultation``, ``wrap_up``, ``cleaning``).
        visit_id: The visit in progress.
        appointment_id: Its appointment in the shared schedule.
        readings: One-line summaries of the readings taken so far in this visit.
        waiting_since: When the patient started waiting for the physician.
        devices: The devices seen, with battery levels.
        outbox_backlog: Records not yet delivered to the FHIR server.
        outbox_refused: Records the FHIR server refused (kept for a person to look at).
        last_visit_at: When the last visit was wrapped up.
        cleaning_until: End of the cleaning buffer, while cleaning.
        kind: ``"room"``, or ``"apartment"`` for a health apartment's gateway (whose
            ``state`` is ``watching``, ``ringing``, ``calling``, ``in_call`` or
            ``storage_full``; its ``waiting_since`` is when the patient called the ward,
            while the call waits to be admitted).
        alerts: An apartment's open alerts (rule and severity only).
        ward_cursor: The last of the ward's messages (acknowledgements, notes) the
            apartment has shown; the hub answers with the ones after it.

    Examples:
        >>> from datetime import datetime, UTC
        >>> Heartbeat(room="nord-1", boot="b", sequence=0, sent_at=datetime.now(UTC),
        ...           version="1", state="waiting").outbox_backlog
        0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    room: Annotated[str, Field(pattern=_ROOM_ID)]
    boot: Annotated[str, Field(min_length=1, max_length=64)]
    sequence: Annotated[int, Field(ge=0)]
    sent_at: _When
    version: Annotated[str, Field(max_length=64)]
    state: Annotated[str, Field(min_length=1, max_length=32)]
    visit_id: Annotated[str, Field(max_length=200)] | None = None
    appointment_id: Annotated[str, Field(max_length=200)] | None = None
    readings: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=50)] = Field(
        default_factory=list
    )
    waiting_since: _When | None = None
    devices: Annotated[list[DeviceStatus], Field(max_length=32)] = Field(default_factory=list)
    outbox_backlog: Annotated[int, Field(ge=0)] = 0
    outbox_refused: Annotated[int, Field(ge=0)] = 0
    last_visit_at: _When | None = None
    cleaning_until: _When | None = None
    kind: Literal["room", "apartment"] = "room"
    alerts: Annotated[list[AlertStatus], Field(max_length=50)] = Field(default_factory=list)
    ward_cursor: Annotated[int, Field(ge=0)] | None = None


class HeartbeatSigner:
    """Signs a room's heartbeats with the room's own private key.

    Examples:
        >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        >>> HeartbeatSigner("nord-1", Ed25519PrivateKey.generate()).room
        'nord-1'
    """

    def __init__(self, room: str, key: Ed25519PrivateKey) -> None:
        self.room = room
        self._key = OKPKey.import_key(key)

    def sign(self, heartbeat: Heartbeat) -> str:
        """The heartbeat as a compact JWS.

        Raises:
            ValueError: The heartbeat names another room than this signer's.
        """
        if heartbeat.room != self.room:
            raise ValueError(f"a signer for {self.room} cannot sign a heartbeat of {heartbeat.room}")
        header = {"alg": HEARTBEAT_ALGORITHM, "kid": self.room, "typ": "telemedroom-heartbeat+jwt"}
        body = heartbeat.model_dump_json(exclude_none=True).encode()
        return jws.serialize_compact(header, body, self._key, algorithms=[HEARTBEAT_ALGORITHM])


class HeartbeatVerifier:
    """Checks heartbeats against each room's public key.

    Args:
        keys: ``{room id: public key}``.
        clock: Returns now; a report dated more than a minute ahead is refused.

    Examples:
        >>> HeartbeatVerifier({}).verify("x.y.z", room="nord-1")
        Traceback (most recent call last):
        ...
        telemedroom.errors.HeartbeatRefused: heartbeat from nord-1 refused (unknown_room): ...
    """

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._keys = {room: OKPKey.import_key(key) for room, key in keys.items()}
        self._clock = clock or (lambda: datetime.now(UTC))

    def verify(self, token: str, *, room: str) -> Heartbeat:
        """The heartbeat in ``token``, if ``room``'s key signed it and it names ``room``.

        Raises:
            HeartbeatRefused: Unknown room, bad signature, another room's report,
                malformed, or dated in the future.
        """
        key = self._keys.get(room)
        if key is None:
            raise HeartbeatRefused(room, "unknown_room", "no key is configured for this room")
        if not isinstance(token, str) or len(token) > MAX_HEARTBEAT_LENGTH or token.count(".") != 2:
            raise HeartbeatRefused(room, "malformed", "not a compact JWS of a sane size")
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeDecodeError) as exc:
            raise HeartbeatRefused(room, "malformed", "the JWS header does not parse") from exc
        if header.get("alg") != HEARTBEAT_ALGORITHM:
            raise HeartbeatRefused(room, "bad_signature", f"algorithm {header.get('alg')!r} is not Ed25519")
        if header.get("kid") != room:
            raise HeartbeatRefused(room, "room_mismatch", f"signed as {header.get('kid')!r}")
        try:
            payload = jws.deserialize_compact(token, key, algorithms=[HEARTBEAT_ALGORITHM]).payload
        except (JoseError, ValueError) as exc:
            raise HeartbeatRefused(room, "bad_signature", f"not signed with the key of {room}") from exc
        try:
            heartbeat = Heartbeat.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            raise HeartbeatRefused(room, "malformed", "the report does not parse") from exc
        if heartbeat.room != room:
            raise HeartbeatRefused(room, "room_mismatch", f"the report names {heartbeat.room}")
        if heartbeat.sent_at > self._clock() + _FUTURE_LEEWAY:
            raise HeartbeatRefused(room, "from_future", f"dated {heartbeat.sent_at.isoformat()}")
        return heartbeat
