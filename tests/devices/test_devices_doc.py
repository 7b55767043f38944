"""The supported-devices page names every characteristic, flag and code the decoders know."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemedroom.devices import codecs, gatt

PAGE = (Path(__file__).parents[2] / "docs" / "devices.md").read_text(encoding="utf-8")

STATUS_TABLES = [
    gatt.blood_pressure.MEASUREMENT_STATUS,
    gatt.pulse_oximeter.MEASUREMENT_STATUS,
    gatt.pulse_oximeter.DEVICE_AND_SENSOR_STATUS,
    gatt.glucose.SENSOR_STATUS,
    gatt.current_time.ADJUST_REASONS,
]
CODE_TABLES = [
    gatt.health_thermometer.TEMPERATURE_TYPES,
    gatt.glucose.SAMPLE_TYPES,
    gatt.glucose.SAMPLE_LOCATIONS,
    gatt.glucose.CARBOHYDRATES,
    gatt.glucose.MEALS,
    gatt.glucose.TESTERS,
    gatt.glucose.HEALTH,
    gatt.glucose.MEDICATIONS,
]
NAMES = sorted(
    {name for table in STATUS_TABLES for _, name in table}
    | {name for table in CODE_TABLES for name in table.values()}
    | {special.value for special in codecs.Special}
    | {
        "device_clock_not_set",
        "device_clock_corrected",
        "measurement_unsuccessful",
        "temperature_type_reserved",
        "pulse_rate_exceeds_upper_limit",
        "pulse_rate_below_lower_limit",
    }
)


@pytest.mark.parametrize("name", NAMES)
def test_every_flag_and_code_is_documented(name: str) -> None:
    assert f"`{name}`" in PAGE


@pytest.mark.parametrize("uuid", sorted(gatt.MEASUREMENT_CHARACTERISTICS))
def test_every_measurement_characteristic_is_documented(uuid: int) -> None:
    assert f"0x{uuid:04X}" in PAGE
