"""Shared test configuration: hypothesis profiles and the system-component policy."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from telemedroom.testing import BumbleBackend

# "dev" keeps the edit-test loop quick; "ci" (set by .ci/run) runs many thousands of
# examples for the fuzz properties so rare byte layouts are reached.
settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
async def radio() -> AsyncIterator[BumbleBackend]:
    """A virtual Bluetooth radio (bumble controllers on an in-memory link): a fake radio only."""
    async with BumbleBackend() as backend:
        yield backend


# -- FHIR servers the record is written to (issue 13) ------------------------------------
from tests._fhir_servers import (  # noqa: E402, F401
    fhir_server,
    medplum,
    medplum_process,
    medplum_set_id_process,
    strict_fake,
    update_create_server,
)
