"""Run the ``telemedroom`` command in-process and capture what it prints."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from telemedroom.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def telemedroom(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``telemedroom(*args)`` runs the command line as the console script does."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def room_toml(tmp_path: Path) -> Path:
    """A minimal room configuration: the room's id, its data directory, its key; no devices."""
    path = tmp_path / "room.toml"
    path.write_text(
        f'room_id = "nord-1"\nname = "Room Nord 1"\ndata_dir = "{tmp_path / "data"}"\n'
        f'encryption_key = "{KEY}"\ndevices = []\n'
    )
    return path
