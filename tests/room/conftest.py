"""Fixtures for the room tests: a configuration in a temporary data dir, virtual devices.

The Bluetooth radio is :class:`telemedroom.testing.BumbleBackend` (bumble virtual
controllers: real GATT bytes, the DeviceManager's real code path); the FHIR server,
where a test wants one, is :class:`telemedroom.testing.FakeFhirServer` (a fake: an
in-process FHIR R4 server answering with real FHIR JSON).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from telemedroom import BloodGlucose, BloodPressure, BodyTemperature, BodyWeight, OxygenSaturation
from telemedroom.room import DeviceKind, RoomConfig, RoomEvent, SessionSettings
from telemedroom.testing import (
    VirtualBloodPressureCuff,
    VirtualDevice,
    VirtualGlucometer,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
)

KEY = base64.b64encode(bytes(range(32))).decode()
AT = datetime(2026, 11, 25, 9, 15, tzinfo=UTC)

# One virtual device per kind, each with the readings a patient would produce.
SCRIPTS: dict[DeviceKind, Any] = {
    "blood_pressure": lambda: VirtualBloodPressureCuff(
        [
            BloodPressure(systolic=152, diastolic=None, intermediate=True),
            BloodPressure(systolic=128, diastolic=82, mean_arterial=97.3, pulse_rate=64, measured_at=AT),
        ]
    ),
    "pulse_oximeter": lambda: VirtualPulseOximeter(
        [OxygenSaturation(spo2_percent=97, pulse_rate=65, measured_at=AT)]
    ),
    "thermometer": lambda: VirtualThermometer(
        [
            BodyTemperature(value=36.4, intermediate=True),
            BodyTemperature(value=36.8, site="tympanum", measured_at=AT),
        ]
    ),
    "scale": lambda: VirtualWeightScale([BodyWeight(value=72.4, measured_at=AT)]),
    "glucometer": lambda: VirtualGlucometer(
        records=[BloodGlucose(value=104, sequence_number=42, measured_at=AT, sample_type="capillary_plasma")]
    ),
}


def devices_for(kinds: Sequence[DeviceKind]) -> list[VirtualDevice]:
    return [SCRIPTS[kind]() for kind in kinds]


def make_config(
    data_dir: Path, devices: Sequence[DeviceKind] = ("blood_pressure",), **extra: Any
) -> RoomConfig:
    values: dict[str, Any] = {
        "room_id": "test-room",
        "name": "Test room",
        "data_dir": data_dir,
        "encryption_key": KEY,
        "devices": list(devices),
        "cleaning_buffer_minutes": 0,
        "device_timeout_s": 5,
        "session": SessionSettings(embedded=True),
    }
    return RoomConfig(**(values | extra))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "room"


def take_until(events: list[RoomEvent], kind: str) -> list[RoomEvent]:
    """The events up to and including the first of ``kind``."""
    for index, event in enumerate(events):
        if event.type == kind:
            return events[: index + 1]
    raise AssertionError(f"no {kind} event in {[e.type for e in events]}")
