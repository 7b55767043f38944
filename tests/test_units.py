"""Units for people, codes for machines: every screen writes a unit's display form, FHIR its UCUM code.

The browser half (the physician console) is tests/session/test_console_language.py.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, date, datetime

import pytest

from telemedroom import BloodGlucose, BloodPressure, BodyTemperature, BodyWeight, Measurement
from telemedroom._units import DISPLAY_UNITS, display_unit
from telemedroom.fhir.mapping import observation_json
from telemedroom.room import summary_of

AT = datetime(2026, 11, 25, 9, 15, tzinfo=UTC)


def _unit_codes(model: type[Measurement]) -> list[str]:
    """The UCUM codes the model's ``unit`` field may hold (its Literal)."""
    return list(typing.get_args(model.model_fields["unit"].annotation))


READINGS = [
    *(BloodPressure(systolic=128, diastolic=82, unit=u, measured_at=AT) for u in _unit_codes(BloodPressure)),
    *(BodyTemperature(value=36.8, unit=u, measured_at=AT) for u in _unit_codes(BodyTemperature)),
    *(BodyWeight(value=72.4, unit=u, measured_at=AT) for u in _unit_codes(BodyWeight)),
    *(BloodGlucose(value=5.8, unit=u, sequence_number=1, measured_at=AT) for u in _unit_codes(BloodGlucose)),
]


@pytest.mark.parametrize("reading", READINGS, ids=lambda r: f"{r.kind}-{r.unit}")
def test_the_kiosk_and_cli_line_shows_the_display_form_and_fhir_the_code(reading: Measurement) -> None:
    code = reading.unit  # type: ignore[attr-defined]
    line = summary_of(reading)
    assert line.endswith(f" {display_unit(code)}")
    assert "[" not in line
    assert "Cel" not in line
    observation = json.loads(observation_json(reading, patient="Patient/p1")[0])
    quantities = [observation.get("valueQuantity")] + [
        c.get("valueQuantity") for c in observation.get("component", [])
    ]
    assert {q["code"] for q in quantities if q} == {code}  # FHIR: the UCUM code, as before


def test_the_display_table_covers_every_bracketed_or_coded_unit_of_the_models() -> None:
    codes = {
        u for model in (BloodPressure, BodyTemperature, BodyWeight, BloodGlucose) for u in _unit_codes(model)
    }
    codes |= set(typing.get_args(BodyWeight.model_fields["height_unit"].annotation))
    for code in codes:
        shown = display_unit(code)
        assert "[" not in shown
        assert shown != "Cel"
    assert set(DISPLAY_UNITS) >= {"mm[Hg]", "Cel", "[degF]", "[lb_av]", "[in_i]"}


def test_the_daily_summary_and_alert_texts_show_mmhg() -> None:
    from tests.monitoring.test_summary import monitor_with_week

    from telemedroom.monitoring import daily_summary, render_html

    monitor = monitor_with_week()
    page = render_html(daily_summary(monitor, date(2026, 11, 29)))
    assert " mmHg</td>" in page
    assert "mm[Hg]" not in page
    assert "mm[Hg]" not in " ".join(alert.message for alert in monitor.alerts)
    assert all(alert.unit == "mm[Hg]" for alert in monitor.alerts)  # the Alert keeps the code
