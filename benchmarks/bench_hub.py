"""The hub under a town's load: 200 rooms reporting every 5 s, 50 staff screens reading the live view.

Two server processes in one run, each loaded the same way by this script:

- the hub (``telemedroom hub``) on a throwaway PostgreSQL: each heartbeat is a signed JWS,
  verified against the room's key and written to PostgreSQL; each screen read is a session
  check plus the fleet query;
- the baseline: a bare Starlette app (``--baseline``) that parses the same request bodies
  and answers the same shapes from memory.

Reported: the server process's CPU (utime + stime from /proc) per room and its resident
memory, as ratios to the baseline, and the update latency: from a room sending a new
state until a screen's next read shows it (the POST's round trip plus one read), p50/p99,
measured by one probe room (4 a second) while the load runs; heartbeats are signed before
the clock starts so that the generator's own signing does not hold the rooms back.

Run: ``.venv/bin/python benchmarks/bench_hub.py [--seconds 30] [--rooms 200] [--screens 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telemedroom.hub import hash_password
from telemedroom.session.heartbeat import Heartbeat, HeartbeatSigner

INTERVAL = 5.0
PASSWORD = "bench-Passw0rd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- a throwaway PostgreSQL (as tests/scheduling/conftest.py starts one) -------------------------


def start_postgres(base: Path) -> tuple[str, list[str], Path]:
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1].parent
    run_as: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data = base / "data"
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "bench", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-k {base} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c max_connections=200"
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return (
        f"postgresql://bench@/postgres?host={base}",
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data)],
        bindir,
    )


# -- the baseline server -------------------------------------------------------------------------


def baseline_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    latest: dict[str, Any] = {}

    async def heartbeats(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        for token in body["heartbeats"]:
            latest[request.path_params["room"]] = token
        return JSONResponse({"current": len(body["heartbeats"])})

    async def fleet(_request: Request) -> JSONResponse:
        return JSONResponse({"rooms": [{"id": room, "report": token} for room, token in latest.items()]})

    async def healthz(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/api/rooms/{room}/heartbeats", heartbeats, methods=["POST"]),
            Route("/api/fleet", fleet),
            Route("/healthz", healthz),
        ]
    )


# -- the load ------------------------------------------------------------------------------------


async def wait_up(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not come up")


async def login(http: httpx.AsyncClient) -> dict[str, str]:
    page = await http.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    if token is None:  # the baseline has no login
        return {}
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    answer = await http.post(
        "/auth/local",
        data={"login_csrf": token.group(1), "username": "op", "password": PASSWORD},
        headers={"cookie": cookie},
    )
    # the session cookie is Secure; this loopback run speaks plain HTTP, so it is passed by hand
    return {"cookie": answer.headers["set-cookie"].split(";", 1)[0]}


async def load(
    base: str, pid: int, signers: list[HeartbeatSigner], screens: int, seconds: float
) -> dict[str, float]:
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        headers = await login(http)
        boot = f"{random.getrandbits(32):08x}"
        latencies: list[float] = []

        # signed before the clock starts: the load generator's own signing must not slow the rooms
        rounds = int(seconds / INTERVAL) + 2
        signed = {
            signer.room: [
                signer.sign(
                    Heartbeat(
                        room=signer.room,
                        boot=boot,
                        sequence=n,
                        sent_at=datetime.now(UTC),
                        version="bench",
                        state=("waiting", "idle")[n % 2],
                        outbox_backlog=n,
                    )
                )
                for n in range(rounds)
            ]
            for signer in signers
        }
        probe_signer = signers[0]
        probe_tokens = [
            probe_signer.sign(
                Heartbeat(
                    room=probe_signer.room,
                    boot=boot + "p",
                    sequence=n,
                    sent_at=datetime.now(UTC),
                    version="bench",
                    state="waiting",
                )
            )
            for n in range(int(seconds) * 4 + 8)
        ]
        stop = time.monotonic() + seconds

        async def room(index: int, signer: HeartbeatSigner) -> None:
            await asyncio.sleep(INTERVAL * index / len(signers))  # spread the rooms over the interval
            for token in signed[signer.room]:
                if time.monotonic() >= stop:
                    return
                answer = await http.post(f"/api/rooms/{signer.room}/heartbeats", json={"heartbeats": [token]})
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(INTERVAL)

        async def probe() -> None:
            # one room's new report, then one screen's read: sequential, on their own connection
            async with httpx.AsyncClient(base_url=base, timeout=30) as own:
                for token in probe_tokens:
                    if time.monotonic() >= stop:
                        return
                    started = time.perf_counter()
                    answer = await own.post(
                        f"/api/rooms/{probe_signer.room}/heartbeats", json={"heartbeats": [token]}
                    )
                    assert answer.status_code == 200, answer.text
                    assert (await own.get("/api/fleet", headers=headers)).status_code == 200
                    latencies.append(time.perf_counter() - started)
                    await asyncio.sleep(0.25)

        async def screen(index: int) -> None:
            await asyncio.sleep(index / screens)
            while time.monotonic() < stop:
                assert (await http.get("/api/fleet", headers=headers)).status_code == 200
                await asyncio.sleep(1.0)  # a screen refreshes each second

        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        await asyncio.gather(
            probe(), *(room(i, s) for i, s in enumerate(signers)), *(screen(i) for i in range(screens))
        )
        cpu = cpu_seconds(pid) - cpu_before
        wall = time.monotonic() - wall_before
    latencies.sort()
    return {
        "cores": cpu / wall,
        "cpu_ms_per_room_s": 1000 * cpu / wall / len(signers),
        "rss_mib": rss_mib(pid),
        "probes": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--screens", type=int, default=50)
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)  # serve the baseline on this port
    args = parser.parse_args()
    if args.baseline:
        import uvicorn

        await uvicorn.Server(uvicorn.Config(baseline_app(), port=args.baseline, log_level="warning")).serve()
        return

    base = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    base.chmod(0o755)
    pg = base / "pg"
    pg.mkdir()
    dsn, pg_ctl, _ = start_postgres(pg)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        keys = {f"room-{i:03d}": Ed25519PrivateKey.generate() for i in range(args.rooms)}
        lines = []
        for room, key in keys.items():
            (base / f"{room}.pem").write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            lines += ["[[rooms]]", f'id = "{room}"', f'public_key_file = "{room}.pem"']
        (base / "accounts.toml").write_text(
            f'[accounts.op]\nroles = ["operator"]\npassword_hash = "{hash_password(PASSWORD)}"\n'
        )
        hub_port, baseline_port = free_port(), free_port()
        (base / "hub.toml").write_text(
            f'public_url = "https://127.0.0.1:{hub_port}"\ndatabase_url = "{dsn}"\n'
            'accounts_file = "accounts.toml"\n' + "\n".join(lines) + "\n"
        )
        signers = [HeartbeatSigner(room, key) for room, key in keys.items()]
        results = {}
        for name, command, port in (
            (
                "hub",
                [
                    sys.executable,
                    "-m",
                    "telemedroom",
                    "hub",
                    "--config",
                    str(base / "hub.toml"),
                    "--port",
                    str(hub_port),
                    "--log-level",
                    "warning",
                ],
                hub_port,
            ),
            ("baseline", [sys.executable, __file__, "--baseline", str(baseline_port)], baseline_port),
        ):
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=(base / f"{name}.log").open("wb")
            )
            processes.append(process)
            await wait_up(f"http://127.0.0.1:{port}")
            results[name] = await load(
                f"http://127.0.0.1:{port}", process.pid, signers, args.screens, args.seconds
            )
            process.terminate()
            process.wait(timeout=30)
        hub, bare = results["hub"], results["baseline"]
        print(
            f"{args.rooms} rooms every {INTERVAL:.0f} s, {args.screens} screens every 1 s, "
            f"{args.seconds:.0f} s each"
        )
        print("| case | hub | bare Starlette (same run) | ratio |")
        print("|---|---:|---:|---:|")
        for label, key, digits in (
            ("server CPU, cores", "cores", 3),
            ("server CPU per room, ms/s", "cpu_ms_per_room_s", 3),
            ("server RSS, MiB", "rss_mib", 0),
            ("update latency p50, ms", "p50_ms", 1),
            ("update latency p99, ms", "p99_ms", 1),
        ):
            print(
                f"| {label} | {hub[key]:.{digits}f} | {bare[key]:.{digits}f} | {hub[key] / bare[key]:.2f}x |"
            )
        print(
            f"latency probes: hub {hub['probes']:.0f}, baseline {bare['probes']:.0f}; "
            f"target p99 < 500 ms: {'met' if hub['p99_ms'] < 500 else 'NOT met'}"
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        for name in ("hub", "baseline"):
            if (base / f"{name}.log").exists():
                print(
                    f"--- {name} log tail:", *(base / f"{name}.log").read_text().splitlines()[-5:], sep="\n"
                )
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
