"""RoomConfig: a TOML file, environment variables over it, errors naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.room.conftest import KEY

from telemedroom import RoomConfigError
from telemedroom.room import RoomConfig

TOML = f"""
room_id = "nord-1"
name = "Gesundheitsraum Quartier Nord"
timezone = "Europe/Berlin"
language = "de"
devices = ["blood_pressure", "pulse_oximeter", "scale"]
data_dir = "/var/lib/telemedroom"
encryption_key = "{KEY}"
measurement_attempts = 2

[media]
room_camera = "v4l2:/dev/video0"
exam_camera = "file:/srv/exam.mp4"

[fhir]
base_url = "https://fhir.klinikum.example/r4"
client_id = "room-nord-1"
key_id = "k1"

[schedule]
store = "postgresql://room@db.example/schedule"

[session]
signaling_url = "wss://session.klinikum.example"
ice_servers = [{{ urls = ["turns:turn.klinikum.example:443"], username = "room", credential = "s3cret" }}]

[kiosk]
port = 8443
"""


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "room.toml"
    path.write_text(TOML)
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TELEMEDROOM_"):
            monkeypatch.delenv(name)


def test_a_toml_file_gives_every_table(toml: Path) -> None:
    config = RoomConfig.from_toml(toml)
    assert config.room_id == "nord-1"
    assert config.devices == ["blood_pressure", "pulse_oximeter", "scale"]
    assert config.measurement_attempts == 2
    assert config.media.room_camera == "v4l2:/dev/video0"
    assert config.fhir.base_url == "https://fhir.klinikum.example/r4"
    assert config.schedule_url == "postgresql://room@db.example/schedule"
    (ice,) = config.session.ice_servers
    assert ice.credential is not None
    assert ice.credential.get_secret_value() == "s3cret"
    assert config.kiosk.port == 8443
    assert config.kiosk.host == "127.0.0.1"  # loopback unless said otherwise
    assert len(config.key) == 32


def test_environment_variables_override_the_file(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMEDROOM_ROOM_ID", "sued-2")
    monkeypatch.setenv("TELEMEDROOM_FHIR__BASE_URL", "https://fhir.other.example/r4")
    monkeypatch.setenv("TELEMEDROOM_MEASUREMENT_ATTEMPTS", "5")
    config = RoomConfig.from_toml(toml)
    assert (config.room_id, config.measurement_attempts) == ("sued-2", 5)
    assert config.fhir.base_url == "https://fhir.other.example/r4"
    assert config.fhir.client_id == "room-nord-1"  # the rest of the table still from the file


def test_secrets_are_never_printed(toml: Path) -> None:
    config = RoomConfig.from_toml(toml)
    text = repr(config) + str(config) + config.model_dump_json()
    assert KEY not in text
    assert "s3cret" not in text


def test_a_missing_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "room.toml"
    path.write_text('room_id = "nord-1"\ndata_dir = "/var/lib/telemedroom"\n')
    with pytest.raises(RoomConfigError) as info:
        RoomConfig.from_toml(path)
    assert (info.value.key, info.value.source, info.value.reason) == ("encryption_key", str(path), "missing")
    assert "encryption_key" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        ('timezone = "Mars/Olympus"', "timezone", "IANA"),
        ('devices = ["blood_pressure", "xray"]', "devices.1", "blood_pressure"),
        ('encryption_key = "c2hvcnQ="', "encryption_key", "32 bytes"),
        ("measurement_attempts = 0", "measurement_attempts", "greater than or equal to 1"),
        ('[media]\nroom_camera = "webcam"', "media.room_camera", "v4l2"),
        ('[schedule]\nstore = "mysql://x"', "schedule.store", "postgresql"),
        ('[fhir]\nbase_ur = "https://typo.example"', "fhir.base_ur", "Extra inputs"),
    ],
)
def test_an_invalid_key_names_the_key_the_file_and_what_is_wrong(
    tmp_path: Path, line: str, key: str, words: str
) -> None:
    path = tmp_path / "room.toml"
    base = f'room_id = "r"\ndata_dir = "/d"\nencryption_key = "{KEY}"\n'
    if line.startswith("encryption_key"):
        base = base.replace(f'encryption_key = "{KEY}"\n', "")
    path.write_text(base + line + "\n")
    with pytest.raises(RoomConfigError) as info:
        RoomConfig.from_toml(path)
    assert info.value.key == key
    assert info.value.source == str(path)
    assert words in info.value.reason
    assert info.value.__cause__ is not None


def test_a_bad_value_from_the_environment_says_which_variable(
    toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEMEDROOM_DEVICE_TIMEOUT_S", "soon")
    with pytest.raises(RoomConfigError) as info:
        RoomConfig.from_toml(toml)
    assert info.value.key == "device_timeout_s"
    assert "TELEMEDROOM_DEVICE_TIMEOUT_S" in info.value.source


def test_an_unreadable_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(RoomConfigError, match="cannot read") as info:
        RoomConfig.from_toml(tmp_path / "nowhere.toml")
    assert info.value.key is None
    broken = tmp_path / "broken.toml"
    broken.write_text("room_id = \n")
    with pytest.raises(RoomConfigError, match="not valid TOML"):
        RoomConfig.from_toml(broken)


def test_the_demo_configuration_keeps_its_key_across_runs(tmp_path: Path) -> None:
    first = RoomConfig.demo(tmp_path)
    second = RoomConfig.demo(tmp_path)
    assert first.key == second.key
    assert (tmp_path / "demo.key").stat().st_mode & 0o777 == 0o600
    assert first.session.embedded
    assert first.fhir.base_url is None  # NDJSON in data_dir/fhir
    assert first.schedule_url.startswith("sqlite:///")
