"""Every alert fact of the Monitor in the session's hash-chained audit log (audit_log_sink)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from telemedroom import BloodPressure
from telemedroom.monitoring import CarePlan, ListSink, Monitor, audit_log_sink
from telemedroom.session import AuditAction, AuditLog

PLAN = CarePlan.parse(
    {
        "patient": "Patient/p1",
        "timezone": "Europe/Berlin",
        "care_team": "CareTeam/ward-3",
        "rules": [
            {"type": "threshold", "id": "systolic", "measurement": "blood_pressure", "field": "systolic",
             "above": 180, "hysteresis": 5},
        ],
        "escalation": [{"after": "PT30M", "to": "PractitionerRole/on-call-nurse"}],
    }
)  # fmt: skip


async def test_raise_escalate_acknowledge_clear_are_chained_audit_entries(tmp_path: Path) -> None:
    from datetime import datetime

    evening = datetime(2026, 11, 27, 19, 30, tzinfo=PLAN.zone)
    log = AuditLog(tmp_path / "audit.jsonl")
    sink = ListSink()
    monitor = Monitor(
        PLAN, sinks=[sink], audit=audit_log_sink(log, site="apartment-2"), clock=lambda: evening
    )
    await monitor.ingest(BloodPressure(systolic=186, diastolic=100, measured_at=evening))
    await monitor.check(evening + timedelta(minutes=31))
    await monitor.acknowledge(monitor.alerts[0].id, by="Practitioner/nurse-schulz")
    await monitor.ingest(BloodPressure(systolic=150, diastolic=90, measured_at=evening + timedelta(hours=1)))

    entries = list(log)
    assert [e.action for e in entries] == [
        AuditAction.ALERT_RAISED,
        AuditAction.ALERT_ESCALATED,
        AuditAction.ALERT_ACKNOWLEDGED,
        AuditAction.ALERT_CLEARED,
    ]
    assert [e.at for e in entries] == [event.at for event in sink.events]
    assert [(e.actor, e.role) for e in entries] == [
        ("monitor", "system"),
        ("monitor", "system"),
        ("Practitioner/nurse-schulz", "staff"),
        ("monitor", "system"),
    ]
    alert = monitor.alerts[0]
    for entry in entries:
        assert (entry.room, entry.appointment) == ("apartment-2", "monitoring")
        assert entry.detail["alert"] == alert.id
        assert entry.detail["patient"] == "Patient/p1"
        assert entry.detail["rule"] == "systolic"
    assert entries[1].detail["recipient"] == "PractitionerRole/on-call-nurse"
    assert entries[1].detail["level"] == "1"
    # the file holds the same chain: reopening verifies it
    assert [e.hash for e in AuditLog(tmp_path / "audit.jsonl")] == [e.hash for e in entries]
    # and it exports as FHIR AuditEvents like every other entry
    events = log.to_fhir()
    assert [e.subtype[0].code for e in events] == [e.action.value for e in entries]
    assert [e.action for e in events] == ["C", "U", "U", "U"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=120, max_value=220), min_size=1, max_size=30))
def test_the_audit_log_holds_exactly_the_monitors_events(values: list[int]) -> None:
    import asyncio
    from datetime import datetime

    at = datetime(2026, 11, 27, 8, tzinfo=PLAN.zone)
    log, sink = AuditLog(), ListSink()
    monitor = Monitor(PLAN, sinks=[sink], audit=audit_log_sink(log, site="a"), clock=lambda: at)

    async def feed() -> None:
        for minute, systolic in enumerate(values):
            await monitor.ingest(
                BloodPressure(systolic=systolic, diastolic=90, measured_at=at + timedelta(minutes=minute))
            )

    asyncio.run(feed())
    assert [(e.action.value, e.detail["alert"]) for e in log] == [
        (f"alert_{event.type}", event.alert.id) for event in sink.events
    ]
    log.verify()
