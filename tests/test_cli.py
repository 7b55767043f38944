"""The ``telemedroom`` command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telemedroom.cli import main


def test_demo_round_trips_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for uuid in ("0x2A35", "0x2A36", "0x2A37", "0x2A1C", "0x2A1E", "0x2A5E", "0x2A5F", "0x2A9D", "0x2A18"):
        assert uuid in out
    assert "0x2A34" in out  # the glucose context travels too
    assert "128/82 mm[Hg]" in out
    assert "9 readings decoded back to exactly what was sent." in out


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
