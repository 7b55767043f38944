"""Where the apartment's outbox drains to: the clinic's FHIR server, or NDJSON files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemedroom.errors import ApartmentConfigError

if TYPE_CHECKING:
    from telemedroom.apartment._config import ApartmentConfig
    from telemedroom.fhir import FhirSink

__all__ = ["open_fhir_sink"]


@asynccontextmanager
async def open_fhir_sink(config: ApartmentConfig) -> AsyncIterator[FhirSink]:
    """A client of ``[fhir] base_url`` (SMART with ``client_id``), or NDJSON files in ``data_dir/fhir``.

    Raises:
        ApartmentConfigError: ``client_id`` without ``private_key_file`` and ``key_id``, or
            a key file that cannot be read or holds no RSA or EC private key.

    Examples:
        >>> import asyncio, base64, tempfile
        >>> from telemedroom.apartment import ApartmentConfig
        >>> config = ApartmentConfig(apartment_id="a1", patient="Patient/p1", care_plan="p.toml",
        ...     data_dir=tempfile.mkdtemp(), encryption_key=base64.b64encode(bytes(32)).decode())
        >>> async def main():
        ...     async with open_fhir_sink(config) as sink:
        ...         return type(sink).__name__
        >>> asyncio.run(main())
        'FileSink'
    """
    from telemedroom.fhir import FhirClient, FileSink, SmartBackendAuth

    fhir = config.fhir
    if fhir.base_url is None:
        yield FileSink(config.data_dir / "fhir")
        return
    auth = None
    if fhir.client_id is not None:
        if fhir.private_key_file is None or fhir.key_id is None:
            missing = "fhir.private_key_file" if fhir.private_key_file is None else "fhir.key_id"
            raise ApartmentConfigError(
                missing, "[fhir]", "missing: client_id needs private_key_file and key_id"
            )
        key = load_private_key(fhir.private_key_file, "fhir.private_key_file")
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ApartmentConfigError(
                "fhir.private_key_file", str(fhir.private_key_file), "SMART needs an RSA or EC key"
            )
        auth = SmartBackendAuth(fhir.client_id, key, key_id=fhir.key_id, scope=fhir.scopes)
    async with FhirClient(fhir.base_url, auth=auth) as client:
        yield client


def load_private_key(key_file: Path, key: str) -> Any:
    """An unencrypted PEM private key from ``key_file``; errors name the configuration ``key``."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(Path(key_file).read_bytes(), password=None)
    except OSError as exc:
        raise ApartmentConfigError(key, str(key_file), f"cannot read: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise ApartmentConfigError(key, str(key_file), f"not an unencrypted PEM private key: {exc}") from exc
