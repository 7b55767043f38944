"""Shared test configuration: hypothesis profiles and the system-component policy."""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings
from tests import _sockets

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


# -- no test module leaves a UDP socket open (an unclosed aiortc peer connection) --------
@pytest.fixture(scope="module", autouse=True)
def _no_udp_socket_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the module that leaves a UDP socket open, not the later test the GC happens in.

    A leaked aiortc/aioice socket otherwise surfaces as an unclosed-socket
    ``ResourceWarning`` wherever the garbage collector next runs. Reading ``/proc`` takes
    well under a millisecond per module.
    """
    if not _sockets.supported():
        yield
        return
    before = _sockets.open_udp_sockets()
    yield
    left = {inode: address for inode, address in _sockets.open_udp_sockets().items() if inode not in before}
    if left:
        with warnings.catch_warnings():  # collected here, reported once, below
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        pytest.fail(
            f"{request.node.nodeid} left {len(left)} UDP socket(s) open: {sorted(left.values())} "
            "(a peer connection not closed, or closed while it gathered ICE candidates?)",
            pytrace=False,
        )
