"""Which optional extra brings which import, and one check for everything a command needs.

A command that needs several extras checks them all before it starts, so a person with
a core-only install reads one message naming every missing extra instead of installing
them one error at a time. The table follows ``[project.optional-dependencies]`` in
``pyproject.toml``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Final

from telemedroom.errors import MissingExtraError

__all__ = ["EXTRA_MODULES", "missing_extras", "require_extras"]

# extra -> the top-level modules it installs (pyproject.toml [project.optional-dependencies])
EXTRA_MODULES: Final[Mapping[str, tuple[str, ...]]] = {
    "ble": ("bleak",),
    "video": ("aiortc", "websockets"),
    "server": ("starlette", "uvicorn"),
    "postgres": ("asyncpg",),
    "sim": ("bumble",),
    "browser": ("playwright.async_api",),
    "booking": ("starlette", "uvicorn", "jinja2", "segno"),
    "hub": ("starlette", "uvicorn", "asyncpg", "argon2", "python_multipart"),
    # not in `all`: MediaPipe's face mesh is heavy (see pyproject.toml)
    "landmarks": ("mediapipe",),
}


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def missing_extras(extras: Sequence[str]) -> list[str]:
    """The extras of ``extras`` whose modules cannot be imported, in the order given.

    Examples:
        >>> missing_extras([])
        []
    """
    return [extra for extra in extras if not all(_importable(m) for m in EXTRA_MODULES[extra])]


def require_extras(feature: str, extras: Sequence[str], *, install: str | None = None) -> None:
    """Raise one :class:`MissingExtraError` naming every extra of ``extras`` that is missing.

    Args:
        feature: What needs them, e.g. ``"telemedroom demo"``.
        extras: Names from :data:`EXTRA_MODULES`.
        install: The extra to tell the person to install instead of the missing ones
            (``"all"`` for the demo).

    Examples:
        >>> require_extras("a command that needs nothing optional", [])
    """
    missing = missing_extras(extras)
    if missing:
        raise MissingExtraError(missing, feature, install=install)
