"""Worker for the kill -9 test: run an apartment's gateway on a data dir until killed, or until done.

Run as a script: ``python _apartment_worker.py DATA_DIR [--until-done]``. The virtual
devices are made afresh each run with the same memory (a real cuff or glucometer keeps
its stored readings across the gateway's restarts), so every run is offered every
reading again. It prints ``started PID`` once the apartment is open; with
``--until-done`` it prints ``done N`` and exits once all readings are in the journal and
the outbox is delivered (NDJSON files in DATA_DIR/fhir).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.apartment.conftest import make_config

from telemedroom import BloodGlucose, BloodPressure, BodyWeight
from telemedroom.apartment import Apartment
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff, VirtualGlucometer, VirtualWeightScale

AT = datetime(2026, 11, 2, 7, tzinfo=UTC)
EXPECTED = 6 + 4 + 5


def devices() -> list:
    return [
        VirtualBloodPressureCuff(
            [
                BloodPressure(systolic=120 + n, diastolic=80, measured_at=AT + timedelta(hours=n))
                for n in range(6)
            ]
        ),
        VirtualWeightScale(
            [BodyWeight(value=80 + n / 10, measured_at=AT + timedelta(days=n)) for n in range(4)]
        ),
        VirtualGlucometer(
            records=[
                BloodGlucose(value=100 + n, sequence_number=n, measured_at=AT + timedelta(hours=n))
                for n in range(1, 6)
            ]
        ),
    ]


async def main(data_dir: Path, until_done: bool) -> None:
    config = make_config(data_dir, quiet_after_s=0.5, revisit_after_s=0.2)
    async with BumbleBackend() as radio, Apartment(config, ble_backend=radio) as apartment:
        for device in devices():
            await radio.add(device)
        print("started", os.getpid(), flush=True)
        runner = asyncio.create_task(apartment.run(deliver_every=timedelta(seconds=0.5)))
        while True:
            await asyncio.sleep(0.2)  # polling the journal as a watchdog would; the gateway runs meanwhile
            if (
                until_done
                and await apartment.journal.count() == EXPECTED
                and await apartment.outbox.pending() == 0
            ):
                print("done", await apartment.journal.count(), flush=True)
                runner.cancel()
                return


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), "--until-done" in sys.argv))
