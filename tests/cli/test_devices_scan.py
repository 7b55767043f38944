"""``telemedroom devices scan``: virtual devices on bumble (a fake radio), and no adapter at all."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from telemedroom.cli import ExitCode


def test_simulated_scan_lists_every_virtual_device(telemedroom: Callable[..., object]) -> None:
    """The devices are bumble GATT servers on an in-memory radio; the scan is the real DeviceManager's."""
    result = telemedroom("devices", "scan", "--simulate")
    assert result.code == ExitCode.OK, result.err
    rows = {line.split("│")[2].strip(): line for line in result.out.splitlines() if "C0:FF:EE" in line}
    assert set(rows) == {"TM Cuff", "TM Oximeter", "TM Thermometer", "TM Scale", "TM Strap", "TM Glucometer"}
    assert "C0:FF:EE:00:00:06" in rows["TM Glucometer"]
    assert "glucose" in rows["TM Glucometer"]
    assert "health_thermometer" in rows["TM Thermometer"]
    assert all("-50 dBm" in row and "standard" in row for row in rows.values())
    assert "6 device(s), 6 with a health service" in result.out


def test_a_real_scan_without_an_adapter_says_what_to_do(
    telemedroom: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bleak on Linux talks to BlueZ over the system D-Bus; point it at a socket that is not there."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/telemedroom-test-bus")
    result = telemedroom("devices", "scan", "--timeout", "1")
    assert result.code == ExitCode.FAILED == 5
    assert (
        "telemedroom: error: connection to device default adapter failed: cannot start scanning" in result.err
    )
    assert "--simulate" in result.err
    assert "Traceback" not in result.err


def test_a_timeout_below_the_minimum_is_a_usage_error(telemedroom: Callable[..., object]) -> None:
    result = telemedroom("devices", "scan", "--timeout", "0")
    assert result.code == ExitCode.USAGE
    assert "--timeout" in result.err


def test_a_missing_extra_names_the_pip_command(
    telemedroom: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bleak made unimportable, as on a bare ``pip install telemedroom``."""
    monkeypatch.setitem(sys.modules, "bleak", None)
    result = telemedroom("devices", "scan", "--timeout", "1")
    assert result.code == ExitCode.MISSING_EXTRA == 4
    assert "pip install 'telemedroom[ble]'" in result.err
