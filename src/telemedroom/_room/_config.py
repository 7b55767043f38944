"""The room's configuration: one TOML file, overridden by ``TELEMEDROOM_*`` environment variables."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    SettingsConfigDict,
)

from telemedroom._room._events import DeviceKind, Language
from telemedroom._settings import TomlSettings, check_key, check_media_source, check_zone
from telemedroom.errors import RoomConfigError

if TYPE_CHECKING:
    from telemedroom.fhir._plan import ServerProfile

__all__ = [
    "FhirSettings",
    "HubLinkSettings",
    "IceServerSettings",
    "KioskSettings",
    "MediaSettings",
    "RoomConfig",
    "ScheduleSettings",
    "SessionSettings",
]

ENV_PREFIX = "TELEMEDROOM_"
DEMO_DEVICES: tuple[DeviceKind, ...] = (
    "blood_pressure",
    "pulse_oximeter",
    "thermometer",
    "scale",
    "glucometer",
)


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaSettings(_Table):
    """``[media]``: where the cameras and audio come from.

    Each is ``"synthetic"``, ``"file:PATH"``, ``"v4l2:/dev/videoN"`` or ``"alsa:hw:N"``.

    Examples:
        >>> MediaSettings().room_camera
        'synthetic'
    """

    room_camera: str = "synthetic"
    exam_camera: str = "synthetic"
    microphone: str = "synthetic"
    stethoscope: str = "synthetic"

    _source = field_validator("room_camera", "exam_camera", "microphone", "stethoscope")(check_media_source)


class FhirSettings(_Table):
    """``[fhir]``: the FHIR server and its SMART backend-services client, or none (NDJSON files).

    ``server`` names the server's rules (``generic``, ``hapi``, ``medplum``; see
    ``docs/fhir-servers.md``) so the outbox cuts transactions to fit; the three keys after
    it override one limit each. ``patient_identifier_system`` says what the booking's
    patient id is: unset, the Patient's id on the server; set (e.g.
    ``http://fhir.de/sid/gkv/kvid-10``), a business identifier in that system, for which
    the record creates the Patient conditionally.

    Examples:
        >>> FhirSettings().base_url is None
        True
        >>> FhirSettings(server="medplum", max_conditional_entries=4).profile().max_conditional_entries
        4
    """

    base_url: str | None = None
    server: Literal["generic", "hapi", "medplum"] = "generic"
    max_conditional_entries: int | None = Field(default=None, ge=1)
    max_updates: int | None = Field(default=None, ge=1)
    update_create: bool | None = None
    patient_identifier_system: str | None = None
    client_id: str | None = None
    private_key_file: Path | None = None
    key_id: str | None = None
    scopes: list[str] = Field(
        default_factory=lambda: [
            "system/Encounter.write",
            "system/Observation.write",
            "system/Device.write",
            "system/Media.write",
            "system/Provenance.write",
        ]
    )

    def profile(self) -> ServerProfile:
        """The server's :class:`~telemedroom.fhir.ServerProfile`, with this table's overrides."""
        from telemedroom.fhir._plan import ServerProfile

        return ServerProfile.named(
            self.server,
            max_conditional_entries=self.max_conditional_entries,
            max_updates=self.max_updates,
            update_create=self.update_create,
        )


class ScheduleSettings(_Table):
    """``[schedule]``: the schedule store, ``sqlite:///PATH`` or ``postgresql://...``.

    Empty means ``sqlite:///`` + ``data_dir/schedule.sqlite``.

    Examples:
        >>> ScheduleSettings(store="sqlite:///var/room/schedule.sqlite").store
        'sqlite:///var/room/schedule.sqlite'
    """

    store: str = ""

    @field_validator("store")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError('use "sqlite:///PATH" or "postgresql://user@host/db"')
        return value


class IceServerSettings(_Table):
    """One STUN or TURN server of ``[session] ice_servers``.

    Examples:
        >>> IceServerSettings(urls=["stun:stun.example.org"]).credential is None
        True
    """

    urls: list[str]
    username: str | None = None
    credential: SecretStr | None = None


class SessionSettings(_Table):
    """``[session]``: signaling, ICE servers and where join tokens come from.

    With ``embedded = true`` (the demo) the room runs its own signaling server on
    loopback and signs join tokens with a key made at start; otherwise ``signaling_url``
    is the clinic's server, and the room signs its own patient token with the clinic's
    join-token key: ``token_signing_key_file`` (PKCS#8 PEM, Ed25519; keep it mode 0600)
    and ``token_key_id``, the key id under which the signaling server knows its public half.

    Examples:
        >>> SessionSettings().embedded
        False
    """

    signaling_url: str | None = None
    ice_servers: list[IceServerSettings] = Field(default_factory=list)
    token_signing_key_file: Path | None = None
    token_key_id: str | None = None
    embedded: bool = False
    admission_timeout_s: float = Field(default=900.0, gt=0)
    # Multi-party visits through Janus (docs/sfu.md): the HTTP API, its admin API and secrets.
    sfu: str | None = None
    sfu_admin_url: str | None = None
    sfu_admin_secret: SecretStr | None = None
    sfu_room_admin_key: SecretStr | None = None
    sfu_public_url: str | None = None

    @model_validator(mode="after")
    def _sfu_complete(self) -> SessionSettings:
        if self.sfu is not None:
            missing = [
                name
                for name in ("sfu_admin_url", "sfu_admin_secret", "sfu_room_admin_key")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"sfu is set: also set {', '.join(missing)} (see docs/sfu.md)")
        return self

    def sfu_config(self) -> Any:
        """The signaling server's ``SfuConfig``, or ``None`` when ``sfu`` is not set.

        Examples:
            >>> SessionSettings().sfu_config() is None
            True
            >>> SessionSettings(sfu="http://127.0.0.1:8088/janus", sfu_admin_url="http://127.0.0.1:7088/admin",
            ...     sfu_admin_secret="a", sfu_room_admin_key="k").sfu_config().url
            'http://127.0.0.1:8088/janus'
        """
        if self.sfu is None:
            return None
        from telemedroom.session.sfu import SfuConfig

        assert self.sfu_admin_url is not None
        assert self.sfu_admin_secret is not None
        assert self.sfu_room_admin_key is not None
        return SfuConfig(
            url=self.sfu,
            admin_url=self.sfu_admin_url,
            admin_secret=self.sfu_admin_secret.get_secret_value(),
            room_admin_key=self.sfu_room_admin_key.get_secret_value(),
            public_url=self.sfu_public_url,
        )


class KioskSettings(_Table):
    """``[kiosk]``: where the patient kiosk page is served (loopback by default).

    Examples:
        >>> KioskSettings().host
        '127.0.0.1'
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class HubLinkSettings(_Table):
    """``[hub]``: the clinic hub this room reports to (heartbeats signed with the room's own key).

    ``key_file`` is the room's Ed25519 private key (PKCS#8 PEM, mode 0600); the hub knows
    its public half. ``ca_file`` trusts a private CA (or a test certificate) for the hub's TLS.

    Examples:
        >>> HubLinkSettings(url="https://hub.example.org", key_file="room.pem").interval_s
        5.0
    """

    url: str
    key_file: Path
    ca_file: Path | None = None
    interval_s: float = Field(default=5.0, gt=0)
    queue_max: int = Field(default=2000, ge=1)


class RoomConfig(TomlSettings):
    """Everything a room needs, from a TOML file and ``TELEMEDROOM_*`` environment variables.

    Environment variables override the file: ``TELEMEDROOM_ROOM_ID``,
    ``TELEMEDROOM_FHIR__BASE_URL`` (nested tables with ``__``). Secrets are
    :class:`~pydantic.SecretStr` and never printed.

    Attributes:
        room_id: The room's stable id (also its FHIR gateway Device identifier).
        name: Shown to patients and physicians.
        timezone: IANA zone of the room (device clocks, the kiosk).
        language: The kiosk's default language.
        devices: The medical devices of the room, in the order the patient is guided.
        data_dir: Where the outbox, journal, audit log and schedule live.
        encryption_key: Base64 of 32 bytes; seals the outbox and the journal at rest.
        recording: Whether visits are recorded (telemedroom records nothing; off).
        cleaning_buffer_minutes: How long the room stays closed after a visit.
        measurement_attempts: Tries per device before it is skipped.
        device_timeout_s: Seconds one try may take (find, connect, read).
        facial_measurements: Measure the facial protocol's stills (a measurement aid,
            not a diagnosis; needs the ``landmarks`` extra). Off until the operator has
            done the checks of the facial measurements guide.

    Examples:
        >>> import base64
        >>> config = RoomConfig(room_id="nord-1", data_dir="/var/lib/room",
        ...                     encryption_key=base64.b64encode(bytes(32)).decode())
        >>> config.measurement_attempts, config.encryption_key
        (3, SecretStr('**********'))
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )
    config_error = RoomConfigError

    room_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9\-.]{1,64}$")
    name: str = "telemedroom"
    timezone: str = "Europe/Berlin"
    language: Language = "de"
    devices: list[DeviceKind] = Field(default_factory=lambda: list(DEMO_DEVICES))
    data_dir: Path
    encryption_key: SecretStr
    recording: bool = False
    cleaning_buffer_minutes: float = Field(default=10.0, ge=0)
    measurement_attempts: int = Field(default=3, ge=1, le=10)
    device_timeout_s: float = Field(default=30.0, gt=0)
    facial_measurements: bool = False
    media: MediaSettings = Field(default_factory=MediaSettings)
    fhir: FhirSettings = Field(default_factory=FhirSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    kiosk: KioskSettings = Field(default_factory=KioskSettings)
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
    def _unique(cls, value: list[DeviceKind]) -> list[DeviceKind]:
        if len(set(value)) != len(value):
            raise ValueError("a device kind is listed twice")
        return value

    @property
    def key(self) -> bytes:
        """The 32-byte encryption key."""
        return base64.b64decode(self.encryption_key.get_secret_value())

    @property
    def zone(self) -> ZoneInfo:
        """:attr:`timezone` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    @property
    def schedule_url(self) -> str:
        """The schedule store URL, defaulting to SQLite in :attr:`data_dir`."""
        return self.schedule.store or f"sqlite:///{self.data_dir / 'schedule.sqlite'}"

    @classmethod
    def load(cls, **values: Any) -> Self:
        """Like the constructor (arguments, then environment), with errors as :class:`RoomConfigError`.

        Examples:
            >>> RoomConfig.load(room_id="r1", data_dir="/var/lib/telemedroom/r1")
            Traceback (most recent call last):
            ...
            telemedroom.RoomConfigError: room configuration environment: encryption_key: missing
        """
        return cls._validated(values, None)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Self:
        """Load ``path``; ``TELEMEDROOM_*`` environment variables override its keys.

        Raises:
            RoomConfigError: The file cannot be read or parsed, or a key is missing or
                invalid (the error names the key and the file).

        Examples:
            >>> import pathlib, tempfile
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "room.toml"
            >>> _ = path.write_text('room_id = "nord-1"\\ndata_dir = "/var/lib/room"\\n')
            >>> RoomConfig.from_toml(path)
            Traceback (most recent call last):
            ...
            telemedroom.RoomConfigError: room configuration .../room.toml: encryption_key: missing
        """
        file = Path(path)
        return cls._validated({}, cls._read_toml(file))

    @classmethod
    def demo(cls, data_dir: str | os.PathLike[str]) -> Self:
        """The embedded defaults of ``telemedroom demo``: synthetic media, local signaling, NDJSON.

        The encryption key is made once and kept in ``data_dir/demo.key`` (mode 0600), so a
        second demo run opens the same outbox; a real room takes its key from a secret store.

        Examples:
            >>> import tempfile
            >>> config = RoomConfig.demo(tempfile.mkdtemp())
            >>> config.session.embedded, config.fhir.base_url, config.devices[0]
            (True, None, 'blood_pressure')
        """
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "demo.key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(os.urandom(32)).decode())
        return cls(
            room_id="demo-room",
            name="telemedroom demo room",
            data_dir=folder,
            encryption_key=SecretStr(key_file.read_text().strip()),
            cleaning_buffer_minutes=0.0,
            device_timeout_s=10.0,
            session=SessionSettings(embedded=True),
            # the demo's patient is a (fictitious) statutory insurance number: the record
            # creates the Patient by it (docs/fhir-servers.md)
            fhir=FhirSettings(patient_identifier_system="http://fhir.de/sid/gkv/kvid-10"),
        )
