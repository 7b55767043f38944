"""The consultation on loopback: time to first video, vitals to the console, a busy waiting room.

1. Join -> first remote video frame. telemedroom: from the room's ``RoomPeer`` starting
   to join (the physician's ``PhysicianPeer`` is already in, with auto-admit) until the
   physician decodes the first frame of the room camera, once with the room opening its
   camera and microphone as it joins and once with them opened before (``prepare()``,
   as a room does when it boots): signaling join, admission,
   offer/answer through the server, ICE, DTLS, SRTP, VP8. Baseline, same run: two bare
   aiortc ``RTCPeerConnection`` objects in one process exchanging offer/answer directly,
   the same synthetic 640x360 camera track, until the first decoded frame.
2. Virtual-cuff indication -> value visible in the physician console (real headless
   Chromium): from the cuff handing its Blood Pressure Measurement indication to its GATT
   server until the console has inserted the reading into the DOM (its ``Date.now()``).
   Target p99 < 100 ms. Skipped (and said so) without Debian's ``chromium``.
3. One signaling process (uvicorn, a child process) holding 200 joined waiting-room
   WebSocket connections: its resident memory, and ping -> pong round trip p50/p99 with
   all 200 pinging. Baseline, same run: a bare ``websockets`` echo server (child
   process) with 200 connections, same pings.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_session.py [--quick]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from websockets.asyncio.client import connect

from telemedroom import BloodPressure
from telemedroom._chromium import CHROMIUM_FLAGS, until
from telemedroom.devices import DeviceManager
from telemedroom.devices.media import TestPatternTrack
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.peer import PhysicianPeer, RoomPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

ROOM, APPOINTMENT = "bench-room", "bench-apt"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def token(issuer: TokenIssuer, role: str, subject: str) -> str:
    now = datetime.now(UTC)
    return issuer.issue(
        room=ROOM,
        appointment=APPOINTMENT,
        role=role,  # type: ignore[arg-type]
        subject=subject,
        name=subject,
        not_before=now - timedelta(minutes=1),
        expires_at=now + timedelta(hours=1),
    )


# -- 1. join -> first remote video frame ---------------------------------------------


async def first_frame_telemedroom(url: str, issuer: TokenIssuer, n: int, *, prepared: bool) -> float:
    """``prepared``: the room opened its camera and microphone before the timer (``RoomPeer.prepare``)."""
    async with PhysicianPeer(url, token(issuer, "physician", f"dr-{n}"), auto_admit=True) as doctor:
        room = RoomPeer(url, token(issuer, "patient", f"room-{n}"))
        try:
            if prepared:
                await room.prepare()
            start = time.perf_counter()
            async with room:
                frame = await doctor.first_video_frame(timeout=30)
                elapsed = time.perf_counter() - start
        finally:
            await room.aclose()
    assert (frame.width, frame.height) == (640, 360)
    return elapsed


async def first_frame_bare() -> float:
    start = time.perf_counter()
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    source = TestPatternTrack(640, 360)
    sender.addTrack(source)
    arrived: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @receiver.on("track")
    def _track(track: Any) -> None:
        if not arrived.done():
            arrived.set_result(track)

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        track = await asyncio.wait_for(arrived, 30)
        frame = await asyncio.wait_for(track.recv(), 30)
        elapsed = time.perf_counter() - start
    finally:
        await sender.close()
        await receiver.close()
        source.stop()
    assert (frame.width, frame.height) == (640, 360)
    return elapsed


async def bench_first_frame(repeats: int) -> dict[str, float]:
    issuer = TokenIssuer.generate("bench")
    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    ours, prepared, bare = [], [], []
    async with LocalServer(app) as server:
        url = f"{server.ws_url}/ws/{ROOM}/{APPOINTMENT}"
        await first_frame_telemedroom(url, issuer, -1, prepared=False)  # warm-up: imports, codecs
        await first_frame_bare()
        for n in range(repeats):  # interleaved, so drift hits all three alike
            ours.append(await first_frame_telemedroom(url, issuer, n, prepared=False))
            prepared.append(await first_frame_telemedroom(url, issuer, repeats + n, prepared=True))
            bare.append(await first_frame_bare())
    return {
        "first_frame_ms": statistics.median(ours) * 1000,
        "first_frame_prepared_ms": statistics.median(prepared) * 1000,
        "first_frame_bare_ms": statistics.median(bare) * 1000,
    }


# -- 2. cuff indication -> console DOM -------------------------------------------------


# The console's Content-Security-Policy forbids eval (Playwright's wait_for_function);
# `until` checks on animation frames instead. The time of the check does not enter the
# latency: the console stamps each reading when it inserts it (data-shown-at).
WAIT = 30.0


async def bench_console(readings: int) -> dict[str, float] | None:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("case 2 skipped: Debian's chromium is not installed", file=sys.stderr)
        return None
    from playwright.async_api import async_playwright

    issuer = TokenIssuer.generate("bench")
    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as profile:
        async with (
            LocalServer(app) as server,
            BumbleBackend() as radio,
            async_playwright() as playwright,
        ):
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS)
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(f"{server.http_url}/console/#token={token(issuer, 'physician', 'dr')}")
                await until(page, "document.getElementById('status').textContent.startsWith('joined')", WAIT)
                cuff = await radio.add(VirtualBloodPressureCuff())
                url = f"{server.ws_url}/ws/{ROOM}/{APPOINTMENT}"
                async with RoomPeer(url, token(issuer, "patient", "room")) as room:
                    await page.locator("button.admit").first.click(timeout=10_000)
                    await room.wait_connected(timeout=30)
                    await until(page, "document.getElementById('snapshot').disabled === false", WAIT)
                    async with (
                        DeviceManager(backend=radio) as manager,
                        await manager.connect(cuff.address) as link,
                    ):
                        forwarding = asyncio.create_task(room.forward(link.measurements()))
                        for n in range(readings):
                            reading = BloodPressure(systolic=100 + n % 60, diastolic=70, mean_arterial=80)
                            sent_at = time.time()
                            assert await cuff.send(reading)
                            shown = await until(
                                page,
                                f"document.querySelectorAll('#vitals-list li.vital').length >= {n + 1}"
                                " && document.querySelector('#vitals-list li.vital').dataset.shownAt",
                                WAIT,
                            )
                            samples.append(int(shown) / 1000 - sent_at)
                        forwarding.cancel()
            finally:
                await context.close()
    return {
        "dom_p50_ms": statistics.median(samples) * 1000,
        "dom_p99_ms": percentile(samples, 0.99) * 1000,
        "dom_readings": float(len(samples)),
    }


# -- 3. 200 waiting-room connections ---------------------------------------------------


def child_signaling(public_hex: str) -> None:
    """Child process: the signaling app under uvicorn on a free port (printed on stdout)."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
    config = SignalingConfig(verifier=TokenVerifier({"bench": key}), heartbeat=60, rate=100, burst=100)

    async def serve() -> None:
        async with LocalServer(create_app(config)) as server:
            print(server.port, flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())


def child_echo() -> None:
    """Child process: a bare websockets echo server, the baseline."""
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            print(next(iter(server.sockets)).getsockname()[1], flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def hold_connections(kind: str, connections: int, pings: int) -> dict[str, float]:
    private = Ed25519PrivateKey.generate()
    issuer = TokenIssuer(private, "bench")
    public_hex = private.public_key().public_bytes_raw().hex()
    argv = [sys.executable, __file__, "--child", kind, public_hex]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(await asyncio.to_thread(child.stdout.readline))
        idle = rss_kib(child.pid)
        url = (
            f"ws://127.0.0.1:{port}/ws/{ROOM}/{APPOINTMENT}"
            if kind == "signaling"
            else f"ws://127.0.0.1:{port}"
        )
        sockets = []
        for n in range(connections):
            ws = await connect(url, ping_interval=None)
            if kind == "signaling":
                await ws.send(
                    json.dumps({"type": "join", "v": 1, "token": token(issuer, "patient", f"p-{n}")})
                )
                assert json.loads(await ws.recv())["state"] == "waiting"
            sockets.append(ws)
        held = rss_kib(child.pid)

        async def pinger(ws: Any) -> list[float]:
            times = []
            for n in range(pings):
                start = time.perf_counter()
                await ws.send(json.dumps({"type": "ping", "nonce": str(n)}))
                answer = json.loads(await ws.recv())
                times.append(time.perf_counter() - start)
                assert answer["nonce"] == str(n)
            return times

        rtts = [t for times in await asyncio.gather(*(pinger(ws) for ws in sockets)) for t in times]
        for ws in sockets:
            await ws.close()
    finally:
        child.terminate()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    return {
        "idle_kib": float(idle),
        "held_kib": float(held),
        "per_connection_kib": (held - idle) / connections,
        "rtt_p50_ms": statistics.median(rtts) * 1000,
        "rtt_p99_ms": percentile(rtts, 0.99) * 1000,
    }


async def run(repeats: int, readings: int, connections: int, pings: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    result.update(await bench_first_frame(repeats))
    result["console"] = await bench_console(readings)
    result["signaling"] = await hold_connections("signaling", connections, pings)
    result["echo"] = await hold_connections("echo", connections, pings)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="few repeats, to check the script runs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_signaling(args.child[1]) if args.child[0] == "signaling" else child_echo()
        return
    repeats, readings, connections, pings = (2, 10, 20, 3) if args.quick else (15, 300, 200, 20)
    r = asyncio.run(run(repeats, readings, connections, pings))
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| case | telemedroom | baseline (same run) | ratio |")
    print("|---|---:|---:|---:|")
    ours, bare = r["first_frame_ms"], r["first_frame_bare_ms"]
    case = f"join -> first video frame, devices opened at join (median of {repeats})"
    print(f"| {case} | {ours:.0f} ms | {bare:.0f} ms | {ours / bare:.2f}x |")
    ready = r["first_frame_prepared_ms"]
    case = "join -> first video frame, devices opened before (`prepare()`)"
    print(f"| {case} | {ready:.0f} ms | {bare:.0f} ms | {ready / bare:.2f}x |")
    if r["console"] is not None:
        c = r["console"]
        print(f"| cuff indication -> console DOM, p50 ({readings}) | {c['dom_p50_ms']:.1f} ms | - | - |")
        print(f"| cuff indication -> console DOM, p99 | {c['dom_p99_ms']:.1f} ms | - | - |")
    s, e = r["signaling"], r["echo"]
    ratio = s["per_connection_kib"] / max(e["per_connection_kib"], 0.1)
    ours_mem = f"{s['per_connection_kib']:.1f} KiB (RSS {s['held_kib'] / 1024:.1f} MiB)"
    base_mem = f"{e['per_connection_kib']:.1f} KiB (RSS {e['held_kib'] / 1024:.1f} MiB)"
    print(f"| {connections} waiting-room connections: memory each | {ours_mem} | {base_mem} | {ratio:.1f}x |")
    for q in ("p50", "p99"):
        ours, base = s[f"rtt_{q}_ms"], e[f"rtt_{q}_ms"]
        case = f"{connections} x {pings} pings, round trip {q}"
        print(f"| {case} | {ours:.2f} ms | {base:.2f} ms | {ours / base:.1f}x |")


if __name__ == "__main__":
    main()
