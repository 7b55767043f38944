"""The ``telemedroom`` command itself: entry points, help, usage errors, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from telemedroom import errors
from telemedroom._cli._exit import EXIT_CODES, exit_code_for
from telemedroom._version import __version__
from telemedroom.cli import ExitCode, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"telemedroom {__version__}\n"


def test_no_command_prints_help_and_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.USAGE
    captured = capsys.readouterr()
    help_text = captured.out + captured.err
    for command in ("demo", "serve", "devices", "outbox", "audit", "slots"):
        assert command in help_text


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == ExitCode.USAGE
    assert "No such command 'frobnicate'" in capsys.readouterr().err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "scan", "--help"]) == ExitCode.OK
    assert "--simulate" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.AuditIntegrityError(3, "altered"), ExitCode.CHECK_FAILED),
        (errors.MissingExtraError("ble", "devices scan"), ExitCode.MISSING_EXTRA),
        (errors.DeviceConnectionError("C0:FF:EE:00:00:01", "gone"), ExitCode.FAILED),
        (errors.OutboxKeyError("outbox.sqlite", "another key"), ExitCode.FAILED),
    ],
)
def test_errors_map_to_their_branchs_exit_code(error: Exception, code: ExitCode) -> None:
    assert exit_code_for(error) == code


def test_every_exit_code_in_the_table_is_documented() -> None:
    documented = (main.__module__ and sys.modules[main.__module__].__doc__) or ""
    for code in {*EXIT_CODES.values(), *ExitCode}:
        assert f"{code.value} " in documented


def test_console_script_and_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "telemedroom", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"telemedroom {__version__}\n"


def test_every_error_of_the_tree_has_an_exit_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    for cls in (c for c in classes if isinstance(c, type) and issubclass(c, errors.TelemedroomError)):
        expected = {
            errors.RoomConfigError: ExitCode.CONFIG,
            errors.MissingExtraError: ExitCode.MISSING_EXTRA,
            errors.AuditIntegrityError: ExitCode.CHECK_FAILED,
            errors.RecordRejectedError: ExitCode.CHECK_FAILED,
            errors.BookingConfigError: ExitCode.CONFIG,
            errors.ApartmentConfigError: ExitCode.CONFIG,
            errors.CarePlanError: ExitCode.CONFIG,
            errors.HubConfigError: ExitCode.CONFIG,
        }.get(cls, ExitCode.FAILED)
        assert exit_code_for(cls.__new__(cls)) == expected, cls


def _command_paths() -> list[list[str]]:
    """Every command and subcommand of the CLI, as the words that name it."""
    import typer

    from telemedroom.cli import app

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


def test_every_help_screen_shows_flags_as_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--serve`` is a flag: no ``<bool>`` after it; options that take a value keep their type."""
    monkeypatch.setenv("COLUMNS", "160")
    paths = _command_paths()
    assert ["demo"] in paths
    assert ["outbox", "drain"] in paths
    screens = {}
    for path in paths:
        assert main([*path, "--help"]) == ExitCode.OK
        screens[" ".join(path)] = capsys.readouterr().out
    for name, text in screens.items():
        assert "<bool>" not in text, f"telemedroom {name} --help:\n{text}"
        assert "--help " in text
    assert re.search(r"--serve +Keep the room running", screens["demo"])
    assert re.search(r"--data-dir +<dir> +Keep the room's data", screens["demo"])
    assert re.search(r"--version +Print the version", screens[""])
    assert re.search(r"--timeout +<float range>", screens["devices scan"])
