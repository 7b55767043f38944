"""The monitor on a live connection: Connection.measurements() over the virtual radio (a fake radio only)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.monitoring import CarePlan, ListSink, Monitor
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

BERLIN = ZoneInfo("Europe/Berlin")


async def test_monitor_runs_on_a_connections_measurements(radio: BumbleBackend) -> None:
    at = datetime(2026, 11, 25, 19, 30, tzinfo=BERLIN)
    cuff = VirtualBloodPressureCuff(
        [
            BloodPressure(systolic=200, diastolic=None, intermediate=True),  # inflating: not evaluated
            BloodPressure(systolic=186, diastolic=104, pulse_rate=88, measured_at=at),
            BloodPressure(systolic=183, diastolic=101, pulse_rate=86, measured_at=at.replace(minute=35)),
            BloodPressure(systolic=150, diastolic=92, pulse_rate=80, measured_at=at.replace(minute=50)),
        ],
        tz=BERLIN,
    )
    await radio.add(cuff)
    plan = CarePlan.parse({"patient": "Patient/p1", "timezone": "Europe/Berlin", "care_team": "CareTeam/c",
                           "rules": [{"type": "threshold", "id": "sys", "measurement": "blood_pressure",
                                      "field": "systolic", "above": 180, "hysteresis": 5}]})  # fmt: skip
    sink = ListSink()
    monitor = Monitor(plan, sinks=[sink], clock=lambda: at)
    async with DeviceManager(backend=radio, tz=BERLIN) as manager:
        connection = await manager.connect(cuff.address)
        running = asyncio.create_task(monitor.run(connection.measurements()))
        await cuff.wait_sent(4)
        await connection.aclose()  # the stream ends, and with it run()
        await running
    assert [(e.type, e.alert.value) for e in sink.events] == [("raised", 186.0), ("cleared", 186.0)]
    assert monitor.alerts[0].cleared_at == at.replace(minute=50)
    assert [v for _t, v in monitor.series("blood_pressure", "systolic")] == [186.0, 183.0, 150.0]
