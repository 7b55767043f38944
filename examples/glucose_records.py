"""Fetch only the glucose records a room has not seen yet.

A glucometer keeps its readings; at every visit the room asks (Record Access Control
Point) for the records after the last sequence number it stored. The glucometer here is
virtual (bumble on an in-memory radio); the room's code is the real one.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from telemedroom import BloodGlucose, GlucoseContext
from telemedroom.devices import DeviceManager
from telemedroom.testing import BumbleBackend, VirtualGlucometer

START = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
stored = [
    BloodGlucose(
        value=92 + n,
        sequence_number=n,
        measured_at=START + timedelta(days=n),
        context=GlucoseContext(meal="fasting"),
    )
    for n in range(1, 6)
]


async def main() -> None:
    last_seen = 3  # what the room's records already hold from the previous visit
    async with BumbleBackend() as radio:
        meter = await radio.add(VirtualGlucometer(records=stored))
        async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as connection:
            print(f"the glucometer stores {await connection.glucose_record_count()} records")
            new = await connection.glucose_records(since=last_seen + 1)
            for record in new:
                meal = record.context.meal if record.context else "?"
                print(f"new: #{record.sequence_number} {record.value:g} {record.unit}, {meal}")
            print(f"fetched {len(new)} new records; next visit asks from #{new[-1].sequence_number + 1}")


asyncio.run(main())
