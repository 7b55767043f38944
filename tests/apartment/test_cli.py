"""``telemedroom apartment serve``: the gateway and the patient's screen from apartment.toml."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.apartment.conftest import CARE_PLAN, KEY, PATIENT, SCALE

from telemedroom._cli._apartment import event_line
from telemedroom.apartment import (
    AlertChanged,
    ApartmentEvent,
    CallChanged,
    DeviceChanged,
    NoteAdded,
    ReadingAccepted,
    RecordRefused,
)
from telemedroom.cli import ExitCode
from telemedroom.monitoring import Alert

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
        # then a line per event, beginning with the state of the ward's line
        assert process.stdout.readline().split()[1:] == ["call", "unavailable"]
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


AT = datetime(2026, 12, 3, 6, 30, tzinfo=UTC)  # 07:30 in Berlin


def alert(rule_type: str, message: str, severity: str = "high") -> Alert:
    return Alert.model_validate(
        {
            "id": "a1",
            "patient": PATIENT,
            "rule_id": "weight-gain" if rule_type != "device" else "battery-low",
            "rule_type": rule_type,
            "condition": "body_weight" if rule_type != "device" else SCALE,
            "severity": severity,
            "message": message,
            "raised_at": AT,
        }
    )


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            ReadingAccepted(at=AT, kind="body_weight", device=SCALE),
            f"07:30:00 reading  body weight taken from {SCALE}",
        ),
        (
            AlertChanged(
                at=AT, change="raised", alert=alert("trend", "body weight rose by 2.4 kg within 3 days")
            ),
            "07:30:00 alert    raised weight-gain (high)",
        ),
        (
            AlertChanged(at=AT, change="raised", alert=alert("device", "Waage: battery at 12 %", "low")),
            "07:30:00 alert    raised battery-low (low): Waage: battery at 12 %",
        ),
        (
            DeviceChanged(at=AT, address=SCALE, status="done", battery=80),
            f"07:30:00 device   {SCALE} done, battery 80 %",
        ),
        (
            NoteAdded(at=AT, text="Ihr Gewicht ist gestiegen: 83,4 kg", by="Schwester Anna"),
            "07:30:00 ward     a message from Schwester Anna is on the patient's screen",
        ),
        (
            CallChanged(at=AT, state="in_call", participants=("Dr. Weber", "Pfleger Tom")),
            "07:30:00 call     in_call, with Dr. Weber, Pfleger Tom",
        ),
        (
            RecordRefused(at=AT, outbox_row=4, status=422, reason="422: invalid code"),
            "07:30:00 record   outbox row 4 refused by the clinic's FHIR server: 422: invalid code",
        ),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else "",
)
def test_the_terminal_gets_a_line_per_event_without_health_data(event: ApartmentEvent, line: str) -> None:
    """A care-plan alert's sentence and the ward's note hold the patient's values: not printed."""
    assert str(event_line(event, ZoneInfo("Europe/Berlin"))) == line
