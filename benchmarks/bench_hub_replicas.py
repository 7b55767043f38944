"""Signaling across two hub replicas vs within one: the room<->physician round trip, as a ratio.

Two ``telemedroom hub`` processes (A and B) on one throwaway PostgreSQL, started by this
script. Two visits run side by side, measured alternately in one run:

- **same replica** (the one-replica case): the room and the physician both on A; their
  messages are handed over in A's memory;
- **across replicas**: the room on A, the physician on B; every message goes A ->
  PostgreSQL ``NOTIFY`` -> B (and back).

A round trip is the room sending a message to the physician, who answers at once: a small
ICE candidate answered with one, and a 12 KiB SDP offer (over ``NOTIFY``'s 8000 bytes: it
goes through the ``signaling_messages`` table) answered with a 3 KiB answer. p50/p99 per
case; the ratio is across / same. Messages are paced under the server's rate limit.

Run: ``.venv/bin/python benchmarks/bench_hub_replicas.py [--rounds 150]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).parent))
from bench_hub import free_port, start_postgres, wait_up

from telemedroom.session import TokenIssuer

CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host", "sdpMid": "0"}
OFFER = "v=0\r\n" + "a=x-bench:" + "o" * 12 * 1024 + "\r\n"
ANSWER = "v=0\r\n" + "a=x-bench:" + "a" * 3 * 1024 + "\r\n"


async def receive(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] == kind:
            return message


class Visit:
    """One visit: a room and a physician, each with a raw protocol client."""

    def __init__(self, room: ClientConnection, doctor: ClientConnection) -> None:
        self.room, self.doctor = room, doctor
        self.room_id = self.doctor_id = ""

    @classmethod
    async def open(cls, issuer: TokenIssuer, appointment: str, room_url: str, doctor_url: str) -> Visit:
        visit = cls(
            await connect(room_url, ping_interval=None), await connect(doctor_url, ping_interval=None)
        )
        now = datetime.now(UTC)
        for ws, role in ((visit.room, "patient"), (visit.doctor, "physician")):
            token = issuer.issue(
                room="nord-1",
                appointment=appointment,
                role=role,  # type: ignore[arg-type]
                subject=role,
                not_before=now - timedelta(minutes=1),
                expires_at=now + timedelta(hours=1),
            )
            await ws.send(json.dumps({"type": "join", "v": 1, "token": token}))
            welcome = await receive(ws, "welcome")
            if role == "patient":
                visit.room_id = welcome["participant"]
            else:
                visit.doctor_id = welcome["participant"]
        await visit.doctor.send(json.dumps({"type": "admit", "participant": visit.room_id}))
        await receive(visit.room, "admitted")
        return visit

    async def round_trip(self, large: bool) -> float:
        started = time.perf_counter()
        if large:
            await self.room.send(json.dumps({"type": "offer", "to": self.doctor_id, "sdp": OFFER}))
            await receive(self.doctor, "offer")
            await self.doctor.send(json.dumps({"type": "answer", "to": self.room_id, "sdp": ANSWER}))
            await receive(self.room, "answer")
        else:
            await self.room.send(json.dumps({"type": "ice", "to": self.doctor_id, "candidate": CANDIDATE}))
            await receive(self.doctor, "ice")
            await self.doctor.send(json.dumps({"type": "ice", "to": self.room_id, "candidate": CANDIDATE}))
            await receive(self.room, "ice")
        return (time.perf_counter() - started) * 1000

    async def aclose(self) -> None:
        await self.room.close()
        await self.doctor.close()


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[98]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=150)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    base.chmod(0o755)
    pg = base / "pg"
    pg.mkdir()
    dsn, pg_ctl, _ = start_postgres(pg)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        room_key, token_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        (base / "nord-1.pem").write_bytes(
            room_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (base / "join-token.pem").write_bytes(
            token_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (base / "accounts.toml").write_text("")
        port_a, port_b = free_port(), free_port()
        (base / "hub.toml").write_text(
            f'public_url = "https://127.0.0.1:{port_a}"\ndatabase_url = "{dsn}"\n'
            'accounts_file = "accounts.toml"\n'
            '[tokens]\nsigning_key_file = "join-token.pem"\nkey_id = "bench"\n'
            '[[rooms]]\nid = "nord-1"\npublic_key_file = "nord-1.pem"\n'
        )
        for name, port in (("a", port_a), ("b", port_b)):
            command = [sys.executable, "-m", "telemedroom", "hub", "--config", str(base / "hub.toml")]
            command += ["--port", str(port), "--log-level", "warning"]
            processes.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(base / f"{name}.log").open("wb"))
            )
            await wait_up(f"http://127.0.0.1:{port}")
        issuer = TokenIssuer(token_key, "bench")

        def url(port: int, appointment: str) -> str:
            return f"ws://127.0.0.1:{port}/ws/nord-1/{appointment}"

        same = await Visit.open(issuer, "same", url(port_a, "same"), url(port_a, "same"))
        across = await Visit.open(issuer, "across", url(port_a, "across"), url(port_b, "across"))
        results: dict[tuple[str, bool], list[float]] = {}
        for _ in range(5):  # warm-up
            for visit in (same, across):
                await visit.round_trip(False)
        for large in (False, True):
            for index in range(args.rounds):
                # alternate which goes first, so that neither case always runs right after the other
                order = [("same", same), ("across", across)]
                for name, visit in order if index % 2 else order[::-1]:
                    results.setdefault((name, large), []).append(await visit.round_trip(large))
                await asyncio.sleep(0.1)  # two messages per connection per round: under 20/s
        await same.aclose()
        await across.aclose()
        print(f"{args.rounds} round trips per case, alternating; two hub processes on one PostgreSQL")
        print("| round trip | same replica p50 / p99 | across replicas p50 / p99 | ratio p50 / p99 |")
        print("|---|---:|---:|---:|")
        for large, label in (
            (False, "ICE candidate, answered with one"),
            (True, "12 KiB offer, 3 KiB answer"),
        ):
            s50, s99 = quantiles(results[("same", large)])
            x50, x99 = quantiles(results[("across", large)])
            print(
                f"| {label} | {s50:.2f} / {s99:.2f} ms | {x50:.2f} / {x99:.2f} ms"
                f" | {x50 / s50:.2f}x / {x99 / s99:.2f}x |"
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        for name in ("a", "b"):
            log = base / f"{name}.log"
            if log.exists() and log.read_text().strip():
                print(f"--- replica {name} log (tail) ---\n" + log.read_text()[-1500:])
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
