"""The one policy for tests that need a system part (PostgreSQL, Chromium, Firefox, coturn).

Without the part a test skips, so a developer's machine runs what it can; with
``TELEMEDROOM_REQUIRE_ALL`` set (``.ci/run`` sets it) the same test fails instead, so CI
can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def missing_system_part(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it when ``TELEMEDROOM_REQUIRE_ALL`` is set."""
    if os.environ.get("TELEMEDROOM_REQUIRE_ALL"):
        pytest.fail(f"{reason} (TELEMEDROOM_REQUIRE_ALL is set)")
    pytest.skip(reason)


def require_system(binary: str) -> str:
    """The path of a system program, or skip/fail as :func:`missing_system_part` says."""
    path = shutil.which(binary)
    if path is None:
        missing_system_part(f"{binary} is not installed (apt-get install {binary})")
    return path
