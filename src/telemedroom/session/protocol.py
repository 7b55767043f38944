"""The signaling protocol, version 1: one pydantic model per WebSocket JSON message.

Every message is a JSON object whose ``type`` names the model; ``docs/protocol.md``
describes the exchange. :data:`CLIENT_MESSAGES` parses what a client sends,
:data:`SERVER_MESSAGES` what the server sends. No message may exceed
:data:`MAX_MESSAGE_BYTES` (UTF-8).

Examples:
    >>> msg = CLIENT_MESSAGES.validate_json('{"type": "admit", "participant": "p1a2"}')
    >>> type(msg).__name__, msg.participant
    ('Admit', 'p1a2')
    >>> Pong(nonce="7").model_dump_json()
    '{"type":"pong","nonce":"7"}'
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from telemedroom.session.tokens import MAX_TOKEN_LENGTH, ParticipantRole
from telemedroom.session.turn import IceServer

__all__ = [
    "CLIENT_MESSAGES",
    "ERROR_CODES",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "SERVER_MESSAGES",
    "Admit",
    "Admitted",
    "Answer",
    "ClientMessage",
    "Deny",
    "Denied",
    "End",
    "Ended",
    "Error",
    "Ice",
    "IceCandidate",
    "Join",
    "Leave",
    "Offer",
    "ParticipantInfo",
    "Ping",
    "Pong",
    "RelayedAnswer",
    "RelayedIce",
    "RelayedOffer",
    "RelayedVitals",
    "Remove",
    "Removed",
    "Roster",
    "ServerMessage",
    "SfuGrant",
    "SfuRoom",
    "SfuUnavailable",
    "Vitals",
    "Welcome",
]

PROTOCOL_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 64 * 1024  # an SDP offer with three media sections is ~6 KiB

# error code -> when the server sends it (docs/protocol.md, "Errors").
ERROR_CODES: Final[dict[str, str]] = {
    "malformed": "not JSON, or the fields do not match the message type",
    "too_large": f"more than {MAX_MESSAGE_BYTES} bytes",
    "unknown_type": "the type is not one of the protocol's",
    "bad_version": "join asked for a protocol version the server does not speak",
    "out_of_order": "the message is not allowed in the participant's current state",
    "forbidden": "the participant's role may not do this",
    "not_found": "no such participant in this appointment (or not admitted)",
    "rate_limited": "too many messages; this one was dropped",
    "token": "the join token was refused (the reason is in the message)",
    "sfu": "the SFU (Janus) refused or failed a request for this participant",
}

_Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
_Sdp = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_BYTES)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# -- client -> server -------------------------------------------------------------------


class Join(_Message):
    """First message of a connection: the join token (and, to resume, the resume key)."""

    type: Literal["join"] = "join"
    v: int = PROTOCOL_VERSION
    token: Annotated[SecretStr, Field(max_length=MAX_TOKEN_LENGTH)]
    resume: Annotated[str, Field(max_length=128)] | None = None


class Admit(_Message):
    """Physician: let a waiting participant in."""

    type: Literal["admit"] = "admit"
    participant: _Id


class Deny(_Message):
    """Physician: turn a waiting participant away."""

    type: Literal["deny"] = "deny"
    participant: _Id
    reason: Annotated[str, Field(max_length=200)] = ""


class IceCandidate(_Message):
    """An ICE candidate as ``RTCIceCandidateInit`` (W3C WebRTC §4.8.1)."""

    candidate: Annotated[str, Field(max_length=1024)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None  # noqa: N815 (W3C spelling)
    sdpMLineIndex: Annotated[int, Field(ge=0, le=255)] | None = None  # noqa: N815


class Offer(_Message):
    """An SDP offer for one admitted participant."""

    type: Literal["offer"] = "offer"
    to: _Id
    sdp: _Sdp


class Answer(_Message):
    """An SDP answer for one admitted participant."""

    type: Literal["answer"] = "answer"
    to: _Id
    sdp: _Sdp


class Ice(_Message):
    """A trickled ICE candidate (``None``: end of candidates)."""

    type: Literal["ice"] = "ice"
    to: _Id
    candidate: IceCandidate | None = None


class Leave(_Message):
    """Leave the visit (the others are told)."""

    type: Literal["leave"] = "leave"


class End(_Message):
    """Physician: end the visit for everyone."""

    type: Literal["end"] = "end"


class Ping(_Message):
    """Heartbeat; the server answers :class:`Pong` with the same nonce."""

    type: Literal["ping"] = "ping"
    nonce: Annotated[str, Field(max_length=64)] = ""


class Remove(_Message):
    """Physician who owns the visit: remove an admitted participant (their media is cut)."""

    type: Literal["remove"] = "remove"
    participant: _Id
    reason: Annotated[str, Field(max_length=200)] = ""


class Vitals(_Message):
    """The room, in a multi-party visit: one reading for every physician (``channels`` JSON)."""

    type: Literal["vitals"] = "vitals"
    data: Annotated[str, Field(min_length=1, max_length=16 * 1024)]


ClientMessage = Annotated[
    Join | Admit | Deny | Offer | Answer | Ice | Leave | End | Ping | Remove | Vitals,
    Field(discriminator="type"),
]
CLIENT_MESSAGES: Final[TypeAdapter[ClientMessage]] = TypeAdapter(ClientMessage)

# -- server -> client -------------------------------------------------------------------


class ParticipantInfo(_Message):
    """A participant as others see it."""

    id: _Id
    role: ParticipantRole
    name: str
    state: Literal["waiting", "admitted", "disconnected"]
    feed: int | None = None  # the participant's publisher id in the visit's Janus rooms


class Welcome(_Message):
    """Answer to :class:`Join`: who you are here, your state, and how to connect."""

    type: Literal["welcome"] = "welcome"
    v: int = PROTOCOL_VERSION
    participant: _Id
    role: ParticipantRole
    state: Literal["waiting", "admitted"]
    resume: str
    heartbeat: float
    room: str
    appointment: str
    ice_servers: list[IceServer]
    recording: bool
    sfu: bool = False  # media goes through the SFU once admitted (see SfuGrant, SfuUnavailable)


class Roster(_Message):
    """Who is in the visit: physicians see everyone, admitted participants the admitted."""

    type: Literal["roster"] = "roster"
    participants: list[ParticipantInfo]


class Admitted(_Message):
    """You were admitted."""

    type: Literal["admitted"] = "admitted"


class Denied(_Message):
    """You were turned away; the server closes the connection."""

    type: Literal["denied"] = "denied"
    reason: str


class RelayedOffer(_Message):
    """An offer from another participant."""

    type: Literal["offer"] = "offer"
    sender: _Id = Field(alias="from")
    sdp: _Sdp


class RelayedAnswer(_Message):
    """An answer from another participant."""

    type: Literal["answer"] = "answer"
    sender: _Id = Field(alias="from")
    sdp: _Sdp


class RelayedIce(_Message):
    """An ICE candidate from another participant."""

    type: Literal["ice"] = "ice"
    sender: _Id = Field(alias="from")
    candidate: IceCandidate | None = None


class Ended(_Message):
    """The physician ended the visit; the server closes the connection."""

    type: Literal["ended"] = "ended"
    by: _Id


class Pong(_Message):
    """Answer to :class:`Ping`."""

    type: Literal["pong"] = "pong"
    nonce: str = ""


class Error(_Message):
    """A message was refused; the connection stays open unless it was the join."""

    type: Literal["error"] = "error"
    code: str
    message: str
    ref: str | None = None
    reason: str | None = None


class SfuRoom(_Message):
    """A Janus VideoRoom of the visit one may join: ``main`` (all) or ``clinical`` (physicians)."""

    kind: Literal["main", "clinical"]
    room: int
    pin: str


class SfuGrant(_Message):
    """Admitted to a multi-party visit: the Janus API, a Janus token and the rooms one may join.

    ``feed`` is the publisher id to join with; Janus refuses the token in any other visit's
    rooms, and the server cuts a participant who joins under another id.
    """

    type: Literal["sfu"] = "sfu"
    url: str
    token: str
    feed: int
    display: str
    rooms: list[SfuRoom]


class SfuUnavailable(_Message):
    """The SFU could not be reached when the visit started: it runs peer to peer, one physician."""

    type: Literal["sfu_unavailable"] = "sfu_unavailable"
    reason: str


class Removed(_Message):
    """The physician removed you from the visit; the server closes the connection."""

    type: Literal["removed"] = "removed"
    by: _Id
    reason: str = ""


class RelayedVitals(_Message):
    """A reading from the room (to physicians only)."""

    type: Literal["vitals"] = "vitals"
    sender: _Id = Field(alias="from")
    data: str


ServerMessage = Annotated[
    Welcome
    | Roster
    | Admitted
    | Denied
    | RelayedOffer
    | RelayedAnswer
    | RelayedIce
    | Ended
    | Pong
    | Error
    | SfuGrant
    | SfuUnavailable
    | Removed
    | RelayedVitals,
    Field(discriminator="type"),
]
SERVER_MESSAGES: Final[TypeAdapter[ServerMessage]] = TypeAdapter(ServerMessage)
