"""Stream readings from a blood-pressure cuff through DeviceManager.

The cuff is virtual (a bumble GATT server on an in-memory radio), but everything above
the radio is what a room runs with a real adapter: scan, connect, subscribe, decode.
With a real cuff, drop the BumbleBackend and `backend=radio`.
"""

import asyncio
import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

ROOM_ZONE = ZoneInfo("Europe/Berlin")


async def main() -> None:
    script = [
        BloodPressure(systolic=150, diastolic=None, intermediate=True),  # the cuff inflating
        BloodPressure(systolic=131, diastolic=84, pulse_rate=71, measured_at=datetime.now(ROOM_ZONE)),
    ]
    async with BumbleBackend() as radio:
        await radio.add(VirtualBloodPressureCuff(script, tz=ROOM_ZONE))
        async with DeviceManager(backend=radio, tz=ROOM_ZONE) as dm:
            async with contextlib.aclosing(dm.scan(timeout=5, services=[0x1810])) as found:
                cuff = await anext(found)
            print(f"found {cuff.name} at {cuff.address}")
            async with await dm.connect(cuff) as connection:
                async for reading in connection.measurements():
                    assert isinstance(reading, BloodPressure)
                    if reading.intermediate:
                        print(f"inflating: {reading.systolic:g} {reading.unit}")
                        continue
                    pressure = f"{reading.systolic:g}/{reading.diastolic:g} {reading.unit}"
                    print(f"result: {pressure}, pulse {reading.pulse_rate:g}")
                    break
                print(f"received {connection.stats.received} values, {connection.stats.malformed} malformed")


asyncio.run(main())
