"""What every configuration file of the product shares: where values come from, and errors.

``room.toml`` (:class:`~telemedroom.room.RoomConfig`), ``apartment.toml``
(:class:`~telemedroom.apartment.ApartmentConfig`) and ``booking.toml``
(:class:`~telemedroom.booking.BookingConfig`) load the same way: arguments first, then
``TELEMEDROOM_*`` environment variables, then the TOML file; a bad value raises the
configuration's own error naming the key and where it came from (the file, or the
environment variable that overrode it). Each subclass says which error that is
(``config_error``) and its environment prefix (``model_config["env_prefix"]``).
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

from telemedroom.errors import ConfigError

__all__ = ["TomlSettings", "check_key", "check_media_source", "check_zone", "media_source"]

# The TOML file being loaded by from_toml (a context variable, so two configurations
# loading two files in two tasks never see each other's).
_TOML_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("telemedroom_toml", default=None)


def check_key(value: SecretStr) -> SecretStr:
    """An encryption key must be base64 of exactly 32 bytes (AES-256); ``ValueError`` otherwise.

    Examples:
        >>> check_key(SecretStr(base64.b64encode(bytes(32)).decode())).get_secret_value()[:4]
        'AAAA'
        >>> check_key(SecretStr("c2hvcnQ="))
        Traceback (most recent call last):
        ...
        ValueError: must be base64 of 32 bytes, not 5
    """
    try:
        raw = base64.b64decode(value.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError(f"must be base64 of 32 bytes, not {len(raw)}")
    return value


def check_zone(value: str) -> str:
    """A time zone must be an IANA name (``Europe/Berlin``); ``ValueError`` otherwise.

    Examples:
        >>> check_zone("Europe/Berlin")
        'Europe/Berlin'
        >>> check_zone("Mars/Olympus")
        Traceback (most recent call last):
        ...
        ValueError: 'Mars/Olympus' is not an IANA time zone
    """
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


def check_media_source(value: str) -> str:
    """A camera or sound source: ``synthetic``, ``file:PATH``, ``v4l2:/dev/videoN`` or ``alsa:hw:N``.

    Examples:
        >>> check_media_source("v4l2:/dev/video0")
        'v4l2:/dev/video0'
        >>> check_media_source("webcam")
        Traceback (most recent call last):
        ...
        ValueError: use "synthetic", "file:PATH", "v4l2:/dev/videoN" or "alsa:hw:N"
    """
    scheme, _, rest = value.partition(":")
    if value != "synthetic" and (scheme not in ("file", "v4l2", "alsa") or not rest):
        raise ValueError('use "synthetic", "file:PATH", "v4l2:/dev/videoN" or "alsa:hw:N"')
    return value


def media_source(role: Any, spec: str, **synthetic: Any) -> Any:
    """The :class:`~telemedroom.devices.media.MediaSource` a checked ``spec`` names (extra ``video``).

    ``synthetic`` holds the test pattern's or tone's parameters (``width``, ``frame_rate``...).

    Examples:
        >>> from telemedroom.devices.media import Role
        >>> media_source(Role.ROOM_CAMERA, "v4l2:/dev/video0").location
        '/dev/video0'
    """
    from telemedroom.devices.media import MediaSource

    scheme, _, location = spec.partition(":")
    if spec == "synthetic":
        return MediaSource.synthetic(role, **synthetic)
    if scheme == "file":
        return MediaSource.file(role, location)
    return MediaSource.device(role, location, backend=scheme)


class TomlSettings(BaseSettings):
    """Arguments, then the environment, then the TOML file; errors name the key and the source.

    Subclasses set ``config_error`` (their :class:`~telemedroom.errors.ConfigError`) and
    an ``env_prefix`` in their ``model_config``.
    """

    config_error: ClassVar[type[ConfigError]]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the TOML file of ``from_toml``."""
        toml = _TOML_FILE.get()
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if toml is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=toml),)
        return sources

    @classmethod
    def _read_toml(cls, path: str | os.PathLike[str]) -> Path:
        """``path`` if it can be read and parsed, else the configuration's error."""
        file = Path(path)
        try:
            with file.open("rb") as handle:
                tomllib.load(handle)
        except OSError as exc:
            raise cls.config_error(None, str(file), f"cannot read: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise cls.config_error(None, str(file), f"not valid TOML: {exc}") from exc
        return file

    @classmethod
    def _validated(cls, values: dict[str, Any], file: Path | None) -> Self:
        """The configuration from ``values``, the environment and ``file``, or its error."""
        token = _TOML_FILE.set(file)
        try:
            return cls(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"]) or None
            reason = "missing" if error["type"] == "missing" else error["msg"]
            source = str(file) if file is not None else "environment"
            if key is not None and file is not None and (variable := cls._variable(key)) is not None:
                source = f"environment ({variable})"
            raise cls.config_error(key, source, reason) from exc
        finally:
            _TOML_FILE.reset(token)

    @classmethod
    def _variable(cls, key: str) -> str | None:
        """The environment variable that set ``key`` (dotted), if one did."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        name = prefix + key.upper().replace(".", "__")
        return name if any(candidate.upper() == name for candidate in os.environ) else None
