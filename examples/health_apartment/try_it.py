"""Try health apartment 2 without hardware: its apartment.toml with virtual devices on a simulated radio.

The gateway listens as it would at home: the cuff and the scale hand over what they
measured while nobody listened, the glucometer its stored records (RACP); a second
start of the gateway on the same data takes nothing twice. The data goes to a temporary
folder (or the one given as the first argument) and the FHIR record to NDJSON files there.
Needs ``pip install 'telemedroom[ble,sim]'``.
"""

import asyncio
import base64
import contextlib
import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from telemedroom import BloodGlucose, BloodPressure, BodyWeight
from telemedroom.apartment import Apartment, ApartmentConfig
from telemedroom.apartment._listener import Listener
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff, VirtualGlucometer, VirtualWeightScale

HERE = Path(__file__).parent
HOME = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=HOME)


def devices() -> list:
    """What the patient measured since the devices were last read (their memory)."""
    days = [MONDAY + timedelta(days=n) for n in range(3)]
    return [
        VirtualBloodPressureCuff(
            [BloodPressure(systolic=134, diastolic=84, measured_at=d) for d in days], tz=HOME
        ),
        VirtualWeightScale(
            [BodyWeight(value=81.0 + n * 1.2, measured_at=d) for n, d in enumerate(days)], tz=HOME
        ),
        VirtualGlucometer(
            records=[
                BloodGlucose(value=104 + n, sequence_number=n, measured_at=d) for n, d in enumerate(days, 1)
            ],
            tz=HOME,
        ),
    ]


async def listen_once(config: ApartmentConfig) -> tuple[int, int]:
    """Start the gateway, listen until every device was read, stop; returns (new readings, sessions)."""
    async with BumbleBackend() as radio, Apartment(config, ble_backend=radio) as apartment:
        for device in devices():
            await radio.add(device)
        listener = Listener(apartment)
        task = asyncio.create_task(listener.run())
        while listener.sessions < 3:
            await asyncio.sleep(0.1)  # a demo's progress check; the gateway runs meanwhile
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await apartment.drain_outbox()
        if listener.accepted:
            for alert in apartment.monitor.alerts:
                print(f"alert: {alert.severity} {alert.message}")
        return listener.accepted, listener.sessions


async def main(folder: Path) -> None:
    os.environ.setdefault("TELEMEDROOM_APARTMENT_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())
    os.environ["TELEMEDROOM_APARTMENT_DATA_DIR"] = str(folder)
    os.environ["TELEMEDROOM_APARTMENT_QUIET_AFTER_S"] = "1"
    config = ApartmentConfig.from_toml(HERE / "apartment.toml")
    print(f"apartment {config.apartment_id} for {config.patient}: {len(config.devices)} paired devices")
    new, sessions = await listen_once(config)
    print(f"first start: {new} readings taken in {sessions} device sessions")
    new, sessions = await listen_once(config)
    print(f"second start: {new} new readings (the devices sent their memory again)")
    lines = (folder / "fhir" / "Observation.ndjson").read_text().splitlines()
    print(f"FHIR record: {len(lines)} Observations in fhir/Observation.ndjson")


if len(sys.argv) > 1:
    Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
    asyncio.run(main(Path(sys.argv[1])))
else:
    with tempfile.TemporaryDirectory(prefix="apartment-2-") as temporary:
        asyncio.run(main(Path(temporary)))
