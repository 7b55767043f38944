"""Worker for the kill -9 tests: drive a room to one state, say so, and wait to be killed.

Run as a script: ``python _room_worker.py ROOT STATE...``. Each STATE is a RoomState
value, or ``wrap_up_before_put``/``wrap_up_after_put`` to stop inside the wrap-up just
before or just after the visit's bundle is committed to the outbox. After the imports,
the worker forks one process per STATE (so the imports are paid once), each driving its
own room in ``ROOT/STATE``; each prints ``reached STATE PID`` and waits. The test kills
each of them with SIGKILL, then opens a room on the same data dir. Bluetooth is a
BumbleBackend (a fake radio with virtual devices).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.room.conftest import devices_for, make_config

from telemedroom.room import Room, RoomState
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import BumbleBackend


def reached(state: str) -> None:
    # one write(2) below PIPE_BUF is atomic: the forked rooms share the pipe, and print()
    # (unbuffered under PYTHONUNBUFFERED) writes word by word, so two lines could interleave
    os.write(sys.stdout.fileno(), f"reached {state} {os.getpid()}\n".encode())


async def hang() -> None:
    await asyncio.Event().wait()


async def main(data_dir: Path, target: str) -> None:
    # the cuff is on the radio; the thermometer is not, so measuring it never ends
    kinds = ["blood_pressure", "thermometer"] if target == "measuring" else ["blood_pressure"]
    buffer = 60.0 if target == "cleaning" else 0.0
    config = make_config(data_dir, kinds, device_timeout_s=60, cleaning_buffer_minutes=buffer)
    async with BumbleBackend() as radio:
        for device in devices_for(["blood_pressure"]):
            await radio.add(device)
        async with Room(config, ble_backend=radio) as room:
            if target == "idle":
                reached(target)
                await hang()
            # a visit killed before wrap-up gives its appointment back: the test checks in with
            # its code again, so it must still be on; otherwise a short slot frees the room soon
            minutes = 20 if target in ("checked_in", "measuring", "waiting", "in_consultation") else 1
            appointment = await room.book_walk_in("pat-crash", minutes=minutes)
            await room.check_in(appointment.booking_code)
            if target == "checked_in":
                reached(target)
                await hang()
            if target == "measuring":
                events = room.events()
                measuring = asyncio.ensure_future(room.measure())
                async for event in events:
                    if event.type == "device_step" and event.device == "thermometer":
                        reached(target)  # the cuff's reading is taken, the thermometer never comes
                        await hang()
                await measuring
            await room.measure()
            if target == "waiting":
                reached(target)
                await hang()
            url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
            async with PhysicianPeer(url, token, auto_admit=True):
                await room.wait_for_physician(timeout=30)
                await room.take_snapshot("exam")
                if target == "in_consultation":
                    reached(target)
                    await hang()
                assert room.outbox is not None
                put = room.outbox.put

                async def stop_in_put(*bundles: Any) -> list[int]:
                    if target == "wrap_up_before_put":
                        reached(target)
                        await hang()
                    ids = await put(*bundles)
                    if target == "wrap_up_after_put":
                        reached(target)
                        await hang()
                    return ids

                room.outbox.put = stop_in_put  # type: ignore[method-assign]
                await room.end_consultation()
                assert room.state is RoomState.CLEANING
                reached(target)
                await hang()


def fork_all(root: Path, states: list[str]) -> None:
    # what a room imports on first use, imported once here before the forks
    import importlib

    for module in ("devices.media", "devices.ble", "fhir.mapping", "scheduling", "session.signaling"):
        importlib.import_module(f"telemedroom.{module}")
    children = []
    for state in states:
        pid = os.fork()
        if pid == 0:  # the child: one room, one state, until SIGKILL
            try:
                asyncio.run(main(root / state, state))
            except BaseException:  # said in the worker's log, which the test shows on failure
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(1)
        children.append(pid)
    for _ in children:
        os.wait()


if __name__ == "__main__":
    fork_all(Path(sys.argv[1]), sys.argv[2:])
