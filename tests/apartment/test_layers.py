"""The apartment is a product beside the room: it imports the libraries below it, never the room."""

from __future__ import annotations

import ast
from pathlib import Path

import telemedroom.apartment

PACKAGE = Path(telemedroom.apartment.__file__).parent
FORBIDDEN = (
    "telemedroom.room",
    "telemedroom._room",
    "telemedroom._kiosk",
    "telemedroom.cli",
    "telemedroom._cli",
)


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_apartment_imports_the_room_or_the_kiosk() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 8
    for module in modules:
        bad = [name for name in imported(module) if name.startswith(FORBIDDEN)]
        assert bad == [], f"{module.name} imports {bad}"
