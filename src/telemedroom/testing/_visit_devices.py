"""One virtual device of each kind, each with a plausible reading of a visit (the demo's devices).

They are real GATT servers on a :class:`~telemedroom.testing.BumbleBackend` radio (an
in-memory Bluetooth link), so the room's own device code runs against them.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

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
from telemedroom.testing._virtual_devices import (
    VirtualBloodPressureCuff,
    VirtualDevice,
    VirtualGlucometer,
    VirtualHeartRateStrap,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
)

__all__ = ["sample_readings", "top_up", "virtual_devices"]


def sample_readings(tz: tzinfo, at: datetime | None = None) -> dict[str, list[Measurement]]:
    """A plausible visit, by device kind (the room's ``DeviceKind`` names).

    The cuff sends a cuff pressure while inflating, then the result; the thermometer an
    intermediate value, then the final one.

    Examples:
        >>> from datetime import UTC
        >>> {kind: len(readings) for kind, readings in sample_readings(UTC).items()}["blood_pressure"]
        2
    """
    at = at or datetime(2026, 11, 24, 9, 15, tzinfo=tz)
    return {
        "blood_pressure": [
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
        ],
        "pulse_oximeter": [
            OxygenSaturation(spo2_percent=97, pulse_rate=65, pulse_amplitude_index=4.2, measured_at=at),
        ],
        "thermometer": [
            BodyTemperature(value=36.4, intermediate=True),
            BodyTemperature(value=36.8, site="tympanum", measured_at=at),
        ],
        "scale": [BodyWeight(value=72.4, height=1.78, bmi=22.9, measured_at=at, user_index=1)],
        "heart_rate": [HeartRate(bpm=64, rr_intervals_s=(0.9375, 0.9296875), sensor_contact=True)],
        "glucometer": [
            BloodGlucose(
                value=104,
                sequence_number=42,
                sample_type="capillary_plasma",
                sample_location="finger",
                measured_at=at,
                context=GlucoseContext(meal="fasting", tester="self"),
            )
        ],
    }


# Device kind (the room's DeviceKind) -> the virtual device that plays it.
DEVICES: dict[str, type[VirtualDevice]] = {
    "blood_pressure": VirtualBloodPressureCuff,
    "pulse_oximeter": VirtualPulseOximeter,
    "thermometer": VirtualThermometer,
    "scale": VirtualWeightScale,
    "heart_rate": VirtualHeartRateStrap,
    "glucometer": VirtualGlucometer,
}
_KIND = {device: kind for kind, device in DEVICES.items()}


def virtual_devices(
    tz: tzinfo, kinds: list[str] | None = None, *, at: datetime | None = None
) -> list[VirtualDevice]:
    """One virtual device per kind (all six by default), loaded with :func:`sample_readings`.

    Examples:
        >>> from datetime import UTC
        >>> [device.name for device in virtual_devices(UTC, ["thermometer", "glucometer"])]
        ['TM Thermometer', 'TM Glucometer']
    """
    readings = sample_readings(tz, at)
    devices: list[VirtualDevice] = []
    for kind in kinds if kinds is not None else list(DEVICES):
        if DEVICES[kind] is VirtualGlucometer:  # it keeps its readings as stored records
            records = [r for r in readings[kind] if isinstance(r, BloodGlucose)]
            devices.append(VirtualGlucometer(records=records, tz=tz))
        else:
            devices.append(DEVICES[kind](readings[kind], tz=tz))
    return devices


def top_up(devices: list[VirtualDevice], tz: tzinfo, at: datetime) -> None:
    """Give each device the readings of one more visit (the glucometer one more stored record).

    Examples:
        >>> from datetime import UTC
        >>> [cuff, meter] = virtual_devices(UTC, ["blood_pressure", "glucometer"])
        >>> top_up([cuff, meter], UTC, datetime(2026, 11, 25, tzinfo=UTC))
        >>> len(cuff.readings), [r.sequence_number for r in meter.records]
        (4, [42, 43])
    """
    fresh = sample_readings(tz, at)
    for device in devices:
        readings = fresh[_KIND[type(device)]]
        if isinstance(device, VirtualGlucometer):
            last = device.records[-1].sequence_number if device.records else 0
            device.records.extend(
                r.model_copy(update={"sequence_number": last + 1})
                for r in readings
                if isinstance(r, BloodGlucose)
            )
        else:
            device.readings.extend(readings)
