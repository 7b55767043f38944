"""A call through a real coturn on loopback, with relay candidates only.

coturn runs with the TURN REST API shared-secret scheme; the signaling server makes the
time-limited credentials (TurnConfig), both peers take them from their welcome and use
``iceTransportPolicy: relay``, so the media can only flow through the TURN server.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests._system import require_system

from telemedroom import HeartRate
from telemedroom.errors import PeerError
from telemedroom.session import turn_credentials
from telemedroom.session.peer import PhysicianPeer, RoomPeer
from telemedroom.session.signaling import TurnConfig

from .conftest import Signaling

pytestmark = pytest.mark.requires_system

Servers = Callable[..., AbstractAsyncContextManager[Signaling]]


@dataclass
class Coturn:
    url: str
    secret: str
    log: list[str]
    grew: asyncio.Condition

    async def wait_for_log(self, text: str, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout), self.grew:
            await self.grew.wait_for(lambda: any(text in line for line in self.log))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    """coturn on 127.0.0.1, random ports, shared-secret auth; ready once its UDP listener is open."""
    turnserver = require_system("turnserver")
    port = free_udp_port()
    low = random.randrange(50_000, 64_000, 100)
    secret = os.urandom(16).hex()
    state = tmp_path / "coturn"
    state.mkdir()
    command = [
        turnserver,
        "-n",  # no configuration file
        f"--listening-port={port}",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--min-port={low}",
        f"--max-port={low + 99}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        "--realm=telemedroom.test",
        "--allow-loopback-peers",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--no-tcp-relay",
        "--fingerprint",
        f"--pidfile={state / 'turnserver.pid'}",
        f"--userdb={state / 'turndb'}",
        "--log-file=stdout",
        "--simple-log",
        "--verbose",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    log: list[str] = []
    grew = asyncio.Condition()
    reader = asyncio.create_task(_keep_reading(process.stdout, log, grew))
    try:
        await _stun_answers(port, process)
        yield Coturn(f"turn:127.0.0.1:{port}?transport=udp", secret, log, grew)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        await reader  # coturn's output ends with it


async def _stun_answers(port: int, process: asyncio.subprocess.Process) -> None:
    """Wait until coturn answers a STUN Binding request (RFC 5389 §6), retransmitting as STUN does."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not answered.done():
                answered.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Probe, remote_addr=("127.0.0.1", port))
    request = bytes.fromhex("0001 0000 2112a442") + os.urandom(12)
    try:
        async with asyncio.timeout(15):
            while not answered.done():
                if process.returncode is not None:
                    raise RuntimeError("coturn exited")
                transport.sendto(request)
                await asyncio.wait({answered}, timeout=0.1)  # RFC 5389 §7.2.1 retransmission
        assert answered.result()[:2] == bytes.fromhex("0101")  # Binding success response
    finally:
        transport.close()


async def _keep_reading(stream: asyncio.StreamReader, log: list[str], grew: asyncio.Condition) -> None:
    while line := await stream.readline():
        async with grew:
            log.append(line.decode(errors="replace"))
            grew.notify_all()


async def test_a_call_succeeds_with_relay_candidates_only(coturn: Coturn, signaling_factory: Servers) -> None:
    turn = TurnConfig(urls=[coturn.url], secret=coturn.secret, ttl=600)
    async with (
        signaling_factory(turn=turn) as signaling,
        PhysicianPeer(
            signaling.url(), signaling.token("physician"), auto_admit=True, relay_only=True
        ) as doctor,
        RoomPeer(signaling.url(), signaling.token("patient"), relay_only=True) as room,
    ):
        assert [s.urls for s in room.welcome.ice_servers] == [[coturn.url]]
        await room.wait_connected(timeout=30)
        await room.send_measurement(HeartRate(bpm=64))
        async with asyncio.timeout(20):
            reading = await anext(doctor.measurements())
        assert reading == HeartRate(bpm=64)
        frame = await doctor.first_video_frame(timeout=20)
        assert frame.width == 640
        for peer in (room, doctor):
            assert peer.pc is not None
            sdp = peer.pc.localDescription.sdp  # type: ignore[union-attr]
            types = {line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if " typ " in line}
            assert types == {"relay"}, sdp
    await coturn.wait_for_log("ALLOCATE processed, success")
    assert "ERROR" not in "".join(coturn.log)


async def test_a_wrong_shared_secret_gets_no_relay(coturn: Coturn, signaling_factory: Servers) -> None:
    forged = turn_credentials([coturn.url], secret="not-the-secret", user="mallory", ttl=600)
    async with signaling_factory() as signaling:
        room = RoomPeer(signaling.url(), signaling.token("patient"), ice_servers=[forged], relay_only=True)
        async with (
            PhysicianPeer(
                signaling.url(),
                signaling.token("physician"),
                auto_admit=True,
                ice_servers=[forged],
                relay_only=True,
            ),
            room,
        ):
            with pytest.raises(PeerError, match="not connected"):
                await room.wait_connected(timeout=5)
    await coturn.wait_for_log(":mallory>: incoming packet message processed, error 401")


async def test_the_browser_console_reaches_the_room_through_the_relay_only(
    coturn: Coturn, signaling_factory: Servers, tmp_path: Path
) -> None:
    """Chromium with ``iceTransportPolicy: relay`` (``#...&relay=1``) and a relay-only RoomPeer."""
    chromium = require_system("chromium")
    from playwright.async_api import async_playwright

    from .conftest import CHROMIUM_FLAGS, until

    turn = TurnConfig(urls=[coturn.url], secret=coturn.secret, ttl=600)
    async with (
        signaling_factory(turn=turn) as signaling,
        async_playwright() as playwright,
    ):
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            link = f"{signaling.server.http_url}/console/#token={signaling.token('physician')}&relay=1"
            await page.goto(link)
            await until(page, "document.getElementById('status').textContent.startsWith('joined')")
            async with RoomPeer(signaling.url(), signaling.token("patient"), relay_only=True) as room:
                await page.locator("button.admit").first.click(timeout=10_000)
                await room.wait_connected(timeout=30)
                await until(page, "document.getElementById('remote').videoWidth > 0", timeout=30)
                assert room.pc is not None
                answer = room.pc.remoteDescription.sdp  # type: ignore[union-attr]
                types = {line.split(" typ ")[1].split()[0] for line in answer.splitlines() if " typ " in line}
                assert types == {"relay"}, answer
        finally:
            await context.close()
