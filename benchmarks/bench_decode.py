"""Decode throughput per Bluetooth health profile, next to a bare ``struct`` baseline.

For every profile a full-featured record (every optional field present) is decoded with
``telemedroom.devices.gatt`` and, in the same run, unpacked with a precompiled
``struct.Struct`` of the same fixed layout: the least any Python decoder must do. A third
column times building the validated pydantic model alone, from ready values: the floor
of any decoder that returns our domain models. A fourth times a ``SimpleNamespace`` with
the same fields: the floor of any decoder that returns a Python object at all.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_decode.py [--quick]``).
Prints a Markdown table; copy it into benchmarks/RESULTS.md with the date and machine.
"""

from __future__ import annotations

import argparse
import platform
import struct
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

from telemedroom import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)
from telemedroom.devices import gatt

AT = datetime(2026, 11, 24, 9, 15, 30, tzinfo=UTC)

# (name, full-featured reading, struct layout of its encoded bytes)
CASES: list[tuple[str, Measurement, str]] = [
    (
        "blood pressure 0x2A35",
        BloodPressure(
            systolic=128,
            diastolic=82,
            mean_arterial=97.3,
            pulse_rate=64,
            measured_at=AT,
            user_index=1,
            status=frozenset({"irregular_pulse", "body_movement"}),
        ),
        "<B3HH5BHBH",
    ),
    (
        "heart rate 0x2A37",
        HeartRate(bpm=300, energy_expended_kj=120, rr_intervals_s=(0.5, 0.25), sensor_contact=True),
        "<BHHHH",
    ),
    (
        "temperature 0x2A1C",
        BodyTemperature(value=36.8, site="tympanum", measured_at=AT),
        "<BIH5BB",
    ),
    (
        "PLX spot-check 0x2A5E",
        OxygenSaturation(
            spo2_percent=97,
            pulse_rate=65,
            pulse_amplitude_index=4.2,
            measured_at=AT,
            status=frozenset({"validated_data", "low_perfusion"}),
        ),
        "<BHHH5BH3sH",
    ),
    (
        "PLX continuous 0x2A5F",
        OxygenSaturation(
            spo2_percent=96,
            pulse_rate=66,
            continuous=True,
            spo2_fast_percent=96,
            pulse_rate_fast=67,
            spo2_slow_percent=97,
            pulse_rate_slow=65,
            pulse_amplitude_index=3.1,
            status=frozenset({"validated_data", "low_perfusion"}),
        ),
        "<B6HH3sH",
    ),
    (
        "weight 0x2A9D",
        BodyWeight(value=72.4, height=1.78, bmi=22.9, measured_at=AT, user_index=1),
        "<BHH5BBHH",
    ),
    (
        "glucose 0x2A18",
        BloodGlucose(
            value=104,
            sequence_number=42,
            sample_type="capillary_plasma",
            sample_location="finger",
            measured_at=AT,
            status=frozenset({"device_battery_low"}),
        ),
        "<BHH5BHBH",
    ),
]


def per_second(function: Callable[[], object], quick: bool) -> float:
    number = 20_000 if quick else 100_000
    best = min(timeit.repeat(function, number=number, repeat=3 if quick else 5))
    return number / best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations (for smoke tests)")
    args = parser.parse_args()

    print(f"Python {platform.python_version()} on {platform.machine()}, one core\n")
    print(
        "| profile | bytes | telemedroom readings/s | bare struct.unpack/s | ratio "
        "| model alone/s | plain object/s | struct vs plain object |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    failures = []
    for name, reading, layout in CASES:
        uuid = gatt.characteristic_of(reading)
        data = gatt.encode(reading)
        layout_struct = struct.Struct(layout)
        if layout_struct.size != len(data):
            failures.append(f"{name}: layout {layout} is {layout_struct.size} bytes, record is {len(data)}")
            continue
        decode = gatt.MEASUREMENT_CHARACTERISTICS[uuid]
        assert decode(data, UTC) == reading
        fields = reading.model_dump()
        model = type(reading)
        ours = per_second(lambda: decode(data, UTC), args.quick)  # noqa: B023
        baseline = per_second(lambda: layout_struct.unpack(data), args.quick)  # noqa: B023
        floor = per_second(lambda: model(**fields), args.quick)  # noqa: B023
        plain = per_second(lambda: SimpleNamespace(**fields), args.quick)  # noqa: B023
        print(
            f"| {name} | {len(data)} | {ours:,.0f} | {baseline:,.0f} | {baseline / ours:.1f}x "
            f"| {floor:,.0f} | {plain:,.0f} | {baseline / plain:.1f}x |"
        )
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
