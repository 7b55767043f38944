"""Run the ``telemedroom`` command in-process and capture what it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
