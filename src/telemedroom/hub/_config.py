"""The hub's configuration: one TOML file (``telemedroom hub --config hub.toml``)."""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Self
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from telemedroom.errors import HubConfigError

__all__ = [
    "SEVERITY_ORDER",
    "AlertSettings",
    "HubConfig",
    "OidcSettings",
    "RoomKey",
    "SessionSettings",
    "TokenSettings",
]

_ROOM_ID = r"^[A-Za-z0-9\-.]{1,64}$"


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OidcSettings(_Table):
    """``[oidc]``: the hospital's OpenID Connect provider (authorization code + PKCE).

    Attributes:
        issuer: The provider's issuer URL; its discovery document is read from
            ``{issuer}/.well-known/openid-configuration``.
        client_id: The hub's client id at the provider.
        client_secret: For a confidential client (``client_secret_basic``); a public
            client with PKCE needs none.
        roles_claim: The ID-token claim holding the staff member's roles (a list, or a
            space- or comma-separated string); ``physician`` and ``operator`` count.
        scopes: Scopes asked for (``openid`` is always among them).

    Examples:
        >>> OidcSettings(issuer="https://idp.example.org", client_id="hub").roles_claim
        'roles'
    """

    issuer: str
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr | None = None
    roles_claim: str = "roles"
    scopes: list[str] = Field(default_factory=lambda: ["openid"])


class SessionSettings(_Table):
    """``[session]``: staff sessions (cookie ``__Host-telemedroom-hub``: HttpOnly, Secure, SameSite=Lax).

    Examples:
        >>> SessionSettings().idle_minutes
        30.0
    """

    idle_minutes: float = Field(default=30.0, gt=0)
    lifetime_hours: float = Field(default=10.0, gt=0)


class TokenSettings(_Table):
    """``[tokens]``: the clinic's join-token key, with which the hub signs physicians' join tokens.

    Examples:
        >>> TokenSettings(signing_key_file="join.pem", key_id="clinic-1").physician_minutes
        120.0
    """

    signing_key_file: Path
    key_id: Annotated[str, Field(min_length=1)]
    physician_minutes: float = Field(default=120.0, gt=0)


SEVERITY_ORDER: Final = {"low": 1, "moderate": 2, "high": 3}
"""The care plan's alert severities, least urgent first (the fleet's and the worklist's order)."""


class AlertSettings(_Table):
    """``[alerts]``: when the fleet view raises an alert about a room.

    Examples:
        >>> AlertSettings().offline_after_s
        30.0
    """

    offline_after_s: float = Field(default=30.0, gt=0)
    outbox_backlog_max: int = Field(default=100, ge=0)
    battery_low_percent: int = Field(default=20, ge=0, le=100)

    def online(self, received_at: datetime, now: datetime) -> bool:
        """Whether a room or apartment whose last report came at ``received_at`` counts as online.

        Examples:
            >>> from datetime import datetime, timedelta, UTC
            >>> now = datetime.now(UTC)
            >>> AlertSettings().online(now - timedelta(seconds=31), now)
            False
        """
        return (now - received_at).total_seconds() <= self.offline_after_s


class RoomKey(_Table):
    """``[[rooms]]``: a room that may report to the hub, with its own public key.

    Examples:
        >>> RoomKey(id="nord-1", public_key_file="rooms/nord-1.pem").name
        ''
    """

    id: Annotated[str, Field(pattern=_ROOM_ID)]
    name: str = ""
    public_key_file: Path


class HubConfig(_Table):
    """Everything the hub needs.

    Attributes:
        public_url: The hub's ``https://`` address as browsers see it (behind the
            reverse proxy); the OIDC redirect URI is ``{public_url}/auth/callback``.
        database_url: PostgreSQL DSN; all hub state lives there (two replicas share it).
        timezone: IANA zone of "today" on the worklist.
        schedule_url: The shared schedule's PostgreSQL DSN (defaults to ``database_url``).
        accounts_file: Local accounts (argon2 hashes), for deployments without an IdP.
        signaling_url: Where the consultation's signaling runs (``wss://``); the
            physician console joins there.
        oidc: The identity provider (optional when ``accounts_file`` is set).
        session: Staff session lifetimes.
        tokens: The join-token key for physicians' join tokens.
        alerts: Fleet alert thresholds.
        rooms: The rooms and their heartbeat keys.
        apartments: The health apartments and their heartbeat keys (``[[apartments]]``,
            the same keys as a room's; an id is a room or an apartment, not both).

    Examples:
        >>> config = HubConfig(public_url="https://hub.example.org", database_url="postgresql:///hub",
        ...                    accounts_file="accounts.toml")
        >>> config.redirect_uri
        'https://hub.example.org/auth/callback'
    """

    public_url: str
    database_url: str
    timezone: str = "Europe/Berlin"
    schedule_url: str | None = None
    accounts_file: Path | None = None
    signaling_url: str | None = None
    oidc: OidcSettings | None = None
    session: SessionSettings = Field(default_factory=SessionSettings)
    tokens: TokenSettings | None = None
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    rooms: list[RoomKey] = Field(default_factory=list)
    apartments: list[RoomKey] = Field(default_factory=list)

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an absolute https:// URL")
        return value.rstrip("/")

    @field_validator("rooms")
    @classmethod
    def _unique(cls, value: list[RoomKey]) -> list[RoomKey]:
        ids = [room.id for room in value]
        if len(set(ids)) != len(ids):
            raise ValueError("a room id is listed twice")
        return value

    @field_validator("apartments")
    @classmethod
    def _unique_apartments(cls, value: list[RoomKey], info: ValidationInfo) -> list[RoomKey]:
        ids = [apartment.id for apartment in value]
        rooms = {room.id for room in info.data.get("rooms", [])}
        if len(set(ids)) != len(ids) or rooms & set(ids):
            raise ValueError("an apartment id is listed twice, or also as a room")
        return value

    @property
    def redirect_uri(self) -> str:
        """Where the IdP sends the browser back with the authorization code."""
        return f"{self.public_url}/auth/callback"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of :attr:`public_url` (checked against ``Origin``)."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Self:
        """Load ``path``; relative file names in it are relative to the file's folder.

        Raises:
            HubConfigError: The file cannot be read or parsed, or a key is missing or
                invalid (the error names the key and the file).

        Examples:
            >>> HubConfig.from_toml("/nonexistent/hub.toml")
            Traceback (most recent call last):
            ...
            telemedroom.errors.HubConfigError: hub configuration /nonexistent/hub.toml: cannot read: ...
        """
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise HubConfigError("", str(file), f"cannot read: {exc.strerror}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise HubConfigError("", str(file), f"not TOML: {exc}") from exc
        return cls.load(data, source=str(file), base=file.parent)

    @classmethod
    def load(cls, data: dict[str, Any], *, source: str = "arguments", base: Path | None = None) -> Self:
        """Validate ``data`` (a parsed TOML table), errors as :class:`HubConfigError`.

        Examples:
            >>> HubConfig.load({"public_url": "https://hub.example.org"})
            Traceback (most recent call last):
            ...
            telemedroom.errors.HubConfigError: hub configuration arguments: database_url: missing
        """
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            reason = "missing" if first["type"] == "missing" else first["msg"]
            raise HubConfigError(key, source, reason) from exc
        if config.oidc is None and config.accounts_file is None:
            raise HubConfigError("oidc", source, "no way to log in: set [oidc] or accounts_file")
        return config._resolved(base) if base is not None else config

    def _resolved(self, base: Path) -> Self:
        def resolve(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        update: dict[str, Any] = {
            "rooms": [
                room.model_copy(update={"public_key_file": resolve(room.public_key_file)})
                for room in self.rooms
            ],
            "apartments": [
                apartment.model_copy(update={"public_key_file": resolve(apartment.public_key_file)})
                for apartment in self.apartments
            ],
        }
        if self.accounts_file is not None:
            update["accounts_file"] = resolve(self.accounts_file)
        if self.tokens is not None:
            update["tokens"] = self.tokens.model_copy(
                update={"signing_key_file": resolve(self.tokens.signing_key_file)}
            )
        return self.model_copy(update=update)

    def room_keys(self) -> dict[str, Ed25519PublicKey]:
        """``{room or apartment id: public key}`` read from each one's PEM file.

        Raises:
            HubConfigError: A key file is missing or holds no Ed25519 public key.
        """
        keys: dict[str, Ed25519PublicKey] = {}
        listed = [("rooms", index, room) for index, room in enumerate(self.rooms)]
        listed += [("apartments", index, apartment) for index, apartment in enumerate(self.apartments)]
        for table, index, room in listed:
            where = f"{table}.{index}.public_key_file"
            try:
                key = load_pem_public_key(room.public_key_file.read_bytes())
            except OSError as exc:
                raise HubConfigError(
                    where, str(room.public_key_file), f"cannot read: {exc.strerror}"
                ) from exc
            except ValueError as exc:
                raise HubConfigError(where, str(room.public_key_file), "not a PEM public key") from exc
            if not isinstance(key, Ed25519PublicKey):
                raise HubConfigError(where, str(room.public_key_file), "not an Ed25519 key")
            keys[room.id] = key
        return keys

    def signing_key(self) -> Ed25519PrivateKey | None:
        """The clinic's join-token key (``[tokens]``), or ``None`` when the hub issues no tokens.

        Raises:
            HubConfigError: The file is missing or holds no Ed25519 private key.
        """
        if self.tokens is None:
            return None
        file = self.tokens.signing_key_file
        try:
            key = load_pem_private_key(file.read_bytes(), password=None)
        except OSError as exc:
            raise HubConfigError(
                "tokens.signing_key_file", str(file), f"cannot read: {exc.strerror}"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise HubConfigError(
                "tokens.signing_key_file", str(file), "not an unencrypted PEM private key"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise HubConfigError("tokens.signing_key_file", str(file), "not an Ed25519 key")
        return key
