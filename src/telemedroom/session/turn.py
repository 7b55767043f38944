"""ICE servers (STUN/TURN) and time-limited TURN credentials.

The credentials follow the TURN REST API scheme coturn implements with
``use-auth-secret`` / ``static-auth-secret`` (draft-uberti-behave-turn-rest-00 §2.2): the
username is ``"<expiry unix time>:<user>"`` and the password is
``base64(HMAC-SHA1(shared secret, username))``. The signaling server hands them out
with each welcome, so a leaked credential stops working at its expiry and the shared
secret never leaves the servers.

Examples:
    >>> from datetime import datetime, UTC
    >>> server = turn_credentials(["turn:turn.example.org:3478?transport=udp"], secret="s3cret",
    ...                           user="p-7", ttl=3600, now=datetime(2026, 11, 25, 9, tzinfo=UTC))
    >>> server.username, server.credential
    ('1795600800:p-7', 'lxQ41hJyoRpxwJpyfcdTFMieCq8=')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IceServer", "turn_credentials"]


class IceServer(BaseModel):
    """One entry of ``RTCConfiguration.iceServers`` (W3C WebRTC §4.2.1 ``RTCIceServer``).

    Attributes:
        urls: ``stun:``/``turn:``/``turns:`` URLs.
        username: TURN username (none for STUN).
        credential: TURN password.

    Examples:
        >>> IceServer(urls=["stun:stun.example.org:3478"]).model_dump(exclude_none=True)
        {'urls': ['stun:stun.example.org:3478']}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: Annotated[list[str], Field(min_length=1)]
    username: str | None = None
    credential: str | None = None


def turn_credentials(
    urls: Sequence[str], *, secret: str, user: str, ttl: int = 3600, now: datetime | None = None
) -> IceServer:
    """A TURN server entry with credentials valid for ``ttl`` seconds (coturn shared-secret auth)."""
    expiry = int((now or datetime.now(UTC)).timestamp()) + ttl
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return IceServer(urls=list(urls), username=username, credential=base64.b64encode(digest).decode())
