"""One visit of the room in room.toml, on this machine: virtual devices and a scripted physician.

The room is the real `Room` built from `room.toml`. Only what a machine without the
booth's hardware cannot have is simulated: the devices are virtual Bluetooth devices
on an in-memory radio, the cameras synthetic (as room.toml says), and the physician a
script. `data_dir` and the key come from the environment, as they would in production
(here a temporary folder and a fresh key).

Run:  python examples/kiosk_room/visit.py     (needs telemedroom[all])
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from telemedroom import BloodPressure, BodyTemperature, BodyWeight, OxygenSaturation
from telemedroom.room import (
    Admitted,
    CheckedIn,
    DeviceStep,
    ReadingTaken,
    Room,
    RoomConfig,
    RoomState,
    SnapshotTaken,
    StateChanged,
    VisitWrappedUp,
)
from telemedroom.session.audit import AuditLog
from telemedroom.session.peer import PhysicianPeer
from telemedroom.testing import (
    BumbleBackend,
    VirtualBloodPressureCuff,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
)

HERE = Path(__file__).parent

# What an integrator's own screen would show for each event (the kiosk page does the same).
SHOW: dict[type[Any], Callable[[Any], str | None]] = {
    StateChanged: lambda e: f"state: {e.state.value}",
    CheckedIn: lambda e: f"checked in, devices in this order: {', '.join(e.devices)}",
    DeviceStep: lambda e: f"  {e.device}: {e.instruction}" if e.status == "connecting" else None,
    ReadingTaken: lambda e: f"  reading {e.device}: {e.summary}",
    Admitted: lambda e: "the physician admitted the patient",
    SnapshotTaken: lambda e: f"snapshot from the {e.camera} camera kept",
    VisitWrappedUp: lambda e: f"wrapped up: {e.observations} Observations, {e.media} Media in the outbox",
}


async def physician(room: Room, appointment_id: str) -> None:
    """Admit the patient, look at one still of the exam camera, end the visit."""
    token = room.physician_token(appointment_id, subject="dr-weber")
    async with PhysicianPeer(room.visit_url(appointment_id), token) as doctor:
        waiting = await doctor.next_waiting(timeout=60)
        await doctor.admit(waiting.id)
        snapshot = await doctor.snapshot()
        print(f"physician: still {snapshot.width}x{snapshot.height}, ending the visit")
        await doctor.end()


async def show(room_events: Any) -> None:
    async for event in room_events:
        line = SHOW.get(type(event), lambda e: None)(event)
        if line:
            print(line)
        if isinstance(event, StateChanged) and event.state is RoomState.IDLE and event.previous:
            return


async def main(data_dir: str) -> None:
    os.environ["TELEMEDROOM_DATA_DIR"] = data_dir
    os.environ["TELEMEDROOM_ENCRYPTION_KEY"] = base64.b64encode(os.urandom(32)).decode()
    os.environ["TELEMEDROOM_CLEANING_BUFFER_MINUTES"] = "0"
    config = RoomConfig.from_toml(HERE / "room.toml")
    print(f"room {config.room_id} ({config.name}), devices: {', '.join(config.devices)}")
    now = datetime.now(config.zone).replace(second=0, microsecond=0)
    devices = [
        VirtualBloodPressureCuff([BloodPressure(systolic=131, diastolic=84, pulse_rate=71, measured_at=now)]),
        VirtualPulseOximeter([OxygenSaturation(spo2_percent=96, pulse_rate=70, measured_at=now)]),
        VirtualThermometer([BodyTemperature(value=36.9, site="tympanum", measured_at=now)]),
        VirtualWeightScale([BodyWeight(value=81.3, measured_at=now)]),
    ]
    async with BumbleBackend() as radio:
        for device in devices:
            await radio.add(device)
        async with Room(config, ble_backend=radio) as room:
            appointment = await room.book_walk_in("pat-7")
            watching = asyncio.create_task(show(room.events()))
            doctor = asyncio.create_task(physician(room, appointment.id))
            summary = await room.run_visit(appointment.booking_code)
            await asyncio.gather(doctor, watching)
            drained = await room.drain_outbox()
    files = sorted((Path(data_dir) / "fhir").glob("*.ndjson"))
    print(
        f"delivered {drained.sent} bundle: "
        + ", ".join(f"{f.stem} {len(f.read_text().splitlines())}" for f in files)
    )
    log = AuditLog(Path(data_dir) / "audit.jsonl")  # opening it verifies the hash chain
    print(f"audit log verified: {len(log)} entries, head {log.head[:12]}")
    skipped = ", ".join(summary.skipped) or "none"
    print(f"visit {summary.visit_id[:8]}: {len(summary.measurements)} readings, skipped: {skipped}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(folder))
