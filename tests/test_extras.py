"""The table of extras and their modules follows pyproject.toml, and the check names every missing one."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from telemedroom._extras import EXTRA_MODULES, missing_extras, require_extras
from telemedroom.errors import MissingExtraError

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def test_every_extra_of_pyproject_has_its_modules_listed() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_MODULES) == set(extras) - {"all", "dev"}
    # `all` is everything but the heavy face mesh (`landmarks`), which only its users install
    assert set(EXTRA_MODULES) - {"landmarks"} == set(extras["all"][0].split("[", 1)[1].rstrip("]").split(","))


def test_missing_extras_are_named_together_in_the_order_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bumble", None)
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    assert missing_extras(["postgres", "ble", "sim"]) == ["postgres", "sim"]
    with pytest.raises(MissingExtraError) as info:
        require_extras("a tool", ["postgres", "ble", "sim"])
    assert info.value.extras == ("postgres", "sim")
    assert info.value.extra == "postgres,sim"
    assert str(info.value) == (
        "a tool needs the 'postgres' and 'sim' extras: pip install 'telemedroom[postgres,sim]'"
    )
    require_extras("a tool", ["ble"])  # installed: no error
