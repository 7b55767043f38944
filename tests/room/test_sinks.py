"""The room's FHIR sink, one helper for the room and ``telemedroom outbox``: NDJSON files or SMART."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from tests.room.conftest import make_config

from telemedroom._room._sinks import fhir_dir, open_fhir_sink, outbox_path
from telemedroom.errors import RoomConfigError
from telemedroom.fhir import FhirClient, FileSink, Retry, SmartBackendAuth
from telemedroom.room import FhirSettings, Room


def pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def smart(data_dir: Path, key_file: Path | None, key_id: str | None = "k1") -> Any:
    fhir = FhirSettings(
        base_url="https://fhir.example/r4", client_id="room-1", private_key_file=key_file, key_id=key_id
    )
    return make_config(data_dir, [], fhir=fhir)


async def test_without_a_server_the_sink_is_ndjson_files_in_data_dir(data_dir: Path) -> None:
    config = make_config(data_dir, [])
    async with open_fhir_sink(config) as sink:
        assert isinstance(sink, FileSink)
    assert outbox_path(config) == data_dir / "outbox.sqlite"
    assert fhir_dir(config) == data_dir / "fhir"


async def test_a_server_with_smart_backend_services(data_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "smart.pem"
    key_file.write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    async with open_fhir_sink(smart(data_dir, key_file), retry=Retry(attempts=1)) as sink:
        assert isinstance(sink, FhirClient)
        assert sink.retry.attempts == 1
        assert isinstance(sink.auth, SmartBackendAuth)
        assert sink.auth.client_id == "room-1"


@pytest.mark.parametrize(
    ("key_file", "key_id", "says"),
    [
        (None, "k1", "fhir.private_key_file: missing"),
        ("smart.pem", None, "fhir.key_id: missing"),
        ("absent.pem", "k1", "fhir.private_key_file: cannot read"),
        ("not-pem.pem", "k1", "fhir.private_key_file: not an unencrypted PEM private key"),
        ("ed25519.pem", "k1", "fhir.private_key_file: SMART needs an RSA or EC key"),
    ],
)
async def test_a_smart_key_that_cannot_be_used_names_the_key(
    data_dir: Path, tmp_path: Path, key_file: str | None, key_id: str | None, says: str
) -> None:
    (tmp_path / "smart.pem").write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    (tmp_path / "not-pem.pem").write_bytes(b"-----BEGIN NOTHING-----\n")
    (tmp_path / "ed25519.pem").write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    config = smart(data_dir, tmp_path / key_file if key_file else None, key_id)
    with pytest.raises(RoomConfigError, match=says):
        async with open_fhir_sink(config):
            pass
    with pytest.raises(RoomConfigError, match=says):  # the room opens its sink with the same helper
        async with Room(config):
            pass
