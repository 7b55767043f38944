"""The readings the demo sends through the codecs: one per profile, as a room would see them."""

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
