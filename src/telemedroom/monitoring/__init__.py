"""Health-apartment monitoring: a patient's readings at home checked against a care plan.

A :class:`CarePlan` is data (TOML or JSON, :func:`load_care_plan`): threshold rules
(systolic above 180 or below 90 mmHg, SpO2 below 92 %), trend rules (weight up by more
than 2 kg within 3 days) and missed-measurement rules (no blood pressure by 10:00
local time), plus the care team and an escalation chain. A :class:`Monitor` takes the
readings (any async iterator of :class:`~telemedroom.Measurement`, such as
``Connection.measurements()``), raises one :class:`Alert` per condition, escalates it
while nobody acknowledges it, and hands every :class:`AlertEvent` to its sinks
(:class:`FhirAlertSink`: Flag, Communication, DetectedIssue; :class:`WebhookSink`:
signed JSON) and an :class:`AuditRecord` to the audit sink (:func:`audit_log_sink`
writes them to the session's hash-chained audit log). :func:`daily_summary` and
:func:`render_html` give clinic staff the day at a glance; :func:`summary_app` serves
them next to the physician console.

Examples:
    >>> import asyncio
    >>> from datetime import datetime
    >>> from telemedroom import BloodPressure
    >>> plan = CarePlan.parse({
    ...     "patient": "Patient/p1", "timezone": "Europe/Berlin", "care_team": "CareTeam/ward-3",
    ...     "rules": [{"type": "threshold", "id": "sys", "measurement": "blood_pressure",
    ...                "field": "systolic", "above": 180, "below": 90, "hysteresis": 5}]})
    >>> at = datetime(2026, 11, 25, 8, 30, tzinfo=plan.zone)
    >>> sink, audit = ListSink(), []
    >>> monitor = Monitor(plan, sinks=[sink], audit=audit.append, clock=lambda: at)
    >>> async def morning():
    ...     await monitor.ingest(BloodPressure(systolic=192, diastolic=101, measured_at=at))
    ...     await monitor.ingest(BloodPressure(systolic=184, diastolic=98, measured_at=at))  # same condition
    ...     await monitor.acknowledge(monitor.alerts[0].id, by="Practitioner/dr-weber")
    >>> asyncio.run(morning())
    >>> [e.type for e in sink.events], [r.action for r in audit]
    (['raised', 'acknowledged'], ['alert_raised', 'alert_acknowledged'])
"""

from __future__ import annotations

from telemedroom.monitoring._alerts import Alert, AlertEvent, AlertSink, AuditRecord, AuditSink, ListSink
from telemedroom.monitoring._app import SUMMARY_HEADERS, summary_app
from telemedroom.monitoring._audit import audit_log_sink
from telemedroom.monitoring._careplan import (
    CarePlan,
    EscalationStep,
    MissedMeasurementRule,
    ThresholdRule,
    TrendRule,
    load_care_plan,
    read_value,
)
from telemedroom.monitoring._fhir import FhirAlertSink, alert_bundle, alert_resources
from telemedroom.monitoring._monitor import DeliveryFailure, Monitor
from telemedroom.monitoring._summary import DailySummary, SeriesSummary, daily_summary, render_html, sparkline
from telemedroom.monitoring._webhook import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSink,
    sign,
    verify_signature,
)

__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "SUMMARY_HEADERS",
    "Alert",
    "AlertEvent",
    "AlertSink",
    "AuditRecord",
    "AuditSink",
    "CarePlan",
    "DailySummary",
    "DeliveryFailure",
    "EscalationStep",
    "FhirAlertSink",
    "ListSink",
    "MissedMeasurementRule",
    "Monitor",
    "SeriesSummary",
    "ThresholdRule",
    "TrendRule",
    "WebhookSink",
    "alert_bundle",
    "alert_resources",
    "audit_log_sink",
    "daily_summary",
    "load_care_plan",
    "read_value",
    "render_html",
    "sign",
    "sparkline",
    "summary_app",
    "verify_signature",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
