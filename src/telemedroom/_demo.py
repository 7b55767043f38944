"""The demo: a simulated room, virtual devices on an in-memory radio, readings as they arrive."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    GlucoseContext,
    HeartRate,
    Measurement,
    OxygenSaturation,
)


def sample_readings(tz: tzinfo) -> list[Measurement]:
    """A plausible visit: cuff (while inflating, then the result), oximeter, thermometer, ..."""
    at = datetime(2026, 11, 24, 9, 15, tzinfo=tz)
    return [
        BloodPressure(systolic=152, diastolic=None, intermediate=True),
        BloodPressure(
            systolic=128,
            diastolic=82,
            mean_arterial=97.3,
            pulse_rate=64,
            measured_at=at,
            user_index=1,
            status=frozenset({"irregular_pulse"}),
        ),
        HeartRate(bpm=64, rr_intervals_s=(0.9375, 0.9296875), sensor_contact=True),
        OxygenSaturation(spo2_percent=97, pulse_rate=65, pulse_amplitude_index=4.2, measured_at=at),
        OxygenSaturation(
            spo2_percent=96,
            pulse_rate=66,
            continuous=True,
            spo2_fast_percent=96,
            pulse_rate_fast=67,
            status=frozenset({"low_perfusion"}),
        ),
        BodyTemperature(value=36.4, intermediate=True),
        BodyTemperature(value=36.8, site="tympanum", measured_at=at),
        BodyWeight(value=72.4, height=1.78, bmi=22.9, measured_at=at, user_index=1),
        BloodGlucose(
            value=104,
            sequence_number=42,
            sample_type="capillary_plasma",
            sample_location="finger",
            measured_at=at,
            context=GlucoseContext(meal="fasting", tester="self"),
        ),
    ]


async def simulated_room(
    tz: tzinfo, show: Callable[[str], None]
) -> tuple[list[Measurement], list[Measurement]]:
    """Run a room with one virtual device of each kind, each used once; return (sent, received).

    Each device advertises on an in-memory Bluetooth radio; the room scans, connects to
    each through :class:`~telemedroom.devices.DeviceManager` (the code path a real
    adapter takes), streams its readings or fetches its stored records, and calls
    ``show`` with a line per event as it happens.
    """
    from telemedroom.devices import DeviceManager
    from telemedroom.testing import (
        BumbleBackend,
        VirtualBloodPressureCuff,
        VirtualDevice,
        VirtualGlucometer,
        VirtualHeartRateStrap,
        VirtualPulseOximeter,
        VirtualThermometer,
        VirtualWeightScale,
    )

    readings = sample_readings(tz)
    by_kind: dict[type[VirtualDevice], list[Measurement]] = {}
    kinds: dict[type[Measurement], type[VirtualDevice]] = {
        BloodPressure: VirtualBloodPressureCuff,
        HeartRate: VirtualHeartRateStrap,
        OxygenSaturation: VirtualPulseOximeter,
        BodyTemperature: VirtualThermometer,
        BodyWeight: VirtualWeightScale,
    }
    for reading in readings:
        if not isinstance(reading, BloodGlucose):
            by_kind.setdefault(kinds[type(reading)], []).append(reading)
    stored = [r for r in readings if isinstance(r, BloodGlucose)]
    received: list[Measurement] = []
    async with BumbleBackend() as radio:
        devices: list[VirtualDevice] = [kind(script, tz=tz) for kind, script in by_kind.items()]
        devices.append(VirtualGlucometer(records=stored, tz=tz))
        for device in devices:
            await radio.add(device)
        async with DeviceManager(backend=radio, tz=tz) as dm:
            found = {}
            async with contextlib.aclosing(dm.scan(timeout=10)) as advertising:
                async for discovered in advertising:
                    found[discovered.address] = discovered
                    show(
                        f"found {discovered.name} ({discovered.address}): "
                        f"{', '.join(discovered.health_services)}, rssi {discovered.rssi} dBm"
                    )
                    if len(found) == len(devices):
                        break
            for device in devices:
                async with await dm.connect(found[device.address]) as connection:
                    show(f"connected to {device.name}, battery {await connection.battery_level()} %")
                    if isinstance(device, VirtualGlucometer):
                        count = await connection.glucose_record_count()
                        show(f"  {count} stored record(s), fetching them")
                        arrived: list[Measurement] = list(await connection.glucose_records())
                    else:
                        arrived = []
                        async for measurement in connection.measurements():
                            show(f"  {_line(measurement)}")
                            arrived.append(measurement)
                            if len(arrived) == len(device.readings):
                                break
                    if isinstance(device, VirtualGlucometer):
                        for record in arrived:
                            show(f"  {_line(record)}")
                    received.extend(arrived)
    return readings, received


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


# One line of text per reading type: tables over branches.
_SUMMARY: dict[type[Measurement], Callable[[Any], str]] = {
    BloodPressure: lambda m: (
        f"cuff {_number(m.systolic)} {m.unit}"
        if m.intermediate
        else f"{_number(m.systolic)}/{_number(m.diastolic)} {m.unit}, MAP {_number(m.mean_arterial)}, "
        f"pulse {_number(m.pulse_rate)}/min"
    ),
    HeartRate: lambda m: f"{m.bpm}/min, RR {', '.join(f'{rr:.3f}' for rr in m.rr_intervals_s)} s",
    OxygenSaturation: lambda m: f"SpO2 {_number(m.spo2_percent)} %, pulse {_number(m.pulse_rate)}/min",
    BodyTemperature: lambda m: f"{_number(m.value)} {m.unit}" + (f" ({m.site})" if m.site else ""),
    BodyWeight: lambda m: (
        f"{_number(m.value)} {m.unit}, {_number(m.height)} {m.height_unit}, BMI {_number(m.bmi)}"
    ),
    BloodGlucose: lambda m: (
        f"{_number(m.value)} {m.unit} #{m.sequence_number}"
        + (f", {m.context.meal}" if m.context and m.context.meal else "")
    ),
}


def _line(m: Measurement) -> str:
    when = m.measured_at.strftime("%H:%M %Z") if m.measured_at else "—"
    flags = ", ".join(sorted(m.status)) or "—"
    return f"{type(m).__name__:<16} {_SUMMARY[type(m)](m):<44} {when:<9} {flags}"
