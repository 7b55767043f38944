"""The consultation: join tokens, signaling with a waiting room, the room's WebRTC peer, audit.

- :mod:`telemedroom.session.tokens`: :class:`TokenIssuer`, :class:`TokenVerifier`,
  :class:`ActiveTokens`, :class:`BookingCodes` (compact JWS, EdDSA/Ed25519).
- :mod:`telemedroom.session.audit`: :class:`AuditLog`, hash-chained, exported as FHIR
  ``AuditEvent``.
- :mod:`telemedroom.session.protocol`: the signaling messages (version
  :data:`~telemedroom.session.protocol.PROTOCOL_VERSION`), one pydantic model each.
- :mod:`telemedroom.session.channels`: the ``vitals`` and ``control`` data-channel messages.
- :mod:`telemedroom.session.turn`: ICE servers and time-limited TURN credentials.
- :mod:`telemedroom.session.heartbeat`: rooms' status reports to the clinic hub, signed
  with each room's own Ed25519 key.
- :mod:`telemedroom.session.signaling`: ``create_app(config)``, the Starlette app
  (extra ``server``; imported on first use).
- :mod:`telemedroom.session.peer`: :class:`~telemedroom.session.peer.RoomPeer` and
  :class:`~telemedroom.session.peer.PhysicianPeer` on aiortc (extra ``video``;
  imported on first use).
- :mod:`telemedroom.session.sfu`: multi-party visits through the Janus SFU
  (``SfuConfig`` for the signaling server); :mod:`telemedroom.session.participant`:
  ``SfuParticipant``, a remote participant of any role on aiortc (extra ``video``).

Examples:
    >>> from datetime import datetime, timedelta, UTC
    >>> from telemedroom.session import TokenIssuer, TokenVerifier
    >>> issuer = TokenIssuer.generate("k1")
    >>> now = datetime.now(UTC)
    >>> token = issuer.issue(room="r1", appointment="a1", role="patient", subject="p-7",
    ...                      not_before=now, expires_at=now + timedelta(minutes=30))
    >>> TokenVerifier(issuer.public_keys()).verify(token, room="r1", appointment="a1").subject
    'p-7'
"""

from __future__ import annotations

import importlib
import types
import typing

from telemedroom.errors import TokenRefusal
from telemedroom.session import (
    audit,
    channels,
    heartbeat,  # room heartbeats for the clinic hub
    protocol,
    tokens,
    turn,
)
from telemedroom.session.audit import AuditAction, AuditEntry, AuditLog
from telemedroom.session.tokens import (
    ActiveTokens,
    BookingCodes,
    JoinClaims,
    TokenIssuer,
    TokenVerifier,
)
from telemedroom.session.turn import IceServer, turn_credentials

if typing.TYPE_CHECKING:
    from telemedroom.session import participant, peer, sfu, signaling

__all__ = [
    "ActiveTokens",
    "AuditAction",
    "AuditEntry",
    "AuditLog",
    "BookingCodes",
    "IceServer",
    "JoinClaims",
    "TokenIssuer",
    "TokenRefusal",
    "TokenVerifier",
    "audit",
    "channels",
    "participant",
    "peer",
    "protocol",
    "sfu",
    "signaling",
    "tokens",
    "turn",
    "turn_credentials",
    "heartbeat",
]

for _obj in (
    ActiveTokens,
    AuditAction,
    AuditEntry,
    AuditLog,
    BookingCodes,
    IceServer,
    JoinClaims,
    TokenIssuer,
    TokenRefusal,
    TokenVerifier,
    turn_credentials,
):
    _obj.__module__ = __name__
del _obj

# Submodules that need an extra: imported when first accessed (PEP 562).
_LAZY = frozenset({"participant", "peer", "sfu", "signaling"})


def __getattr__(name: str) -> types.ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
