"""A short line of text per reading, for the kiosk and the CLI (a table, not branches)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from telemedroom._units import display_unit
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

__all__ = ["summary_of"]


# UCUM codes as people write them (one table for every screen)
_u = display_unit


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


_SUMMARY: Final[Mapping[type[Measurement], Callable[[Any], str]]] = {
    BloodPressure: lambda m: f"{_n(m.systolic)}/{_n(m.diastolic)} {_u(m.unit)}",
    HeartRate: lambda m: f"{m.bpm} /min",
    OxygenSaturation: lambda m: f"SpO2 {_n(m.spo2_percent)} %",
    BodyTemperature: lambda m: f"{_n(m.value)} {_u(m.unit)}",
    BodyWeight: lambda m: f"{_n(m.value)} {_u(m.unit)}",
    BloodGlucose: lambda m: f"{_n(m.value)} {_u(m.unit)}",
}


def summary_of(reading: Measurement) -> str:
    """E.g. ``128/82 mmHg``.

    Examples:
        >>> from telemedroom import BloodPressure
        >>> summary_of(BloodPressure(systolic=128, diastolic=82))
        '128/82 mmHg'
    """
    line = _SUMMARY.get(type(reading))
    return line(reading) if line is not None else type(reading).__name__
