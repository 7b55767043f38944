"""A patient's care plan as data: threshold, trend and missed-measurement rules, escalation."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from telemedroom.errors import CarePlanError
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

Kind = Literal[
    "blood_pressure", "heart_rate", "oxygen_saturation", "body_temperature", "body_weight", "blood_glucose"
]
Severity = Literal["low", "moderate", "high"]


def _bp(m: Measurement, attr: str) -> float | None:
    assert isinstance(m, BloodPressure)
    value: float | None = getattr(m, attr)
    # 1 kPa = 7.500 616 8 mmHg (ISO 80000-4; UCUM defines mm[Hg] as 133.322 Pa).
    return None if value is None else (value * 7.5006168 if m.unit == "kPa" else value)


def _weight(m: Measurement) -> float | None:
    assert isinstance(m, BodyWeight)
    # The international avoirdupois pound is exactly 0.453 592 37 kg.
    return None if m.value is None else (m.value * 0.45359237 if m.unit == "[lb_av]" else m.value)


def _temperature(m: Measurement) -> float | None:
    assert isinstance(m, BodyTemperature)
    return None if m.value is None else ((m.value - 32) * 5 / 9 if m.unit == "[degF]" else m.value)


def _glucose(m: Measurement) -> float | None:
    assert isinstance(m, BloodGlucose)
    # Glucose molar mass 180.156 g/mol: 1 mmol/L = 18.0156 mg/dL.
    return None if m.value is None else (m.value * 18.0156 if m.unit == "mmol/L" else m.value)


# (kind, field) -> (unit the rule is written in, read the value in that unit).
FIELDS: Final[dict[tuple[str, str], tuple[str, Callable[[Measurement], float | None]]]] = {
    ("blood_pressure", "systolic"): ("mm[Hg]", lambda m: _bp(m, "systolic")),
    ("blood_pressure", "diastolic"): ("mm[Hg]", lambda m: _bp(m, "diastolic")),
    ("blood_pressure", "mean_arterial"): ("mm[Hg]", lambda m: _bp(m, "mean_arterial")),
    ("blood_pressure", "pulse_rate"): (
        "/min",
        lambda m: m.pulse_rate if isinstance(m, BloodPressure) else None,
    ),
    ("heart_rate", "bpm"): ("/min", lambda m: float(m.bpm) if isinstance(m, HeartRate) else None),
    ("oxygen_saturation", "spo2_percent"): (
        "%",
        lambda m: m.spo2_percent if isinstance(m, OxygenSaturation) else None,
    ),
    ("oxygen_saturation", "pulse_rate"): (
        "/min",
        lambda m: m.pulse_rate if isinstance(m, OxygenSaturation) else None,
    ),
    ("body_temperature", "value"): ("Cel", _temperature),
    ("body_weight", "value"): ("kg", _weight),
    ("body_weight", "bmi"): ("kg/m2", lambda m: m.bmi if isinstance(m, BodyWeight) else None),
    ("blood_glucose", "value"): ("mg/dL", _glucose),
}


# (kind, field) -> what clinic staff call it.
LABELS: Final[dict[tuple[str, str], str]] = {
    ("blood_pressure", "systolic"): "systolic blood pressure",
    ("blood_pressure", "diastolic"): "diastolic blood pressure",
    ("blood_pressure", "mean_arterial"): "mean arterial pressure",
    ("blood_pressure", "pulse_rate"): "pulse (cuff)",
    ("heart_rate", "bpm"): "heart rate",
    ("oxygen_saturation", "spo2_percent"): "SpO2",
    ("oxygen_saturation", "pulse_rate"): "pulse (oximeter)",
    ("body_temperature", "value"): "body temperature",
    ("body_weight", "value"): "body weight",
    ("body_weight", "bmi"): "BMI",
    ("blood_glucose", "value"): "blood glucose",
}


def read_value(measurement: Measurement, kind: str, field: str) -> float | None:
    """The value a rule on ``(kind, field)`` sees in a reading, in the rule's unit.

    ``None`` when the reading is of another kind, intermediate (a cuff inflating, a
    thermometer settling) or carries no value.

    Examples:
        >>> from telemedroom import BloodPressure
        >>> cuff = BloodPressure(systolic=24.0, diastolic=12.0, unit="kPa")
        >>> round(read_value(cuff, "blood_pressure", "systolic"), 3)
        180.015
    """
    if getattr(measurement, "kind", None) != kind or getattr(measurement, "intermediate", False):
        return None
    return FIELDS[(kind, field)][1](measurement)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Rule(_Model):
    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    measurement: Kind
    severity: Severity = "high"
    message: str | None = None


class _FieldRule(_Rule):
    field: str

    @model_validator(mode="after")
    def _known_field(self) -> _FieldRule:
        if (self.measurement, self.field) not in FIELDS:
            known = sorted(f for k, f in FIELDS if k == self.measurement)
            raise ValueError(f"{self.measurement} has no field {self.field!r}; one of {known}")
        return self

    @property
    def unit(self) -> str:
        """The UCUM unit the rule's numbers are in (readings are converted to it)."""
        return FIELDS[(self.measurement, self.field)][0]


class ThresholdRule(_FieldRule):
    """Alert when a value is above ``above`` or below ``below``.

    Hysteresis: once raised, the alert clears only when a reading is back inside the
    band by ``hysteresis`` (at most ``above - hysteresis`` and at least ``below +
    hysteresis``); readings between that and the threshold keep the one alert active,
    so a value wobbling around the limit does not raise a stream of alerts.

    Examples:
        >>> rule = ThresholdRule(id="sys", measurement="blood_pressure", field="systolic",
        ...                      above=180, below=90, hysteresis=5)
        >>> rule.breached(181), rule.breached(180), rule.cleared(176), rule.cleared(174)
        (True, False, False, True)
    """

    type: Literal["threshold"] = "threshold"
    above: float | None = None
    below: float | None = None
    hysteresis: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _has_limit(self) -> ThresholdRule:
        if self.above is None and self.below is None:
            raise ValueError("a threshold rule needs 'above', 'below' or both")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(f"'below' ({self.below}) must be less than 'above' ({self.above})")
        return self

    def breached(self, value: float) -> bool:
        """Whether ``value`` is outside the limits."""
        return (self.above is not None and value > self.above) or (
            self.below is not None and value < self.below
        )

    def cleared(self, value: float) -> bool:
        """Whether ``value`` is inside the limits by at least the hysteresis."""
        high_ok = self.above is None or value <= self.above - self.hysteresis
        low_ok = self.below is None or value >= self.below + self.hysteresis
        return high_ok and low_ok


class TrendRule(_FieldRule):
    """Alert when a value rose (or fell) by more than a limit within a time window.

    The change at a reading is measured against the lowest (for ``rise``) or highest
    (for ``fall``) value of the readings taken within ``within`` before it, itself
    included. Weight gain of more than 2 kg within 3 days (heart failure) is
    ``rise=2, within="P3D"``. The alert clears when the change is at most the limit
    minus ``hysteresis``.

    Examples:
        >>> rule = TrendRule(id="weight", measurement="body_weight", field="value", rise=2, within="P3D")
        >>> rule.within, rule.breached([80.0, 81.0, 82.5])
        (datetime.timedelta(days=3), True)
    """

    type: Literal["trend"] = "trend"
    rise: Annotated[float, Field(gt=0)] | None = None
    fall: Annotated[float, Field(gt=0)] | None = None
    within: timedelta
    hysteresis: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _has_limit(self) -> TrendRule:
        if self.rise is None and self.fall is None:
            raise ValueError("a trend rule needs 'rise', 'fall' or both")
        if self.within <= timedelta(0):
            raise ValueError("'within' must be a positive duration")
        return self

    def change(self, window: list[float]) -> tuple[float, float]:
        """(rise, fall) of the last value of ``window`` against the window's minimum/maximum."""
        last = window[-1]
        return last - min(window), max(window) - last

    def breached(self, window: list[float]) -> bool:
        """Whether the last value of ``window`` (oldest first) breaks the rule."""
        rise, fall = self.change(window)
        return (self.rise is not None and rise > self.rise) or (self.fall is not None and fall > self.fall)

    def cleared(self, window: list[float]) -> bool:
        """Whether the change is back within the limits by at least the hysteresis."""
        rise, fall = self.change(window)
        rise_ok = self.rise is None or rise <= self.rise - self.hysteresis
        fall_ok = self.fall is None or fall <= self.fall - self.hysteresis
        return rise_ok and fall_ok


class MissedMeasurementRule(_Rule):
    """Alert when no reading of a kind was taken on a day by a local time of day.

    ``due`` is wall-clock time in the care plan's ``timezone``; on a day when the clocks
    change it is still that wall-clock time (10:00 is 10:00 on both DST days in
    Europe/Berlin). The deadline is the first instant at which the local clock shows
    ``due`` or later on that day: a due time inside the spring-forward gap (02:30 on
    the last Sunday of March) is the moment the clocks jump (03:00 CEST), an ambiguous
    one (in the repeated autumn hour) its first occurrence. The alert for a
    day clears when a reading of that kind taken on or after that day's start arrives.

    Examples:
        >>> rule = MissedMeasurementRule(id="bp-morning", measurement="blood_pressure", due="10:00")
        >>> rule.due
        datetime.time(10, 0)
    """

    type: Literal["missed"] = "missed"
    due: time

    @field_validator("due")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("'due' is a wall-clock time in the plan's timezone; give it without an offset")
        return value


Rule = Annotated[ThresholdRule | TrendRule | MissedMeasurementRule, Field(discriminator="type")]


class EscalationStep(_Model):
    """Who is told next when an alert is still not acknowledged ``after`` it was raised.

    Examples:
        >>> EscalationStep(after="PT30M", to="PractitionerRole/on-call-physician").after
        datetime.timedelta(seconds=1800)
    """

    after: timedelta
    to: Annotated[str, Field(min_length=1)]

    @field_validator("after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("'after' must be a positive duration")
        return value


class CarePlan(_Model):
    """One patient's monitoring rules, their care team and the escalation chain.

    Attributes:
        patient: The FHIR reference of the patient (``"Patient/123"``).
        timezone: IANA zone of the patient's home; missed-measurement times are local to it.
        care_team: Who receives alerts first (a FHIR reference: ``CareTeam/...``,
            ``PractitionerRole/...``).
        rules: The rules; their ids are unique.
        escalation: Steps in increasing ``after``: when an alert is still not
            acknowledged that long after it was raised, it goes to ``to`` as well.

    Examples:
        >>> plan = CarePlan.model_validate({
        ...     "patient": "Patient/p1", "timezone": "Europe/Berlin", "care_team": "CareTeam/ward-3",
        ...     "rules": [{"type": "threshold", "id": "spo2-low", "measurement": "oxygen_saturation",
        ...                "field": "spo2_percent", "below": 92}]})
        >>> plan.rules[0].below, plan.zone.key
        (92.0, 'Europe/Berlin')
    """

    patient: Annotated[str, Field(min_length=1)]
    timezone: str = "UTC"
    care_team: Annotated[str, Field(min_length=1)]
    rules: tuple[Rule, ...]
    escalation: tuple[EscalationStep, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CarePlan:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        afters = [step.after for step in self.escalation]
        if afters != sorted(set(afters)):
            raise ValueError("escalation steps must have strictly increasing 'after'")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The patient's time zone."""
        return ZoneInfo(self.timezone)

    def rule(self, rule_id: str) -> ThresholdRule | TrendRule | MissedMeasurementRule:
        """The rule with this id.

        Raises:
            CarePlanError: There is none.
        """
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise CarePlanError(rule_id, "no such rule in the care plan")

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, source: str | None = None) -> CarePlan:
        """Validate a care plan from plain data, turning problems into :class:`CarePlanError`.

        The error names the first bad key as a dotted path (rules by position and id).

        Examples:
            >>> try:
            ...     CarePlan.parse({"patient": "Patient/p1", "care_team": "CareTeam/c",
            ...                     "rules": [{"type": "threshold", "id": "t", "measurement": "heart_rate",
            ...                                "field": "bpm", "abvoe": 120}]})
            ... except CarePlanError as exc:
            ...     print(exc.key)
            rules.0(t).threshold.abvoe
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            location = [str(part) for part in error["loc"]]
            rules = data.get("rules")
            if (
                len(location) >= 2
                and location[0] == "rules"
                and location[1].isdigit()
                and isinstance(rules, list)
            ):
                index = int(location[1])
                rule = rules[index] if index < len(rules) else None
                if isinstance(rule, Mapping) and "id" in rule:
                    location[1] = f"{index}({rule['id']})"
            key = ".".join(location) or "(plan)"
            raise CarePlanError(key, error["msg"], source=source) from exc


def load_care_plan(path: str | Path) -> CarePlan:
    """Read a care plan from a TOML or JSON file (by its suffix).

    Raises:
        CarePlanError: The file cannot be read or parsed, or the plan is malformed; the
            error names the key.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "plan.toml"
        >>> _ = path.write_text('''
        ... patient = "Patient/p1"
        ... timezone = "Europe/Berlin"
        ... care_team = "CareTeam/ward-3"
        ... [[rules]]
        ... type = "missed"
        ... id = "bp-by-10"
        ... measurement = "blood_pressure"
        ... due = 10:00:00
        ... ''')
        >>> load_care_plan(path).rules[0].due
        datetime.time(10, 0)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CarePlanError("(file)", f"cannot read: {exc.strerror or exc}", source=str(path)) from exc
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise CarePlanError("(file)", "a care plan file ends in .toml or .json", source=str(path))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise CarePlanError(
            "(file)", f"not valid {path.suffix[1:].upper()}: {exc}", source=str(path)
        ) from exc
    if not isinstance(data, dict):
        raise CarePlanError("(plan)", "the top level must be a table/object", source=str(path))
    return CarePlan.parse(data, source=str(path))


_UTC: Final = ZoneInfo("UTC")


def deadline(day: date, due: time, zone: ZoneInfo) -> datetime:
    """The first instant at which the local clock in ``zone`` shows ``due`` or later on ``day``.

    Returned in UTC: aware datetimes in an ambiguous local hour never compare equal to
    another zone's (PEP 495), so instants are kept in UTC.

    Examples:
        >>> berlin = ZoneInfo("Europe/Berlin")
        >>> deadline(date(2026, 3, 29), time(2, 30), berlin).astimezone(berlin).isoformat()
        '2026-03-29T03:00:00+02:00'
        >>> deadline(date(2026, 10, 25), time(2, 30), berlin).isoformat()
        '2026-10-25T00:30:00+00:00'
    """
    wall = datetime.combine(day, due, tzinfo=zone)  # fold=0: the first occurrence
    after = wall.astimezone(_UTC)
    if after.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return after
    # ``due`` falls into a gap (PEP 495: fold=0 read it with the offset before the jump,
    # fold=1 with the one after): the deadline is the jump itself, found between the two.
    before = wall.replace(fold=1).astimezone(_UTC)
    low, high = min(before, after), max(before, after)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall.replace(tzinfo=None):
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)
