"""``telemedroom apartment serve``: the gateway and the patient's screen from apartment.toml."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from tests.apartment.conftest import CARE_PLAN, KEY

from telemedroom.cli import ExitCode

TOML = """
apartment_id = "apartment-2"
name = "Gesundheitswohnung 2"
patient = "Patient/heart-failure-4711"
care_plan = "care-plan.toml"
data_dir = "data"
encryption_key = "{key}"

[[devices]]
address = "C0:FF:EE:00:00:04"
kind = "scale"

[screen]
port = {port}
"""


def write(folder: Path, port: int, **replace: str) -> Path:
    (folder / "care-plan.toml").write_text(CARE_PLAN)
    text = TOML.format(key=KEY, port=port)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = folder / "apartment.toml"
    path.write_text(text)
    return path


def test_serve_shows_the_screen_until_ctrl_c(tmp_path: Path, unused_tcp_port: int) -> None:
    """As a ward's technician runs it: a process, the screen over HTTP, stopped with SIGINT."""
    config = write(tmp_path, unused_tcp_port)
    process = subprocess.Popen(
        [sys.executable, "-m", "telemedroom", "apartment", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        screen = next(line for line in lines if line.startswith("screen (patient):"))
        url = screen.split(": ", 1)[1].strip()
        assert url == f"http://127.0.0.1:{unused_tcp_port}/screen/"
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        state = httpx.get(url + "state.json", timeout=10).json()
        assert state["name"] == "Gesundheitswohnung 2"
        assert state["today"] == [{"kind": "body_weight", "due": "10:00", "done": False}]
        assert "ward line: not configured" in "".join(lines)
        assert "clinic hub: not configured" in "".join(lines)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == ExitCode.INTERRUPTED
    assert "Traceback" not in err
    assert (tmp_path / "data" / "logs" / "apartment.log").exists()  # the rotated log file


def test_a_bad_key_is_named_with_its_file(tmp_path: Path) -> None:
    config = write(tmp_path, 0, **{'kind = "scale"': 'kind = "toaster"'})
    result = subprocess.run(
        [sys.executable, "-m", "telemedroom", "apartment", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == ExitCode.CONFIG
    assert f"apartment configuration {config}: devices.0.kind: Input should be" in result.stderr


def test_a_care_plan_with_an_error_names_the_rule(tmp_path: Path) -> None:
    config = write(tmp_path, 0)
    (tmp_path / "care-plan.toml").write_text(CARE_PLAN.replace("above = 250", "abvoe = 250"))
    result = subprocess.run(
        [sys.executable, "-m", "telemedroom", "apartment", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == ExitCode.CONFIG
    assert "rules.3(glucose-high)" in result.stderr
    assert "abvoe" in result.stderr
    assert str(tmp_path / "care-plan.toml") in result.stderr
