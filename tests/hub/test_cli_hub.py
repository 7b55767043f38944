"""``telemedroom hub --config hub.toml`` as operations run it: health, readiness, metrics, JSON logs.

The example configuration (``examples/clinic_hub``) is loaded as shipped; the process
under test runs a configuration of the same shape against the test's real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from telemedroom.errors import HubConfigError
from telemedroom.hub import HubConfig

from ._glewlwyd import free_port
from .conftest import Keys, hub_toml

EXAMPLE = Path(__file__).parents[2] / "examples" / "clinic_hub"


def test_the_example_configuration_loads() -> None:
    config = HubConfig.from_toml(EXAMPLE / "hub.toml")
    assert [room.id for room in config.rooms] == ["nord-1", "sued-1"]
    assert config.redirect_uri == "https://hub.clinic.example/auth/callback"
    assert config.rooms[0].public_key_file == EXAMPLE / "rooms" / "nord-1.pub.pem"
    # the health apartment of examples/health_apartment, under the id its apartment.toml gives
    apartment = tomllib.loads((EXAMPLE.parent / "health_apartment" / "apartment.toml").read_text())
    assert [(a.id, a.name) for a in config.apartments] == [(apartment["apartment_id"], apartment["name"])]
    assert config.apartments[0].public_key_file == EXAMPLE / "apartments" / "apartment-2.pub.pem"
    unit = (EXAMPLE / "telemedroom-hub@.service").read_text()
    assert "ExecStart=/opt/telemedroom/bin/telemedroom hub --config /etc/telemedroom/hub.toml" in unit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('public_url = "https://h"\n', "database_url: missing"),
        ('public_url = "ftp://h"\ndatabase_url = "postgresql:///x"\n', "public_url: Value error"),
        ('public_url = "https://h"\ndatabase_url = "postgresql:///x"\n', "oidc: no way to log in"),
        ("public_url = [\n", "not TOML"),
    ],
)
def test_a_bad_configuration_names_its_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "hub.toml"
    file.write_text(text)
    with pytest.raises(HubConfigError) as info:
        HubConfig.from_toml(file)
    assert message in str(info.value)
    result = subprocess.run(
        [sys.executable, "-m", "telemedroom", "hub", "--config", str(file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert message in result.stderr


@pytest.mark.requires_system
def test_the_hub_process_serves_health_readiness_and_metrics(keys: Keys, postgres_dsn: str) -> None:
    port = free_port()
    config = keys.folder / "cli-hub.toml"
    config.write_text(hub_toml(port=port, dsn=postgres_dsn, keys=keys, issuer=None))
    process = subprocess.Popen(
        [sys.executable, "-m", "telemedroom", "hub", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        first = json.loads(process.stderr.readline())  # the process says when it serves
        assert (first["level"], first["logger"], first["message"], first["port"]) == (
            "info",
            "telemedroom.hub",
            "hub serving",
            port,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # uvicorn binds just after the line above: ask until it answers, bounded
            try:
                health = httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the hub did not answer"
                time.sleep(0.05)
        assert health.text == "ok"
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checks": {"database": True, "signaling_relay": True}}
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "telemedroom_hub_rooms 2" in metrics.text
        assert "telemedroom_hub_rooms_online 0" in metrics.text
        assert 'telemedroom_hub_room_alerts{room="nord-1"} 1' in metrics.text
        # a forged heartbeat is logged as a JSON line
        httpx.post(f"{base}/api/rooms/nord-1/heartbeats", json={"heartbeats": ["a.b.c"]})
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
        lines = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
        assert any(line["message"].startswith("heartbeat refused: heartbeat from nord-1") for line in lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
