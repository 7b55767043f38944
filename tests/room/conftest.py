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

from telemedroom.room import DeviceKind, RoomConfig, RoomEvent, SessionSettings
from telemedroom.testing import VirtualDevice, virtual_devices

KEY = base64.b64encode(bytes(range(32))).decode()
AT = datetime(2026, 11, 25, 9, 15, tzinfo=UTC)


def devices_for(kinds: Sequence[DeviceKind]) -> list[VirtualDevice]:
    """One virtual device per kind with a plausible visit (the demo's and the benchmarks' own)."""
    return virtual_devices(UTC, list(kinds), at=AT)


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
