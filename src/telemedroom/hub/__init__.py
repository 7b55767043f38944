"""The clinic hub: one service for all rooms (extra ``hub``; ``telemedroom hub --config hub.toml``).

- Staff log in with OpenID Connect (authorization code + PKCE) against the hospital's
  identity provider, roles from a claim (``physician``, ``operator``), or with a local
  account file (argon2id hashes). Sessions live in PostgreSQL behind a
  ``__Host-`` cookie (HttpOnly, Secure, SameSite=Lax); every state-changing request needs
  the session's CSRF token; sessions expire when idle and at the latest after a lifetime.
- The operator's fleet view: every room's signed heartbeat (each room its own Ed25519
  key, :mod:`telemedroom.session.heartbeat`), online/offline, visit state, devices and
  batteries, outbox backlog and refused records, with alerts.
- The physicians' worklist: today's visits with each room's live state, and the health
  apartments to act on (a patient calling the ward, unacknowledged alerts, offline),
  in one order of urgency.
- Operations: ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus text format).

Everything the hub keeps is in PostgreSQL, so several replicas can share one database.

Examples:
    >>> config = HubConfig(public_url="https://hub.example.org", database_url="postgresql:///hub",
    ...                    accounts_file="accounts.toml")
    >>> Hub(config).config.redirect_uri
    'https://hub.example.org/auth/callback'
"""

from __future__ import annotations

from telemedroom.hub._accounts import LocalAccounts, hash_password
from telemedroom.hub._app import Hub
from telemedroom.hub._config import (
    AlertSettings,
    HubConfig,
    OidcSettings,
    RoomKey,
    SessionSettings,
    TokenSettings,
)
from telemedroom.hub._fleet import RoomView
from telemedroom.hub._relay import PostgresRelay
from telemedroom.hub._store import HubStore, RoomStatus, StaffSession

__all__ = [
    "AlertSettings",
    "Hub",
    "HubConfig",
    "HubStore",
    "LocalAccounts",
    "OidcSettings",
    "PostgresRelay",
    "RoomKey",
    "RoomStatus",
    "RoomView",
    "SessionSettings",
    "StaffSession",
    "TokenSettings",
    "hash_password",
]

# Show the short public path in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
