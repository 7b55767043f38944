"""``telemedroom fhir check``: the clinic's server read and probed; here Medplum's FHIR engine under Node.

The server is Medplum's FHIR router from npm (not written here), over HTTP on loopback.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests._medplum_server import MedplumServer

from telemedroom.cli import ExitCode

KEY = base64.b64encode(bytes(range(32))).decode()


def config(tmp_path: Path, base_url: str, server: str) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(
        f'room_id = "nord-1"\nname = "Nord 1"\ndata_dir = "{tmp_path / "data"}"\nencryption_key = "{KEY}"\n'
        f'devices = []\n[fhir]\nbase_url = "{base_url}"\nserver = "{server}"\n'
    )
    return path


def test_check_finds_medplums_limits_and_names_the_profile(
    telemedroom: Callable[..., Any], tmp_path: Path, medplum: MedplumServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's notes on one line each
    result = telemedroom("fhir", "check", "--config", str(config(tmp_path, medplum.base_url, "medplum")))
    out = result.out.replace("\n", " ")
    assert result.code == ExitCode.OK, result.out
    assert "at most 8 entries (Medplum's limit)" in out
    assert "the room sends conditional updates instead" in out
    assert "server = 'medplum'" in out
    assert "the room's record will land on this server" in out
    assert medplum.all_of("Basic") == []  # the probes wrote nothing


def test_check_fails_when_the_profile_does_not_fit(
    telemedroom: Callable[..., Any], tmp_path: Path, medplum: MedplumServer
) -> None:
    result = telemedroom("fhir", "check", "--config", str(config(tmp_path, medplum.base_url, "generic")))
    assert result.code == ExitCode.CHECK_FAILED
    assert "this server needs server = 'medplum'" in result.out.replace("\n", " ")
    assert "will not land on this server as configured" in result.out.replace("\n", " ")


def test_check_without_a_server_is_a_configuration_error(
    telemedroom: Callable[..., Any], room_toml: Path
) -> None:
    result = telemedroom("fhir", "check", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert "fhir.base_url" in result.err
