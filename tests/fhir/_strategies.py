"""Hypothesis strategies for every measurement type, shared by the FHIR tests."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from telemedroom import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    DeviceInfo,
    GlucoseContext,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

ZONES = st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=-5, minutes=-30))])
TIMES = st.datetimes(
    min_value=__import__("datetime").datetime(1990, 1, 1),
    max_value=__import__("datetime").datetime(2100, 1, 1),
    timezones=ZONES,
)
NUMBER = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
OPT = st.none() | NUMBER
TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
EUI64 = st.binary(min_size=8, max_size=8).map(lambda b: "-".join(f"{x:02X}" for x in b))
FLAGS = st.frozensets(
    st.sampled_from(
        [
            "irregular_pulse",
            "body_movement",
            "device_clock_not_set",
            "value_nan",
            "value_not_at_resolution",
            "value_positive_infinity",
            "questionable_measurement",
            "calibration_ongoing",
            "early_estimated_data",
            "measurement_ongoing",
            "data_for_testing",
            "invalid_measurement",
            "measurement_unavailable",
            "measurement_unsuccessful",
            "time_fault",
        ]
    ),
    max_size=4,
)

DEVICES = st.none() | st.builds(
    DeviceInfo,
    manufacturer=st.none() | TEXT,
    model=st.none() | TEXT,
    serial_number=st.none() | TEXT,
    firmware_revision=st.none() | TEXT,
    hardware_revision=st.none() | TEXT,
    software_revision=st.none() | TEXT,
    system_id=st.none() | EUI64,
    address=st.none() | st.just("C0:FF:EE:00:00:01"),
)

COMMON = {
    "measured_at": st.none() | TIMES,
    "device": DEVICES,
    "user_index": st.none() | st.integers(0, 254),
    "status": FLAGS,
}

blood_pressures = st.builds(
    BloodPressure,
    systolic=OPT,
    diastolic=OPT,
    mean_arterial=OPT,
    unit=st.sampled_from(["mm[Hg]", "kPa"]),
    pulse_rate=OPT,
    intermediate=st.booleans(),
    **COMMON,
)
heart_rates = st.builds(
    HeartRate,
    bpm=st.integers(0, 0xFFFF),
    rr_intervals_s=st.lists(st.integers(0, 0xFFFF).map(lambda n: n / 1024), max_size=4).map(tuple),
    energy_expended_kj=st.none() | st.integers(0, 0xFFFF),
    sensor_contact=st.none() | st.booleans(),
    **COMMON,
)
oxygen_saturations = st.builds(
    OxygenSaturation,
    spo2_percent=OPT,
    pulse_rate=OPT,
    pulse_amplitude_index=OPT,
    continuous=st.booleans(),
    spo2_fast_percent=OPT,
    pulse_rate_fast=OPT,
    spo2_slow_percent=OPT,
    pulse_rate_slow=OPT,
    **COMMON,
)
body_temperatures = st.builds(
    BodyTemperature,
    value=OPT,
    unit=st.sampled_from(["Cel", "[degF]"]),
    site=st.none() | st.sampled_from(["armpit", "ear", "mouth", "tympanum"]),
    intermediate=st.booleans(),
    **COMMON,
)
# Heights are scaled m -> cm in FHIR; devices send them at 0.001 m resolution (GSS §3.114).
HEIGHTS = st.none() | st.integers(0, 65535).map(lambda n: n / 1000)
body_weights = st.builds(
    BodyWeight,
    value=OPT,
    unit=st.sampled_from(["kg", "[lb_av]"]),
    height=HEIGHTS,
    height_unit=st.sampled_from(["m", "[in_i]"]),
    bmi=OPT,
    **COMMON,
)
contexts = st.none() | st.builds(
    GlucoseContext,
    carbohydrate=st.none() | st.sampled_from(["breakfast", "snack"]),
    carbohydrate_g=OPT,
    meal=st.none() | st.sampled_from(["fasting", "postprandial"]),
    tester=st.none() | st.sampled_from(["self", "lab_test"]),
    health=st.none() | st.just("under_stress"),
    exercise_duration_s=st.none() | st.integers(0, 0xFFFF),
    exercise_intensity_percent=st.none() | st.integers(0, 0xFF),
    medication=st.none() | st.just("rapid_acting_insulin"),
    medication_amount=OPT,
    medication_unit=st.sampled_from(["mg", "mL"]),
    hba1c_percent=OPT,
)
blood_glucoses = st.builds(
    BloodGlucose,
    value=OPT,
    unit=st.sampled_from(["mg/dL", "mmol/L"]),
    sequence_number=st.integers(0, 0xFFFF),
    sample_type=st.none()
    | st.sampled_from(["capillary_whole_blood", "capillary_plasma", "venous_plasma", "control_solution"]),
    sample_location=st.none() | st.sampled_from(["finger", "earlobe"]),
    context=contexts,
    **COMMON,
)

measurements: st.SearchStrategy[Measurement] = st.one_of(
    blood_pressures, heart_rates, oxygen_saturations, body_temperatures, body_weights, blood_glucoses
)
