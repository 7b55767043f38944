"""The daily summary: data per quantity and alerts; a self-contained, escaped HTML page."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from telemedroom import BloodPressure, BodyWeight
from telemedroom.monitoring import CarePlan, Monitor, daily_summary, render_html, sparkline

BERLIN = ZoneInfo("Europe/Berlin")
HOSTILE = '<script>alert("x")</script> & "Müller" <img src=x onerror=1>'


def monitor_with_week(patient: str = "Patient/p1", message: str | None = None) -> Monitor:
    rule: dict[str, object] = {"type": "threshold", "id": "sys", "measurement": "blood_pressure",
                               "field": "systolic", "above": 180}  # fmt: skip
    if message:
        rule["message"] = message
    plan = CarePlan.parse({"patient": patient, "timezone": "Europe/Berlin", "care_team": "CareTeam/c",
                           "rules": [rule]})  # fmt: skip
    monitor = Monitor(plan, clock=lambda: datetime(2026, 11, 29, 20, tzinfo=BERLIN))

    async def week() -> None:
        for day in range(23, 30):
            at = datetime(2026, 11, day, 8, tzinfo=BERLIN)
            await monitor.ingest(BodyWeight(value=80 + (day - 23) * 0.3, measured_at=at))
            await monitor.ingest(
                BloodPressure(systolic=150 + (40 if day == 27 else 0), diastolic=85, measured_at=at)
            )
        await monitor.ingest(
            BodyWeight(value=78.0, measured_at=datetime(2026, 11, 10, 8, tzinfo=BERLIN))
        )  # old

    asyncio.run(week())
    return monitor


def test_summary_has_latest_values_trends_and_the_days_alerts() -> None:
    monitor = monitor_with_week()
    summary = daily_summary(monitor, date(2026, 11, 29))
    by_label = {s.label: s for s in summary.series}
    assert set(by_label) == {"Systolic blood pressure", "Diastolic blood pressure", "Body weight"}
    weight = by_label["Body weight"]
    assert round(weight.latest, 1) == 81.8
    assert round(weight.change or 0, 1) == 1.8  # over the 7-day window; the reading of 10 Nov is outside
    assert (weight.minimum, weight.readings_today, len(weight.points)) == (80.0, 1, 7)
    assert weight.latest_at == datetime(2026, 11, 29, 8, tzinfo=BERLIN)
    # the alert of the 27th is still active at the end of the 29th: it is listed
    assert [a.rule_id for a in summary.alerts] == ["sys"]
    assert summary.window_days == 7


def test_a_cleared_and_acknowledged_alert_of_another_day_is_not_listed() -> None:
    monitor = monitor_with_week()
    asyncio.run(
        monitor.ingest(
            BloodPressure(systolic=140, diastolic=80, measured_at=datetime(2026, 11, 28, 9, tzinfo=BERLIN))
        )
    )
    assert daily_summary(monitor, date(2026, 11, 29)).alerts[0].active is False  # cleared but unacknowledged
    asyncio.run(monitor.acknowledge(monitor.alerts[0].id, by="Practitioner/x"))
    assert daily_summary(monitor, date(2026, 11, 29)).alerts == ()
    assert len(daily_summary(monitor, date(2026, 11, 27)).alerts) == 1


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_patient_data_is_escaped_in_the_html() -> None:
    monitor = monitor_with_week(patient=f"Patient/{HOSTILE}", message=f"BP high {HOSTILE}")
    page = render_html(daily_summary(monitor, date(2026, 11, 29)))
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    text = "".join(parser.text)
    assert HOSTILE in text  # shown to the reader as text, not markup
    assert page.count("<svg") == 3
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained


@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    width=st.integers(40, 400),
    height=st.integers(10, 100),
)
def test_sparkline_points_stay_inside_the_box(values: list[float], width: int, height: int) -> None:
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    svg = sparkline([(t0 + timedelta(hours=i), v) for i, v in enumerate(values)], width=width, height=height)
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) == len(values)
    for point in points:
        x, y = map(float, point.split(","))
        assert 0 <= x <= width
        assert 0 <= y <= height
    assert sparkline([]).startswith("<svg")
