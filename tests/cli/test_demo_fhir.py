"""``telemedroom demo --fhir-url``: the record on Medplum's FHIR engine, refused loudly or landed whole.

The server is Medplum's FHIR router from npm under Node (not written here; every written
resource validated against R4), reached over HTTP on loopback. The rest is the demo's:
virtual devices, synthetic cameras, a scripted physician.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests._fhir_servers import ServerUnderTest
from tests._medplum_server import MedplumServer

from telemedroom.cli import ExitCode

KVNR = "http://fhir.de/sid/gkv/kvid-10"
RECORD_TYPES = ("Patient", "Encounter", "Observation", "Device", "Media", "Provenance")


def room_toml(folder: Path, base_url: str, server: str) -> Path:
    """A configuration for the demo's data directory, to use the outbox commands on it."""
    path = folder / "room.toml"
    key = (folder / "demo.key").read_text().strip()
    path.write_text(
        f'room_id = "demo-room"\nname = "demo"\ndata_dir = "{folder}"\nencryption_key = "{key}"\n'
        f'devices = []\n[fhir]\nbase_url = "{base_url}"\nserver = "{server}"\n'
        f'patient_identifier_system = "{KVNR}"\n'
    )
    return path


def assert_the_whole_record_is_there(medplum: MedplumServer) -> None:
    held: dict[str, list[dict[str, Any]]] = {kind: medplum.all_of(kind) for kind in RECORD_TYPES}
    (patient,) = held["Patient"]
    assert patient["identifier"][0]["system"] == KVNR
    (encounter,) = held["Encounter"]
    assert encounter["subject"]["reference"] == f"Patient/{patient['id']}"
    assert len(held["Observation"]) == 9
    assert len(held["Media"]) == 1
    assert len(held["Device"]) == 6  # five devices and the room
    assert len(held["Provenance"]) == 1
    server = ServerUnderTest("medplum", medplum.base_url, None, medplum=medplum)
    assert server.unresolved_references(RECORD_TYPES) == []


def test_a_refused_record_makes_the_demo_fail_in_red_and_requeue_sends_it(
    telemedroom: Callable[..., Any], tmp_path: Path, medplum: MedplumServer
) -> None:
    # "generic": one transaction for the whole visit, which Medplum refuses
    result = telemedroom(
        "demo", "--data-dir", str(tmp_path), "--fhir-url", medplum.base_url, "--fhir-server", "generic"
    )
    assert result.code == ExitCode.CHECK_FAILED
    out = result.out.replace("\n", " ")
    assert "record rejected by the FHIR server (outbox row 1)" in out
    assert "Transaction requires strict isolation but has too many entries" in out
    assert "audit chain verified" not in out  # no success summary after a refusal
    assert "rejected 1 record(s)" in result.err
    assert medplum.all_of("Encounter") == []

    config = room_toml(tmp_path, medplum.base_url, "generic")
    status = telemedroom("outbox", "status", "--config", str(config))
    assert status.code == ExitCode.CHECK_FAILED
    assert "too many entries" in status.out.replace("\n", " ")

    # the cause fixed (the server's profile), the record goes again and lands whole
    config = room_toml(tmp_path, medplum.base_url, "medplum")
    requeued = telemedroom("outbox", "requeue", "--config", str(config))
    assert "requeued rows 1" in requeued.out
    drained = telemedroom("outbox", "drain", "--config", str(config))
    assert drained.code == ExitCode.OK, drained.out + drained.err
    assert_the_whole_record_is_there(medplum)


def test_the_demo_lands_on_medplum_with_its_profile(
    telemedroom: Callable[..., Any], tmp_path: Path, medplum: MedplumServer
) -> None:
    result = telemedroom(
        "demo", "--data-dir", str(tmp_path), "--fhir-url", medplum.base_url, "--fhir-server", "medplum"
    )
    assert result.code == ExitCode.OK, result.out + result.err
    assert f"FHIR: the record is on {medplum.base_url}" in result.out.replace("\n", "")
    assert_the_whole_record_is_there(medplum)
