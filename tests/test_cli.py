"""The ``telemedroom`` command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telemedroom.cli import main


def test_demo_runs_a_simulated_room(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's devices are virtual (bumble on an in-memory radio); the room's code is real."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in ("TM Cuff", "TM Oximeter", "TM Thermometer", "TM Scale", "TM Strap", "TM Glucometer"):
        assert f"connected to {name}, battery 90 %" in out
    assert "found TM Glucometer (C0:FF:EE:00:00:06): glucose, rssi -50 dBm" in out
    assert "128/82 mm[Hg], MAP 97.3, pulse 64/min" in out
    assert "1 stored record(s), fetching them" in out
    assert "104 mg/dL #42, fasting" in out  # the glucose context joined by sequence number
    assert "9 readings from 6 devices in" in out
    assert "each exactly what the device measured." in out


def test_demo_in_another_zone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--tz", "America/New_York"]) == 0
    assert "09:15 EST" in capsys.readouterr().out


def test_unknown_zone_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--tz", "Nowhere/Special"]) == 2
    assert "unknown time zone 'Nowhere/Special'" in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_console_script_and_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "telemedroom", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("telemedroom ")
