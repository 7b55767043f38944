"""Care plans are data: TOML and JSON files, validated, with errors that name the bad key."""

from __future__ import annotations

import json
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import errors
from telemedroom.monitoring import CarePlan, MissedMeasurementRule, ThresholdRule, TrendRule, load_care_plan

PLAN_TOML = """
patient = "Patient/p-4711"
timezone = "Europe/Berlin"
care_team = "CareTeam/health-apartment-2"

[[rules]]
type = "threshold"
id = "systolic"
measurement = "blood_pressure"
field = "systolic"
above = 180
below = 90
hysteresis = 5

[[rules]]
type = "threshold"
id = "spo2-low"
measurement = "oxygen_saturation"
field = "spo2_percent"
below = 92
severity = "high"

[[rules]]
type = "trend"
id = "weight-gain"
measurement = "body_weight"
field = "value"
rise = 2.0
within = "P3D"
message = "Weight gain > 2 kg in 3 days: check for fluid retention"

[[rules]]
type = "missed"
id = "bp-morning"
measurement = "blood_pressure"
due = 10:00:00
severity = "moderate"

[[escalation]]
after = "PT30M"
to = "PractitionerRole/on-call-nurse"

[[escalation]]
after = "PT2H"
to = "PractitionerRole/on-call-physician"
"""


def test_a_toml_care_plan_loads_with_every_rule_kind(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(PLAN_TOML)
    plan = load_care_plan(path)
    systolic, spo2, gain, morning = plan.rules
    assert isinstance(systolic, ThresholdRule)
    assert (systolic.above, systolic.below, systolic.hysteresis, systolic.unit) == (180, 90, 5, "mm[Hg]")
    assert isinstance(spo2, ThresholdRule)
    assert spo2.unit == "%"
    assert isinstance(gain, TrendRule)
    assert gain.within == timedelta(days=3)
    assert gain.unit == "kg"
    assert isinstance(morning, MissedMeasurementRule)
    assert morning.due == time(10)
    assert [s.to for s in plan.escalation] == [
        "PractitionerRole/on-call-nurse",
        "PractitionerRole/on-call-physician",
    ]
    assert plan.rule("spo2-low") is spo2


def test_the_same_plan_as_json_is_equal(tmp_path: Path) -> None:
    toml_path = tmp_path / "plan.toml"
    toml_path.write_text(PLAN_TOML)
    plan = load_care_plan(toml_path)
    json_path = tmp_path / "plan.json"
    json_path.write_text(json.dumps(plan.model_dump(mode="json")))
    assert load_care_plan(json_path) == plan


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"rules": [{"type": "threshold", "id": "t", "measurement": "heart_rate", "field": "bpm"}]},
         "rules.0(t).threshold", "needs 'above', 'below' or both"),
        ({"rules": [{"type": "threshold", "id": "t", "measurement": "heart_rate", "field": "systolic",
                     "above": 1}]},
         "rules.0(t).threshold", "heart_rate has no field 'systolic'"),
        ({"rules": [{"type": "threshold", "id": "t", "measurement": "heart_rate", "field": "bpm",
                     "above": "high"}]},
         "rules.0(t).threshold.above", "valid number"),
        ({"rules": [{"type": "trend", "id": "w", "measurement": "body_weight", "field": "value", "rise": 2}]},
         "rules.0(w).trend.within", "Field required"),
        ({"rules": [{"type": "sometimes", "id": "x", "measurement": "heart_rate"}]},
         "rules.0(x)", "does not match any of the expected tags"),
        ({"rules": [{"type": "missed", "id": "m", "measurement": "blood_pressure", "due": "25:00"}]},
         "rules.0(m).missed.due", "valid time"),
        ({"timezone": "Europe/Bonn"}, "timezone", "unknown IANA time zone 'Europe/Bonn'"),
        ({"escalation": [{"after": "PT1H", "to": "a"}, {"after": "PT30M", "to": "b"}]},
         "(plan)", "strictly increasing"),
        ({"rules": [{"type": "missed", "id": "m", "measurement": "blood_pressure", "due": "10:00"}] * 2},
         "(plan)", "rule id 'm' is used twice"),
    ],
)  # fmt: skip
def test_a_bad_plan_names_the_key(change: dict[str, object], key: str, reason: str) -> None:
    data = {"patient": "Patient/p1", "care_team": "CareTeam/c", "rules": [], **change}
    with pytest.raises(errors.CarePlanError) as info:
        CarePlan.parse(data, source="plan.toml")
    assert info.value.key == key
    assert reason in info.value.reason
    assert info.value.source == "plan.toml"
    assert isinstance(info.value.__cause__, Exception)
    assert isinstance(info.value, ValueError)


def test_file_problems_are_care_plan_errors(tmp_path: Path) -> None:
    with pytest.raises(errors.CarePlanError, match="cannot read"):
        load_care_plan(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("patient = ")
    with pytest.raises(errors.CarePlanError, match="not valid TOML") as info:
        load_care_plan(broken)
    assert info.value.source == str(broken)
    yaml = tmp_path / "plan.yaml"
    yaml.write_text("patient: x")
    with pytest.raises(errors.CarePlanError, match=r"\.toml or \.json"):
        load_care_plan(yaml)
    listing = tmp_path / "plan.json"
    listing.write_text("[]")
    with pytest.raises(errors.CarePlanError, match="top level"):
        load_care_plan(listing)


def test_asking_for_an_unknown_rule_is_a_care_plan_error() -> None:
    plan = CarePlan.parse({"patient": "Patient/p1", "care_team": "CareTeam/c", "rules": []})
    with pytest.raises(errors.CarePlanError) as info:
        plan.rule("nope")
    assert info.value.key == "nope"


def _toml(value: object) -> str:
    """A tiny TOML writer for the plan's shapes (the standard library only reads TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)  # strings: JSON escapes are valid TOML basic strings


def plan_as_toml(data: dict[str, Any]) -> str:
    lines = [f"{key} = {_toml(value)}" for key, value in data.items() if not isinstance(value, list)]
    lines += [f"{key} = []" for key, value in data.items() if value == []]  # no [[table]] for none
    for table in ("rules", "escalation"):
        for item in data.get(table, []):
            lines.append(f"[[{table}]]")
            lines += [f"{key} = {_toml(value)}" for key, value in item.items() if value is not None]
    return "\n".join(lines) + "\n"


fields = st.sampled_from(
    [("blood_pressure", "systolic"), ("oxygen_saturation", "spo2_percent"), ("body_weight", "value"),
     ("heart_rate", "bpm"), ("blood_glucose", "value")]
)  # fmt: skip
limits = st.integers(-50, 300).map(float)
thresholds = st.builds(
    lambda kf, a, b, h: {"type": "threshold", "measurement": kf[0], "field": kf[1], "above": max(a, b) + 1,
                         "below": min(a, b), "hysteresis": h},
    fields, limits, limits, st.sampled_from([0.0, 0.5, 5.0]),
)  # fmt: skip
trends = st.builds(
    lambda kf, rise, hours: {"type": "trend", "measurement": kf[0], "field": kf[1], "rise": rise,
                             "within": f"PT{hours}H"},
    fields, st.integers(1, 20).map(float), st.integers(1, 24 * 14),
)  # fmt: skip
missed = st.builds(
    lambda kind, due: {"type": "missed", "measurement": kind, "due": due.isoformat(), "severity": "moderate"},
    st.sampled_from(["blood_pressure", "body_weight"]), st.times().map(lambda t: t.replace(microsecond=0)),
)  # fmt: skip


@given(
    rules=st.lists(st.one_of(thresholds, trends, missed), max_size=6),
    zone=st.sampled_from(["Europe/Berlin", "UTC", "America/New_York"]),
    afters=st.lists(st.integers(1, 600), max_size=3, unique=True).map(sorted),
)
def test_any_plan_survives_json_and_toml(rules: list[dict[str, Any]], zone: str, afters: list[int]) -> None:
    data = {
        "patient": 'Patient/"quoted" \\ ünïcode',
        "timezone": zone,
        "care_team": "CareTeam/c",
        "rules": [{**rule, "id": f"rule-{i}"} for i, rule in enumerate(rules)],
        "escalation": [{"after": f"PT{m}M", "to": f"PractitionerRole/s{m}"} for m in afters],
    }
    plan = CarePlan.parse(data)
    assert CarePlan.parse(json.loads(json.dumps(plan.model_dump(mode="json")))) == plan
    assert CarePlan.parse(tomllib.loads(plan_as_toml(data))) == plan
