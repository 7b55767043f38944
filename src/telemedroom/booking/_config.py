"""The booking page's configuration: one TOML file, secrets overridable by ``TELEMEDROOM_BOOKING_*``.

``booking.toml`` names the schedule (``schedule.toml``: the rooms, physicians and
services, the same file ``telemedroom slots`` reads), where the schedule store and the
residents' records live, which fields the clinic asks for, how long personal data is
kept, the SMTP server for the confirmation e-mail and the abuse limits.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    SettingsConfigDict,
)

from telemedroom._settings import TomlSettings
from telemedroom.errors import BookingConfigError

__all__ = ["BookingConfig", "LimitSettings", "SmtpSettings"]

Language = Literal["de", "en"]
# What a clinic may ask beyond name and date of birth (always asked: they identify the
# resident at the fallback "booking code + date of birth" and on the FHIR Patient).
OptionalField = Literal["phone", "email", "insurance_number"]

ENV_PREFIX = "TELEMEDROOM_BOOKING_"


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SmtpSettings(_Table):
    """``[smtp]``: the operator's mail server for the confirmation e-mail (none: no e-mail).

    ``security`` is ``"starttls"`` (port 587), ``"tls"`` (implicit TLS, port 465) or
    ``"none"`` (only for a relay on the same machine).

    Examples:
        >>> SmtpSettings(host="mail.clinic.example", sender="termine@clinic.example").port
        587
    """

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    timeout_s: float = Field(default=30.0, gt=0)


class LimitSettings(_Table):
    """``[limits]``: what one client (IP address) or one contact may do.

    Examples:
        >>> LimitSettings().holds_per_client
        2
    """

    requests_per_minute: int = Field(default=120, ge=1)
    holds_per_client: int = Field(default=2, ge=1)
    bookings_per_hour_per_ip: int = Field(default=10, ge=1)
    bookings_per_day_per_contact: int = Field(default=3, ge=1)
    lookups_per_hour_per_ip: int = Field(default=10, ge=1)


class BookingConfig(TomlSettings):
    """Everything the booking page needs, from ``booking.toml`` and the environment.

    Attributes:
        clinic_name: Shown on the page and in the e-mail.
        public_url: Where residents reach the page (links in the e-mail point here).
        schedule_file: ``schedule.toml`` with ``[[resources]]`` and ``[[services]]``;
            relative paths are relative to the configuration file.
        schedule_store: ``sqlite:///PATH`` or a ``postgresql://`` URL; the room's kiosk
            checks in against the same store.
        data_dir: Residents' records, the FHIR outbox and (without a FHIR server) its NDJSON files.
        encryption_key: Base64 of 32 bytes; seals personal data at rest and signs the forms.
        language: The page's language when the browser asks for neither German nor English.
        fields: What the clinic asks beyond name and date of birth.
        retention_days: Personal data is deleted this many days after the appointment.
        privacy_version: The privacy notice's version; each consent records it.
        privacy_contact: Who answers data-protection questions (shown in the notice).
        hold_minutes: How long a chosen time is held while the resident types (extendable).
        days_ahead: How far ahead slots are offered.
        fhir_base_url: The clinic's FHIR server; unset, bundles go to ``data_dir/fhir``.
        api: Also serve the JSON booking API under ``/booking/api/`` (for the practice
            software; put it behind the clinic's authentication).

    Examples:
        >>> import base64
        >>> config = BookingConfig(clinic_name="Praxis am Quartier", schedule_file="schedule.toml",
        ...                        data_dir="/var/lib/booking",
        ...                        encryption_key=base64.b64encode(bytes(32)).decode())
        >>> config.retention_days, config.fields
        (30, ['phone', 'email', 'insurance_number'])
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )
    config_error = BookingConfigError

    clinic_name: str = Field(min_length=1, max_length=200)
    public_url: str = "http://127.0.0.1:8020"
    schedule_file: Path
    schedule_store: str = ""
    data_dir: Path
    encryption_key: SecretStr
    language: Language = "de"
    fields: list[OptionalField] = Field(default_factory=lambda: list(get_args(OptionalField)))
    retention_days: int = Field(default=30, ge=0)
    privacy_version: str = Field(default="1", min_length=1, max_length=40)
    privacy_contact: str = ""
    hold_minutes: float = Field(default=10.0, gt=0, le=60)
    days_ahead: int = Field(default=28, ge=1, le=366)
    fhir_base_url: str | None = None
    api: bool = False
    smtp: SmtpSettings | None = None
    limits: LimitSettings = Field(default_factory=LimitSettings)

    @field_validator("encryption_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        if len(raw) != 32:
            raise ValueError(f"must be base64 of 32 bytes, not {len(raw)}")
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("schedule_store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("use sqlite:///PATH or a postgresql:// URL")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        if not {"phone", "email"} & set(value):
            raise ValueError("ask for phone or email (or both): the clinic must reach the resident")
        return list(dict.fromkeys(value))

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Self:
        """Load ``path``; relative paths in it are relative to its folder.

        Raises:
            BookingConfigError: The file cannot be read or parsed, or a key is missing
                or invalid (the error names the key and the file).

        Examples:
            >>> import pathlib, tempfile
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "booking.toml"
            >>> _ = path.write_text('clinic_name = "Praxis"\\nschedule_file = "s.toml"\\n')
            >>> BookingConfig.from_toml(path)
            Traceback (most recent call last):
            ...
            telemedroom.BookingConfigError: booking configuration .../booking.toml: data_dir: missing
        """
        file = cls._read_toml(path)
        config = cls._validated({}, file)  # the fields come from the file (and the environment)
        base = file.parent
        return config.model_copy(
            update={
                "schedule_file": base / config.schedule_file,
                "data_dir": base / config.data_dir,
            }
        )

    @property
    def key(self) -> bytes:
        """The 32-byte key."""
        return base64.b64decode(self.encryption_key.get_secret_value())

    @property
    def store_url(self) -> str:
        """The schedule store: :attr:`schedule_store`, or ``data_dir/schedule.sqlite``.

        Examples:
            >>> import base64
            >>> BookingConfig(clinic_name="P", schedule_file="s.toml", data_dir="/srv/b",
            ...               encryption_key=base64.b64encode(bytes(32)).decode()).store_url
            'sqlite:////srv/b/schedule.sqlite'
        """
        return self.schedule_store or f"sqlite:///{self.data_dir / 'schedule.sqlite'}"
