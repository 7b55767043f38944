"""Closing or cancelling a peer connection while it gathers ICE candidates leaves no socket open."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection
from tests import _sockets
from tests._system import missing_system_part

from telemedroom.session import _gathering


@pytest.fixture(autouse=True)
def _proc_sockets() -> None:
    """The tests read open sockets from Linux's /proc: skip elsewhere, fail under TELEMEDROOM_REQUIRE_ALL."""
    if not _sockets.supported():
        missing_system_part("open sockets are read from Linux's /proc")


def room_like() -> RTCPeerConnection:
    """Video, two audio lines and a data channel on one bundled transport, as the room offers."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    pc.addTransceiver("video")
    pc.addTransceiver("audio")
    pc.addTransceiver("audio", direction="sendonly")
    pc.createDataChannel("vitals")
    return pc


# aioice opens the host sockets a few loop turns into the gathering: every turn up to
# well past the end is tried, so the close (or cancel) lands before, during and after.
@pytest.mark.parametrize("turns", range(12))
@pytest.mark.parametrize("cancel", [False, True], ids=["close", "cancel-then-close"])
async def test_no_ice_socket_outlives_a_close_during_gathering(turns: int, cancel: bool) -> None:
    before = _sockets.open_udp_sockets()
    pc = room_like()

    async def offer() -> None:
        await _gathering.set_local_description(pc, await pc.createOffer())

    negotiation = asyncio.ensure_future(offer())
    for _ in range(turns):
        await asyncio.sleep(0)
    if cancel:
        negotiation.cancel()
    await _gathering.close(pc)
    # cancelled, or refused by the closed connection, or done before the close
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await negotiation
    assert pc.connectionState == "closed"
    assert _sockets.open_udp_sockets().keys() <= before.keys()


async def test_an_offer_that_ran_to_its_end_is_closed_with_its_sockets() -> None:
    before = _sockets.open_udp_sockets()
    pc = room_like()
    await _gathering.set_local_description(pc, await pc.createOffer())
    assert pc.localDescription is not None
    assert "a=candidate:" in pc.localDescription.sdp
    assert _sockets.open_udp_sockets().keys() > before.keys()  # the host candidates' sockets
    await _gathering.close(pc)
    await _gathering.close(pc)  # twice is fine
    assert _sockets.open_udp_sockets().keys() <= before.keys()


async def test_a_cancelled_close_does_not_break_aiortcs_own_close() -> None:
    """aiortc closes a failed connection itself (a task of ``pc.close()``); a second
    ``close()`` waits on the same future, and a cancel of that wait must not cancel the
    future: aiortc's task would then end in ``InvalidStateError``, reported at exit as
    "Task exception was never retrieved"."""
    pc = room_like()
    await _gathering.set_local_description(pc, await pc.createOffer())
    aiortcs_own = asyncio.ensure_future(pc.close())  # as aiortc does on connectionState "failed"
    await asyncio.sleep(0)  # it has begun
    ours = asyncio.ensure_future(_gathering.close(pc))
    await asyncio.sleep(0)  # ours waits on aiortc's close
    ours.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ours
    await aiortcs_own  # ends cleanly, no InvalidStateError
    assert pc.connectionState == "closed"
