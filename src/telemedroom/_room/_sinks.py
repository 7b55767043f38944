"""What a room opens from its configuration: its outbox file, the FHIR sink it drains to, its join-token key.

One place for both the room (:class:`~telemedroom.room.Room`) and the command line
(``telemedroom outbox ...``), so they always open the same outbox and deliver to the
same server, with the same SMART backend-services client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemedroom.errors import RoomConfigError

if TYPE_CHECKING:
    from telemedroom._room._config import RoomConfig
    from telemedroom.fhir import FhirSink, Retry
    from telemedroom.session.tokens import TokenIssuer

__all__ = ["fhir_dir", "join_token_issuer", "open_fhir_sink", "outbox_path"]


def outbox_path(config: RoomConfig) -> Path:
    """The room's outbox: ``data_dir/outbox.sqlite``.

    Examples:
        >>> import base64
        >>> from telemedroom.room import RoomConfig
        >>> config = RoomConfig(room_id="r1", data_dir="/var/lib/room",
        ...                     encryption_key=base64.b64encode(bytes(32)).decode())
        >>> outbox_path(config).as_posix(), fhir_dir(config).as_posix()
        ('/var/lib/room/outbox.sqlite', '/var/lib/room/fhir')
    """
    return config.data_dir / "outbox.sqlite"


def fhir_dir(config: RoomConfig) -> Path:
    """Where the NDJSON sink writes when no FHIR server is configured: ``data_dir/fhir``."""
    return config.data_dir / "fhir"


@asynccontextmanager
async def open_fhir_sink(config: RoomConfig, *, retry: Retry | None = None) -> AsyncIterator[FhirSink]:
    """The room's FHIR sink: a client of ``[fhir] base_url``, or NDJSON files in ``data_dir/fhir``.

    A server is reached with SMART backend services when ``[fhir] client_id`` is set.

    Args:
        config: The room's configuration.
        retry: The client's retry policy per request (default: the client's own).

    Raises:
        RoomConfigError: ``client_id`` without ``private_key_file`` and ``key_id``, or a
            key file that cannot be read or holds no RSA or EC private key.

    Examples:
        >>> import asyncio, base64, tempfile
        >>> from telemedroom.room import RoomConfig
        >>> config = RoomConfig(room_id="r1", data_dir=tempfile.mkdtemp(),
        ...                     encryption_key=base64.b64encode(bytes(32)).decode())
        >>> async def main():
        ...     async with open_fhir_sink(config) as sink:
        ...         return type(sink).__name__
        >>> asyncio.run(main())
        'FileSink'
    """
    from telemedroom.fhir import FhirClient, FileSink, SmartBackendAuth

    fhir = config.fhir
    if fhir.base_url is None:
        yield FileSink(fhir_dir(config))
        return
    auth = None
    if fhir.client_id is not None:
        key, key_id = _private_key(config)
        auth = SmartBackendAuth(fhir.client_id, key, key_id=key_id, scope=fhir.scopes)
    async with FhirClient(fhir.base_url, auth=auth, retry=retry, profile=fhir.profile()) as client:
        yield client


def _private_key(config: RoomConfig) -> tuple[Any, str]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key_file, key_id = config.fhir.private_key_file, config.fhir.key_id
    if key_file is None or key_id is None:
        missing = "fhir.private_key_file" if key_file is None else "fhir.key_id"
        raise RoomConfigError(missing, "[fhir]", "missing: client_id needs private_key_file and key_id")
    key = _load_private_key(key_file, "fhir.private_key_file")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise RoomConfigError("fhir.private_key_file", str(key_file), "SMART needs an RSA or EC key")
    return key, key_id


def join_token_issuer(config: RoomConfig) -> TokenIssuer | None:
    """The signer of the room's own join tokens, from ``[session]``; ``None`` when not set.

    A room that is not ``embedded`` signs its patient token with the clinic's join-token
    key (``token_signing_key_file``, PKCS#8 PEM Ed25519, and its ``token_key_id``); the
    signaling server verifies it with the public half, as it does the booking service's.

    Raises:
        RoomConfigError: Only one of the two keys is set, or the file cannot be read or
            holds no Ed25519 private key.

    Examples:
        >>> import base64, tempfile
        >>> from telemedroom.room import RoomConfig
        >>> config = RoomConfig(room_id="r1", data_dir=tempfile.mkdtemp(),
        ...                     encryption_key=base64.b64encode(bytes(32)).decode())
        >>> join_token_issuer(config) is None
        True
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from telemedroom.session.tokens import TokenIssuer

    key_file, key_id = config.session.token_signing_key_file, config.session.token_key_id
    if key_file is None and key_id is None:
        return None
    if key_file is None or key_id is None:
        missing = "session.token_signing_key_file" if key_file is None else "session.token_key_id"
        raise RoomConfigError(missing, "[session]", "missing: join tokens need the key file and its key id")
    key = _load_private_key(key_file, "session.token_signing_key_file")
    if not isinstance(key, Ed25519PrivateKey):
        raise RoomConfigError(
            "session.token_signing_key_file", str(key_file), "join tokens need an Ed25519 key"
        )
    return TokenIssuer(key, key_id)


def _load_private_key(key_file: Path, key: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(Path(key_file).read_bytes(), password=None)
    except OSError as exc:
        raise RoomConfigError(key, str(key_file), f"cannot read: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise RoomConfigError(key, str(key_file), f"not an unencrypted PEM private key: {exc}") from exc
