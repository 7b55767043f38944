"""Fixtures for the apartment tests: a configuration on a temporary data dir and a care plan."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from telemedroom.apartment import ApartmentConfig

PATIENT = "Patient/heart-failure-4711"
EXAMPLE = Path(__file__).parents[2] / "examples" / "health_apartment"
# The example apartment's care plan: the tests watch the same heart-failure patient by the
# same rules as the example does, so a change to the example's plan is tested here too.
CARE_PLAN = (EXAMPLE / "care-plan.toml").read_text("utf-8")
KEY = base64.b64encode(bytes(range(32))).decode()
CUFF, OXIMETER, SCALE, GLUCOMETER = (
    "C0:FF:EE:00:00:01",
    "C0:FF:EE:00:00:02",
    "C0:FF:EE:00:00:04",
    "C0:FF:EE:00:00:06",
)
DEVICES = [
    {"address": CUFF, "kind": "blood_pressure", "name": "Blutdruckmessgerät"},
    {"address": OXIMETER, "kind": "pulse_oximeter"},
    {"address": SCALE, "kind": "scale", "name": "Waage"},
    {"address": GLUCOMETER, "kind": "glucometer"},
]


def make_config(data_dir: Path, *, plan: str = CARE_PLAN, **values: Any) -> ApartmentConfig:
    """An apartment on ``data_dir`` with the heart-failure care plan and the four devices."""
    data_dir.mkdir(parents=True, exist_ok=True)
    plan_file = data_dir / "care-plan.toml"
    plan_file.write_text(plan)
    settings: dict[str, Any] = {
        "apartment_id": "apartment-2",
        "name": "Gesundheitswohnung 2",
        "patient": PATIENT,
        "care_plan": plan_file,
        "data_dir": data_dir,
        "encryption_key": KEY,
        "devices": DEVICES,
        "scan_window_s": 4.0,
        "quiet_after_s": 1.5,
        "revisit_after_s": 0.5,
        "device_timeout_s": 20.0,
    }
    settings.update(values)
    return ApartmentConfig.load(**settings)
