"""The apartment's configuration: one TOML file, overridden by ``TELEMEDROOM_APARTMENT_*`` variables."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    SettingsConfigDict,
)

from telemedroom._settings import TomlSettings, check_key, check_media_source, check_zone
from telemedroom.errors import ApartmentConfigError

__all__ = [
    "ApartmentConfig",
    "DeviceHealthSettings",
    "PairedDevice",
    "ScreenSettings",
    "WardSettings",
]

ENV_PREFIX = "TELEMEDROOM_APARTMENT_"


DeviceKind = Literal["blood_pressure", "pulse_oximeter", "thermometer", "scale", "glucometer", "heart_rate"]


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PairedDevice(_Table):
    """One ``[[devices]]`` entry: a device paired with this apartment, listened to whenever it advertises.

    Attributes:
        address: Its Bluetooth address.
        kind: What it measures.
        name: What the patient calls it on the screen (default: by its kind).

    Examples:
        >>> PairedDevice(address="c0:ff:ee:00:00:01", kind="blood_pressure").address
        'C0:FF:EE:00:00:01'
    """

    address: str = Field(pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
    kind: DeviceKind
    name: str | None = None

    @field_validator("address")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class FhirSettings(_Table):
    """``[fhir]``: the clinic's FHIR server and its SMART backend-services client, or none (NDJSON).

    Examples:
        >>> FhirSettings().base_url is None
        True
    """

    base_url: str | None = None
    client_id: str | None = None
    private_key_file: Path | None = None
    key_id: str | None = None
    scopes: list[str] = Field(
        default_factory=lambda: [
            "system/Observation.write",
            "system/Device.write",
            "system/Provenance.write",
            "system/Flag.write",
            "system/Communication.write",
            "system/DetectedIssue.write",
        ]
    )


class WebhookSettings(_Table):
    """``[webhook]``: the ward's alert receiver (signed JSON, :class:`~telemedroom.monitoring.WebhookSink`).

    Examples:
        >>> WebhookSettings().url is None
        True
    """

    url: str | None = None
    secret: SecretStr | None = None


class DeviceHealthSettings(_Table):
    """``[health]``: when a device, or the gateway itself, needs attention.

    Attributes:
        battery_low_percent: A battery at or below this raises a ``device`` alert.
        not_seen_days: A paired device silent for this long raises one.
        clock_drift_minutes: A device clock off by more than this raises one (and is set).
        min_free_mb: Below this much free disk, new readings are refused with an alert.
        delivery_alert_minutes: Deliveries to the clinic failing for this long raise an
            alert (the readings stay queued on the gateway meanwhile).

    Examples:
        >>> DeviceHealthSettings().not_seen_days
        3.0
    """

    battery_low_percent: int = Field(default=20, ge=0, le=100)
    not_seen_days: float = Field(default=3.0, gt=0)
    clock_drift_minutes: float = Field(default=5.0, gt=0)
    min_free_mb: float = Field(default=50.0, ge=0)
    delivery_alert_minutes: float = Field(default=60.0, gt=0)


class ScreenSettings(_Table):
    """``[screen]``: where the patient's page is served (loopback by default).

    Examples:
        >>> ScreenSettings().host
        '127.0.0.1'
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)


class WardSettings(_Table):
    """``[ward]``: the clinic's signaling server and the key the apartment signs its join tokens with.

    As a room does, the apartment signs its own short-lived join tokens with the clinic's
    join-token key (``token_signing_key_file``, PKCS#8 PEM Ed25519, mode 0600, and the
    ``token_key_id`` the signaling server knows its public half by). Without
    ``signaling_url`` the "call the ward" button is not shown.

    ``camera`` and ``microphone`` are the tablet's (``"synthetic"``, ``"file:PATH"``,
    ``"v4l2:/dev/videoN"`` or ``"alsa:hw:N"``, as the room's ``[media]``); they are opened
    only for a call, never in standby.

    Examples:
        >>> WardSettings().signaling_url is None
        True
        >>> WardSettings(camera="v4l2:/dev/video0").microphone
        'synthetic'
    """

    signaling_url: str | None = None
    token_signing_key_file: Path | None = None
    token_key_id: str | None = None
    admission_timeout_s: float = Field(default=900.0, gt=0)
    camera: str = "synthetic"
    microphone: str = "synthetic"

    _source = field_validator("camera", "microphone")(check_media_source)


class HubLinkSettings(_Table):
    """``[hub]``: the clinic hub this apartment reports to, as a room does (signed heartbeats).

    ``key_file`` is the apartment's own Ed25519 private key (PKCS#8 PEM, mode 0600); the
    hub lists its public half under ``[[apartments]]``. ``ca_file`` trusts a private CA
    (or a test certificate) for the hub's TLS. The hub's answers carry the ward's
    messages (acknowledged alerts, notes) to the patient's screen.

    Examples:
        >>> HubLinkSettings(url="https://hub.example.org", key_file="apartment.pem").interval_s
        30.0
    """

    url: str
    key_file: Path
    ca_file: Path | None = None
    interval_s: float = Field(default=30.0, gt=0)
    queue_max: int = Field(default=2000, ge=1)


class ApartmentConfig(TomlSettings):
    """Everything a health apartment's gateway needs, from a TOML file and the environment.

    ``TELEMEDROOM_APARTMENT_PATIENT``, ``TELEMEDROOM_APARTMENT_FHIR__BASE_URL`` (nested
    tables with ``__``) override the file. Secrets are :class:`~pydantic.SecretStr`.

    Attributes:
        apartment_id: The apartment's stable id (its gateway Device identifier, its
            signaling room).
        patient: FHIR reference of the patient living there.
        care_plan: The patient's care plan (TOML or JSON; relative to the config file).
        devices: The paired devices.
        data_dir: Where the journal, outbox and audit log live.
        encryption_key: Base64 of 32 bytes; seals the journal and the outbox at rest.
        retention_days: Readings older than this are deleted from the apartment (they
            are in the clinic's record by then).
        scan_window_s: Seconds of one scan; the gateway scans again right after.
        quiet_after_s: A connected device that sends nothing this long is let go.
        revisit_after_s: A device just let go is not connected again for this long.
        device_timeout_s: Seconds one connect, read or record answer may take.
        hub: The clinic hub the apartment reports to (its fleet view), if any.

    Examples:
        >>> import base64
        >>> config = ApartmentConfig(apartment_id="apt-2", patient="Patient/p1", care_plan="plan.toml",
        ...                          data_dir="/var/lib/apartment",
        ...                          encryption_key=base64.b64encode(bytes(32)).decode())
        >>> config.language, config.health.battery_low_percent, config.encryption_key
        ('de', 20, SecretStr('**********'))
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )
    config_error = ApartmentConfigError

    apartment_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9\-.]{1,64}$")
    patient: str = Field(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")
    name: str = "health apartment"
    timezone: str = "Europe/Berlin"
    language: Literal["de", "en"] = "de"
    care_plan: Path
    devices: list[PairedDevice] = Field(default_factory=list)
    data_dir: Path
    encryption_key: SecretStr
    retention_days: int = Field(default=90, ge=1)
    scan_window_s: float = Field(default=10.0, gt=0)
    quiet_after_s: float = Field(default=20.0, gt=0)
    revisit_after_s: float = Field(default=30.0, ge=0)
    device_timeout_s: float = Field(default=15.0, gt=0)
    fhir: FhirSettings = Field(default_factory=FhirSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    health: DeviceHealthSettings = Field(default_factory=DeviceHealthSettings)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    ward: WardSettings = Field(default_factory=WardSettings)
    hub: HubLinkSettings | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("encryption_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        return check_key(value)

    @field_validator("devices")
    @classmethod
    def _unique(cls, value: list[PairedDevice]) -> list[PairedDevice]:
        addresses = [device.address for device in value]
        if len(set(addresses)) != len(addresses):
            raise ValueError("a device address is listed twice")
        return value

    @property
    def key(self) -> bytes:
        """The 32-byte encryption key."""
        return base64.b64decode(self.encryption_key.get_secret_value())

    @property
    def zone(self) -> ZoneInfo:
        """:attr:`timezone` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    def device(self, address: str) -> PairedDevice | None:
        """The paired device with this address, if any.

        Examples:
            >>> import base64
            >>> config = ApartmentConfig(apartment_id="a", patient="Patient/p", care_plan="p.toml",
            ...     data_dir="/d", encryption_key=base64.b64encode(bytes(32)).decode(),
            ...     devices=[{"address": "C0:FF:EE:00:00:04", "kind": "scale"}])
            >>> config.device("c0:ff:ee:00:00:04").kind
            'scale'
        """
        return next((d for d in self.devices if d.address == address.upper()), None)

    @classmethod
    def load(cls, **values: Any) -> Self:
        """Like the constructor (arguments, then environment), with errors as :class:`ApartmentConfigError`.

        Examples:
            >>> ApartmentConfig.load(apartment_id="a1", patient="Patient/p1", care_plan="plan.toml",
            ...                      data_dir="/var/lib/telemedroom/a1")
            Traceback (most recent call last):
            ...
            telemedroom.ApartmentConfigError: apartment configuration environment: encryption_key: missing
        """
        return cls._validated(values, None)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Self:
        """Load ``path``; relative paths in it (care plan, data dir, keys) are relative to its folder.

        Raises:
            ApartmentConfigError: The file cannot be read or parsed, or a key is missing
                or invalid (the error names the key and the file).

        Examples:
            >>> import pathlib, tempfile
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "apartment.toml"
            >>> _ = path.write_text('apartment_id = "apt-2"\\npatient = "Patient/p1"\\n')
            >>> ApartmentConfig.from_toml(path)
            Traceback (most recent call last):
            ...
            telemedroom.ApartmentConfigError: apartment configuration .../apartment.toml: care_plan: missing
        """
        file = Path(path)
        config = cls._validated({}, cls._read_toml(file))
        return config._relative_to(file.parent)

    def _relative_to(self, folder: Path) -> Self:
        def resolve(path: Path | None) -> Path | None:
            return None if path is None or path.is_absolute() else folder / path

        update: dict[str, Any] = {"care_plan": resolve(self.care_plan), "data_dir": resolve(self.data_dir)}
        update = {k: v for k, v in update.items() if v is not None}
        if self.fhir.private_key_file is not None and not self.fhir.private_key_file.is_absolute():
            update["fhir"] = self.fhir.model_copy(
                update={"private_key_file": resolve(self.fhir.private_key_file)}
            )
        key_file = self.ward.token_signing_key_file
        if key_file is not None and not key_file.is_absolute():
            update["ward"] = self.ward.model_copy(update={"token_signing_key_file": resolve(key_file)})
        if self.hub is not None:
            files = {"key_file": resolve(self.hub.key_file), "ca_file": resolve(self.hub.ca_file)}
            update["hub"] = self.hub.model_copy(update={k: v for k, v in files.items() if v is not None})
        return self.model_copy(update=update)
