"""The public surface is pinned: the ``__all__`` of every public module, in ``public_surface.json``.

A public module is one whose dotted path has no part starting with ``_``. Renaming,
removing or adding a public name, or a public module, fails this test until
``tests/public_surface.json`` is updated, so every change of the API is a conscious
one, recorded in CHANGELOG.md (removals and renames under "Breaking").
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import telemedroom

PINNED = Path(__file__).with_name("public_surface.json")


def public_modules() -> list[str]:
    """Every public module of telemedroom (``__main__``, which runs the CLI, aside)."""
    found = ["telemedroom"]
    for info in pkgutil.walk_packages(telemedroom.__path__, "telemedroom."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            found.append(info.name)
    return sorted(found)


def surface() -> dict[str, list[str]]:
    """Each public module's ``__all__``, sorted."""
    return {name: sorted(importlib.import_module(name).__all__) for name in public_modules()}


def test_every_public_module_lists_its_names() -> None:
    for name in public_modules():
        assert isinstance(getattr(importlib.import_module(name), "__all__", None), list | tuple), name


def test_the_public_surface_is_the_pinned_one() -> None:
    pinned: dict[str, list[str]] = json.loads(PINNED.read_text("utf-8"))
    current = surface()
    changes = []
    for module in sorted(set(pinned) | set(current)):
        before, now = set(pinned.get(module, [])), set(current.get(module, []))
        if module not in current:
            changes.append(f"{module}: module removed")
        elif module not in pinned:
            changes.append(f"{module}: new public module {sorted(now)}")
        elif before != now:
            changes.append(f"{module}: removed {sorted(before - now)}, added {sorted(now - before)}")
    assert not changes, (
        "the public API changed; if that is meant, update tests/public_surface.json and say so "
        "in CHANGELOG.md:\n" + "\n".join(changes)
    )
