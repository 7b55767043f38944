"""The domain models: frozen, strict, timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from telemedroom import BloodGlucose, BloodPressure, BodyWeight, GlucoseContext, HeartRate, Measurement


def test_models_are_frozen() -> None:
    reading = HeartRate(bpm=60)
    with pytest.raises(pydantic.ValidationError):
        reading.bpm = 61  # type: ignore[misc]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        BloodPressure(systolic=120, diastolic=80, systolc=1)  # type: ignore[call-arg]


def test_naive_times_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="timezone-aware"):
        HeartRate(bpm=60, measured_at=datetime(2026, 1, 1))
    assert HeartRate(bpm=60, measured_at=datetime(2026, 1, 1, tzinfo=UTC)).measured_at is not None


def test_defaults_and_units() -> None:
    assert BloodPressure(systolic=120, diastolic=80).unit == "mm[Hg]"
    assert BodyWeight(value=70).unit == "kg"
    assert BloodGlucose(value=5.5, unit="mmol/L", sequence_number=1).unit == "mmol/L"
    with pytest.raises(pydantic.ValidationError):
        BloodGlucose(value=5.5, unit="mg/l", sequence_number=1)  # type: ignore[arg-type]


def test_ranges_follow_the_wire() -> None:
    with pytest.raises(pydantic.ValidationError):
        Measurement(user_index=255)  # 0xFF is "unknown user" on the wire, i.e. None
    with pytest.raises(pydantic.ValidationError):
        HeartRate(bpm=-1)
    with pytest.raises(pydantic.ValidationError):
        GlucoseContext(exercise_duration_s=70000)


def test_kind_discriminates_json() -> None:
    reading = BloodPressure(systolic=120, diastolic=80, status=frozenset({"irregular_pulse"}))
    data = reading.model_dump(mode="json")
    assert data["kind"] == "blood_pressure"
    assert BloodPressure.model_validate_json(reading.model_dump_json()) == reading


def test_equal_instants_in_other_zones_are_equal() -> None:
    from zoneinfo import ZoneInfo

    berlin = datetime(2026, 7, 20, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    utc = datetime(2026, 7, 20, 7, 30, tzinfo=UTC)
    assert HeartRate(bpm=60, measured_at=berlin) == HeartRate(bpm=60, measured_at=utc)
