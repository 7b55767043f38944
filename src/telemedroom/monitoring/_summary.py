"""The daily summary of one patient: latest values, trends and alerts, as data and as HTML."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Annotated, Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from telemedroom._units import display_unit
from telemedroom.monitoring._alerts import Alert, Aware
from telemedroom.monitoring._careplan import FIELDS, LABELS, deadline
from telemedroom.monitoring._monitor import Monitor


class SeriesSummary(BaseModel):
    """One measured quantity over the summary's window.

    Attributes:
        kind: Measurement kind (``"body_weight"``).
        field: The field (``"value"``).
        label: A human name ("Body weight").
        unit: UCUM unit.
        latest: The latest value up to the end of the day.
        latest_at: When it was taken.
        change: Latest minus the first value of the window (``None`` with one reading).
        minimum: Lowest value in the window.
        maximum: Highest value in the window.
        readings_today: How many readings were taken on the summary's day.
        points: ``(taken at, value)`` over the window, oldest first (for the plot).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    field: str
    label: str
    unit: str
    latest: float
    latest_at: Aware
    change: float | None
    minimum: float
    maximum: float
    readings_today: Annotated[int, Field(ge=0)]
    points: tuple[tuple[Aware, float], ...]


class DailySummary(BaseModel):
    """What clinic staff read about one patient for one day.

    Attributes:
        patient: FHIR reference of the patient.
        day: The local day summarised.
        timezone: The patient's IANA zone.
        window_days: How many days back the trends look (the day included).
        series: One entry per quantity measured within the window.
        alerts: Alerts raised on the day, or still active or unacknowledged at its end.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    patient: str
    day: date
    timezone: str
    window_days: Annotated[int, Field(ge=1)]
    series: tuple[SeriesSummary, ...]
    alerts: tuple[Alert, ...]


def daily_summary(monitor: Monitor, day: date, *, window_days: int = 7) -> DailySummary:
    """Summarise what ``monitor`` knows about its patient for the local ``day``.

    Examples:
        >>> import asyncio
        >>> from datetime import date, datetime
        >>> from telemedroom import BodyWeight
        >>> from telemedroom.monitoring import CarePlan
        >>> plan = CarePlan.parse({"patient": "Patient/p1", "timezone": "Europe/Berlin",
        ...                        "care_team": "CareTeam/c", "rules": []})
        >>> monitor = Monitor(plan)
        >>> async def feed():
        ...     for d, kg in ((23, 81.0), (24, 81.4), (25, 82.2)):
        ...         at = datetime(2026, 11, d, 7, tzinfo=plan.zone)
        ...         await monitor.ingest(BodyWeight(value=kg, measured_at=at))
        >>> asyncio.run(feed())
        >>> weight = daily_summary(monitor, date(2026, 11, 25)).series[0]
        >>> weight.label, weight.latest, round(weight.change, 1), weight.readings_today
        ('Body weight', 82.2, 1.2, 1)
    """
    zone = monitor.plan.zone
    start = deadline(day - timedelta(days=window_days - 1), time(0), zone)
    day_start = deadline(day, time(0), zone)
    end = deadline(day + timedelta(days=1), time(0), zone)
    series = []
    for key in FIELDS:
        points = [(t, v) for t, v in monitor.series(*key) if start <= t < end]
        if not points:
            continue
        values = [v for _t, v in points]
        series.append(
            SeriesSummary(
                kind=key[0],
                field=key[1],
                label=LABELS[key][:1].upper() + LABELS[key][1:],
                unit=FIELDS[key][0],
                latest=values[-1],
                latest_at=points[-1][0],
                change=values[-1] - values[0] if len(values) > 1 else None,
                minimum=min(values),
                maximum=max(values),
                readings_today=sum(1 for t, _v in points if t >= day_start),
                points=tuple(points),
            )
        )
    alerts = tuple(
        alert
        for alert in monitor.alerts
        if day_start <= alert.raised_at < end
        or (
            alert.raised_at < end
            and (alert.cleared_at is None or alert.cleared_at >= end or not alert.acknowledged)
        )
    )
    return DailySummary(
        patient=monitor.plan.patient,
        day=day,
        timezone=monitor.plan.timezone,
        window_days=window_days,
        series=tuple(series),
        alerts=alerts,
    )


def sparkline(points: Sequence[tuple[datetime, float]], *, width: int = 160, height: int = 36) -> str:
    """A small inline SVG line plot of ``(time, value)`` points, the last one marked.

    Hand-written rather than a plotting library: a polyline and a circle are all a
    sparkline needs, and the summary stays dependency-free and self-contained.

    Examples:
        >>> from datetime import datetime, UTC
        >>> svg = sparkline([(datetime(2026, 11, d, tzinfo=UTC), v) for d, v in ((1, 80), (2, 82), (3, 81))])
        >>> svg.startswith("<svg") and "polyline" in svg
        True
    """
    pad = 3.0
    if not points:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"></svg>'
    t0 = points[0][0].timestamp()
    span_t = (points[-1][0].timestamp() - t0) or 1.0
    values = [v for _t, v in points]
    low, high = min(values), max(values)
    span_v = (high - low) or 1.0

    def xy(at: datetime, value: float) -> tuple[float, float]:
        x = pad + (at.timestamp() - t0) / span_t * (width - 2 * pad)
        # a flat series (or a single reading) sits in the middle, not on the floor
        y = height / 2 if high == low else height - pad - (value - low) / span_v * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    coords = [xy(t, v) for t, v in points]
    line = " ".join(f"{x},{y}" for x, y in coords)
    last_x, last_y = coords[-1]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="trend, {len(points)} readings">'
        f'<polyline fill="none" stroke="#00796b" stroke-width="1.5" points="{line}"/>'
        f'<circle cx="{last_x}" cy="{last_y}" r="2.5" fill="#004d40"/></svg>'
    )


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


STYLE: Final = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#212121}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}"
    "th,td{border-bottom:1px solid #ddd;padding:.4rem .8rem;text-align:left;vertical-align:middle}"
    ".high{color:#b71c1c;font-weight:600}.moderate{color:#e65100}.low{color:#33691e}"
)


def render_html(summary: DailySummary) -> str:
    """The summary as one self-contained HTML page (inline CSS and SVG, no scripts).

    Every text that comes from data (patient, messages, names) is HTML-escaped.

    Examples:
        >>> from datetime import date
        >>> page = render_html(DailySummary(patient="Patient/<b>", day=date(2026, 11, 25),
        ...                                 timezone="Europe/Berlin", window_days=7, series=(), alerts=()))
        >>> "Patient/&lt;b&gt;" in page, "<b>" in page
        (True, False)
    """
    zone = summary.timezone
    title = f"Daily summary {summary.day.isoformat()} \N{EN DASH} {summary.patient}"
    rows = []
    for s in summary.series:
        change = "\N{EN DASH}" if s.change is None else f"{s.change:+.1f}"
        rows.append(
            "<tr>"
            f"<td>{escape(s.label)}</td>"
            f"<td>{escape(_num(s.latest))} {escape(display_unit(s.unit))}</td>"
            f"<td>{escape(s.latest_at.astimezone(ZoneInfo(zone)).strftime('%a %d %b %H:%M'))}</td>"
            f"<td>{escape(change)}</td>"
            f"<td>{escape(_num(s.minimum))}\N{EN DASH}{escape(_num(s.maximum))}</td>"
            f"<td>{s.readings_today}</td>"
            f"<td>{sparkline(s.points)}</td>"
            "</tr>"
        )
    alerts = []
    for a in summary.alerts:
        state = "active" if a.active else "cleared"
        ack = f"acknowledged by {a.acknowledged_by}" if a.acknowledged_by else "not acknowledged"
        alerts.append(
            "<tr>"
            f"<td>{escape(a.raised_at.astimezone(ZoneInfo(zone)).strftime('%a %d %b %H:%M'))}</td>"
            f'<td class="{escape(a.severity)}">{escape(a.severity)}</td>'
            f"<td>{escape(a.message)}</td>"
            f"<td>{escape(state)}, {escape(ack)}, escalation level {a.escalation_level}</td>"
            "</tr>"
        )
    no_alerts = "<p>No alerts.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>Times in {escape(zone)}; trends over the last {summary.window_days} days.</p>"
        "<h2>Measurements</h2><table><thead><tr><th>Quantity</th><th>Latest</th><th>Taken</th>"
        f"<th>Change</th><th>Range</th><th>Today</th><th>Trend</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "<h2>Alerts</h2>"
        + (
            "<table><thead><tr><th>Raised</th><th>Severity</th><th>Alert</th><th>State</th></tr></thead>"
            f"<tbody>{''.join(alerts)}</tbody></table>"
            if alerts
            else no_alerts
        )
        + "</body></html>\n"
    )
