"""The room end to end: a whole simulated visit, and its CPU while in consultation.

1. A visit, check-in -> FHIR written. telemedroom: ``Room`` with five virtual devices
   (cuff, oximeter, thermometer, scale, glucometer) on a bumble radio, the embedded
   signaling server, a scripted physician (``PhysicianPeer``, same process) who admits
   and waits for the first video frame, one exam-camera snapshot, the wrap-up into the
   outbox and its drain to NDJSON files: wall time and process CPU (``time.process_time``)
   from ``check_in`` until the NDJSON is on disk. Baseline, same run: the same devices
   read with a bare ``DeviceManager`` (scan, connect, final reading or stored records),
   mapped with ``transaction_json`` and written by a ``FileSink``: no schedule, journal,
   audit, events, consultation or snapshot.
2. Steady-state CPU in consultation, 640x480@30 room camera (target < 1 core): the room
   admitted, the physician in a child process decoding the video (so its CPU is not
   counted), then the room process's CPU (``resource.getrusage``) over a fixed window.
   Baseline, same run: a bare ``RoomPeer`` (no Room) with the same camera and the same
   child-process physician, same window.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_room.py [--quick]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telemedroom import (
    Measurement,
)
from telemedroom.devices import DeviceManager
from telemedroom.devices.media import MediaSource, Role
from telemedroom.fhir import FileSink, transaction_json
from telemedroom.room import DEVICE_GUIDE, DeviceKind, Room, RoomConfig, SessionSettings
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.peer import PhysicianPeer, RoomPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
from telemedroom.testing import BumbleBackend, VirtualDevice, virtual_devices

KEY = base64.b64encode(bytes(range(32))).decode()
AT = datetime(2026, 11, 25, 9, 15, tzinfo=UTC)
KINDS: tuple[DeviceKind, ...] = ("blood_pressure", "pulse_oximeter", "thermometer", "scale", "glucometer")
CAMERA = {"width": 640, "height": 480, "frame_rate": 30}


def devices() -> list[VirtualDevice]:
    """One device per kind, in KINDS order: the demo's and the tests' (telemedroom.testing)."""
    return virtual_devices(UTC, list(KINDS), at=AT)


def config(data_dir: Path) -> RoomConfig:
    return RoomConfig(
        room_id="bench-room",
        data_dir=data_dir,
        encryption_key=KEY,
        devices=list(KINDS),
        cleaning_buffer_minutes=0,
        device_timeout_s=10,
        session=SessionSettings(embedded=True),
    )


def count_lines(folder: Path) -> dict[str, int]:
    return {p.stem: len(p.read_text().splitlines()) for p in sorted(folder.glob("*.ndjson"))}


async def visit_room(data_dir: Path) -> tuple[float, float, dict[str, int]]:
    async with BumbleBackend() as radio:
        for device in devices():
            await radio.add(device)
        async with Room(config(data_dir), ble_backend=radio) as room:
            appointment = await room.book_walk_in("pat-bench")
            wall, cpu = time.perf_counter(), time.process_time()
            await room.check_in(appointment.booking_code)
            await room.measure()
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True) as doctor:
                await room.wait_for_physician(timeout=30)
                await doctor.first_video_frame()
                await room.take_snapshot("exam")
                await room.end_consultation()
            await room.drain_outbox()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, count_lines(data_dir / "fhir")


async def read_one(manager: DeviceManager, kind: DeviceKind) -> list[Measurement]:
    guide = DEVICE_GUIDE[kind]
    async with contextlib.aclosing(manager.scan(timeout=10, services=[guide.service])) as seen:
        found = await anext(seen)
    async with await manager.connect(found) as connection:
        if guide.stored_records:
            return list(await connection.glucose_records())
        async for reading in connection.measurements():
            if not getattr(reading, "intermediate", False):
                return [reading]
    raise AssertionError(f"{kind}: no final reading")


async def visit_bare(data_dir: Path) -> tuple[float, float, dict[str, int]]:
    async with BumbleBackend() as radio:
        for device in devices():
            await radio.add(device)
        async with DeviceManager(backend=radio, timeout=10) as manager:
            wall, cpu = time.perf_counter(), time.process_time()
            readings: list[Measurement] = []
            for kind in KINDS:
                readings += await read_one(manager, kind)
            bundle = transaction_json(readings, patient="Patient/pat-bench", received_at=datetime.now(UTC))
            await FileSink(data_dir / "fhir").transaction(bundle)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, count_lines(data_dir / "fhir")


async def bench_visit(repeats: int) -> dict[str, Any]:
    room: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    files: dict[str, dict[str, int]] = {}
    for n in range(repeats + 1):  # the first of each warms imports and caches: not counted
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            wall, cpu, files["room"] = await visit_room(Path(a))
            if n:
                room.append((wall, cpu))
            wall, cpu, files["bare"] = await visit_bare(Path(b))
            if n:
                bare.append((wall, cpu))
    check_files(files)
    return {
        "room_wall": statistics.median(w for w, _ in room),
        "room_cpu": statistics.median(c for _, c in room),
        "bare_wall": statistics.median(w for w, _ in bare),
        "bare_cpu": statistics.median(c for _, c in bare),
        "files": files,
    }


def check_files(files: dict[str, dict[str, int]]) -> None:
    """Both paths wrote the same readings; the room adds the Encounter, the Media and Provenance."""
    # BP + its pulse, SpO2 + its pulse, temperature, weight + height + BMI, glucose
    assert files["room"]["Observation"] == files["bare"]["Observation"] == 9, files
    assert files["room"]["Encounter"] == 1, files
    assert files["room"]["Media"] == 1, files
    assert files["room"]["Provenance"] == 1, files


PHYSICIAN = """
import asyncio, sys
from telemedroom.session.peer import PhysicianPeer
async def main(url, token):
    async with PhysicianPeer(url, token, auto_admit=True) as doctor:
        await doctor.first_video_frame()
        print("frame", flush=True)
        while True:
            await doctor.video.recv()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def physician_process(url: str, token: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PHYSICIAN, url, token, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    return child


async def until_frame(child: asyncio.subprocess.Process) -> None:
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    assert line.strip() == b"frame", line


async def window(seconds: float) -> float:
    """Cores used by this process over ``seconds`` of wall time."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.sleep(seconds)  # the window itself: nothing else to wait for
    return (cpu_seconds() - cpu) / (time.perf_counter() - wall)


async def steady_room(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as folder:
        async with Room(config(Path(folder)).model_copy(update={"devices": []})) as room:
            appointment = await room.book_walk_in("pat-bench")
            await room.check_in(appointment.booking_code)
            await room.measure()
            child = await physician_process(
                room.visit_url(appointment.id), room.physician_token(appointment.id)
            )
            try:
                await room.wait_for_physician(timeout=60)
                await until_frame(child)
                return await window(seconds)
            finally:
                child.kill()
                await child.wait()


async def steady_bare(seconds: float) -> float:
    issuer, now = TokenIssuer.generate("bench"), datetime.now(UTC)

    def token(role: Any) -> str:
        return issuer.issue(
            room="r",
            appointment="a",
            role=role,
            subject=role,
            not_before=now,
            expires_at=now + timedelta(hours=1),
        )

    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    async with LocalServer(app) as server:
        url = f"{server.ws_url}/ws/r/a"
        child = await physician_process(url, token("physician"))
        try:
            camera = MediaSource.synthetic(Role.ROOM_CAMERA, **CAMERA)  # type: ignore[arg-type]
            async with RoomPeer(url, token("patient"), room_camera=camera, ice_servers=[]) as peer:
                await peer.wait_admitted(60)
                await until_frame(child)
                return await window(seconds)
        finally:
            child.kill()
            await child.wait()


async def bench_steady(seconds: float) -> dict[str, float]:
    return {"room": await steady_room(seconds), "bare": await steady_bare(seconds)}


def table(visit: dict[str, Any], steady: dict[str, float], repeats: int, seconds: float) -> str:
    rows = [
        "| case | telemedroom | baseline (same run) | ratio |",
        "|---|---:|---:|---:|",
        f"| visit check-in -> FHIR written, wall (median of {repeats}) | {visit['room_wall'] * 1000:.0f} ms "
        f"| {visit['bare_wall'] * 1000:.0f} ms | {visit['room_wall'] / visit['bare_wall']:.2f}x |",
        f"| visit check-in -> FHIR written, CPU | {visit['room_cpu'] * 1000:.0f} ms "
        f"| {visit['bare_cpu'] * 1000:.0f} ms | {visit['room_cpu'] / visit['bare_cpu']:.2f}x |",
        f"| in consultation, 640x480@30, room process CPU over {seconds:g} s | {steady['room']:.2f} cores "
        f"| {steady['bare']:.2f} cores | {steady['room'] / steady['bare']:.2f}x |",
    ]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a shorter window")
    args = parser.parse_args(argv)
    repeats, seconds = (2, 2.0) if args.quick else (5, 10.0)
    visit = asyncio.run(bench_visit(repeats))
    steady = asyncio.run(bench_steady(seconds))
    print(f"# bench_room, {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores")
    print(table(visit, steady, repeats, seconds))
    target = "met" if steady["room"] < 1.0 else "MISSED"
    print(f"\nsteady-state target < 1 core: {target}")


if __name__ == "__main__":
    main()
