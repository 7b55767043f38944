"""Alert events as FHIR R4B Flag, Communication and DetectedIssue in transaction Bundles."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.flag import Flag
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import OxygenSaturation, errors
from telemedroom.fhir import FhirClient, FileSink, Outbox
from telemedroom.monitoring import (
    AlertEvent,
    CarePlan,
    FhirAlertSink,
    ListSink,
    Monitor,
    alert_bundle,
    alert_resources,
)
from telemedroom.testing import FakeFhirServer

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
PLAN = CarePlan.parse(
    {
        "patient": "Patient/p1",
        "care_team": "CareTeam/ward-3",
        "rules": [
            {"type": "threshold", "id": "spo2-low", "measurement": "oxygen_saturation",
             "field": "spo2_percent", "below": 92, "hysteresis": 1},
            {"type": "missed", "id": "spo2-morning", "measurement": "oxygen_saturation", "due": "09:00"},
        ],
        "escalation": [{"after": "PT15M", "to": "PractitionerRole/on-call"},
                       {"after": "PT1H", "to": "Practitioner/chief"}],
    }
)  # fmt: skip


@functools.cache
def story_events() -> tuple[AlertEvent, ...]:
    """Raise (SpO2 89), escalate twice, acknowledge, clear; and a missed-morning alert."""
    sink = ListSink()
    monitor = Monitor(PLAN, sinks=[sink], clock=lambda: T0, since=T0)

    async def story() -> None:
        await monitor.ingest(OxygenSaturation(spo2_percent=89, measured_at=T0))
        await monitor.check(T0 + timedelta(hours=1))
        await monitor.acknowledge(
            monitor.alerts[0].id, by="Practitioner/dr-weber", at=T0 + timedelta(minutes=70)
        )
        await monitor.ingest(OxygenSaturation(spo2_percent=95, measured_at=T0 + timedelta(minutes=90)))
        await monitor.check(T0 + timedelta(days=1, hours=3))

    asyncio.run(story())
    return tuple(sink.events)


def test_each_event_becomes_the_resources_it_should() -> None:
    events = story_events()
    got = [(e.type, [r.get_resource_type() for r in alert_resources(e)]) for e in events]
    # every event carries its Flag: the Communication's "about" resolves in its own transaction
    assert got == [
        ("raised", ["Flag", "DetectedIssue", "Communication"]),
        ("escalated", ["Flag", "Communication"]),
        ("escalated", ["Flag", "Communication"]),
        ("acknowledged", ["Flag", "Communication"]),
        ("cleared", ["Flag", "Communication"]),
        ("raised", ["Flag", "Communication"]),  # a missed reading is no detected issue
        ("escalated", ["Flag", "Communication"]),
        ("escalated", ["Flag", "Communication"]),
    ]
    statuses = [alert_resources(e)[0].status for e in events]  # type: ignore[attr-defined]
    assert statuses == ["active"] * 4 + ["inactive"] + ["active"] * 3


def test_every_reference_of_a_bundle_resolves_in_it_but_the_care_plans_own() -> None:
    """Flag and, with the default sender, the monitor's Device travel with each Communication."""
    for event in story_events():
        bundle = alert_bundle(event)
        written = {entry["request"]["url"] for entry in bundle["entry"]}
        assert "Device/telemedroom-monitor" in written
        refs = set(re.findall(r'"reference": ?"([A-Za-z]+/[^"]+)"', json.dumps(bundle)))
        care_plan = {PLAN.patient, *(step.to for step in PLAN.escalation), PLAN.care_team}
        care_plan |= {"Practitioner/dr-weber"}  # who acknowledged
        assert refs - written <= care_plan, refs - written


def test_flag_goes_from_active_to_inactive_with_its_period() -> None:
    raised, *_, cleared, _missed, _e1, _e2 = story_events()
    active = alert_resources(raised)[0]
    inactive = alert_resources(cleared)[0]
    assert isinstance(active, Flag)
    assert isinstance(inactive, Flag)
    assert active.id == inactive.id == f"alert-{raised.alert.id}"
    assert (active.status, inactive.status) == ("active", "inactive")
    assert active.period.start == T0
    assert inactive.period.end == T0 + timedelta(minutes=90)
    assert active.subject.reference == "Patient/p1"
    assert active.code.text == "SpO2 89 % is below 92"
    assert [c.code for c in active.code.coding] == ["threshold", "spo2-low"]
    assert active.category[0].coding[0].code == "clinical"


def test_communications_carry_recipient_priority_sender_and_text() -> None:
    events = story_events()
    comms = [alert_resources(e)[-1] for e in events[:5]]
    assert all(isinstance(c, Communication) for c in comms)
    assert [(c.recipient[0].reference, c.priority) for c in comms] == [
        ("CareTeam/ward-3", "urgent"),
        ("PractitionerRole/on-call", "asap"),
        ("Practitioner/chief", "stat"),
        ("CareTeam/ward-3", "routine"),
        ("CareTeam/ward-3", "routine"),
    ]
    assert comms[3].sender.reference == "Practitioner/dr-weber"
    assert comms[0].sender.reference == "Device/telemedroom-monitor"
    assert comms[3].payload[0].contentString == "Acknowledged by Practitioner/dr-weber: SpO2 89 % is below 92"
    assert all(c.about[0].reference == f"Flag/alert-{events[0].alert.id}" for c in comms)
    assert all(c.category[0].coding[0].code == "alert" for c in comms)


def test_detected_issue_for_an_out_of_range_value() -> None:
    issue = alert_resources(story_events()[0])[1]
    assert isinstance(issue, DetectedIssue)
    assert (issue.status, issue.severity, issue.patient.reference) == ("final", "high", "Patient/p1")
    assert issue.detail == "SpO2 89 % is below 92"


def test_a_person_without_a_reference_is_a_display() -> None:
    event = story_events()[3]
    event = event.model_copy(update={"actor": "Nurse Anna Schulz"})
    assert alert_resources(event)[-1].sender.display == "Nurse Anna Schulz"


@given(st.data())
def test_every_bundle_is_a_valid_transaction_with_distinct_full_urls(data: st.DataObject) -> None:
    events = story_events()
    event = data.draw(st.sampled_from(events))
    bundle = alert_bundle(event, sender=data.draw(st.sampled_from(["Device/gw-1", "Organization/clinic"])))
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "transaction"
    urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(set(urls)) == len(urls)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}


def test_full_urls_differ_between_events_of_one_alert() -> None:
    events = story_events()
    entries = [e for event in events for e in alert_bundle(event)["entry"]]
    # the outbox merges by fullUrl: nothing may collide but the monitor's Device, which is
    # the same resource in every event (equal fullUrl, equal resource: merged once)
    urls = [e["fullUrl"] for e in entries if e["request"]["url"] != "Device/telemedroom-monitor"]
    assert len(set(urls)) == len(urls)
    devices = [e for e in entries if e["request"]["url"] == "Device/telemedroom-monitor"]
    assert len(devices) == len(events)
    assert all(d == devices[0] for d in devices)


def test_the_sink_sends_json_bytes_of_the_bundle() -> None:
    sent: list[bytes] = []

    async def send(body: bytes) -> None:
        sent.append(body)

    event = story_events()[0]
    asyncio.run(FhirAlertSink(send, sender="Device/gw-1").deliver(event))
    assert json.loads(sent[0]) == alert_bundle(event, sender="Device/gw-1")


# -- through the real outbox to a FHIR server -----------------------------------------------


async def test_alerts_go_through_the_outbox_to_a_fhir_server(tmp_path: Path) -> None:
    """Outbox (real, SQLite, encrypted) drained by FhirClient into FakeFhirServer (a fake server)."""
    server = FakeFhirServer()
    async with Outbox(tmp_path / "outbox.sqlite", key=os.urandom(32)) as outbox:
        sink = FhirAlertSink(outbox.put)
        monitor = Monitor(PLAN, sinks=[sink], clock=lambda: T0, since=T0)
        await monitor.ingest(OxygenSaturation(spo2_percent=89, measured_at=T0))
        await monitor.check(T0 + timedelta(minutes=20))
        await monitor.acknowledge(
            monitor.alerts[0].id, by="Practitioner/dr-weber", at=T0 + timedelta(minutes=25)
        )
        await monitor.ingest(OxygenSaturation(spo2_percent=95, measured_at=T0 + timedelta(minutes=40)))
        assert await outbox.pending() == 4
        async with FhirClient(server.base_url, transport=server.transport()) as client:
            # one event per transaction: the order of the Flag's versions is kept
            result = await outbox.drain(client, batch_size=1)
    assert result.sent == 4
    alert = monitor.alerts[0]
    [flag] = server.resources("Flag")
    assert (flag["id"], flag["status"]) == (f"alert-{alert.id}", "inactive")
    assert flag["meta"]["versionId"] == "4"  # with each of the 4 events: active x3, then inactive
    assert flag["period"] == {"start": "2026-11-25T07:00:00Z", "end": "2026-11-25T07:40:00Z"}
    [issue] = server.resources("DetectedIssue")
    assert issue["severity"] == "high"
    comms = sorted(server.resources("Communication"), key=lambda c: c["sent"])
    assert [(c["priority"], c["recipient"][0]["reference"]) for c in comms] == [
        ("urgent", "CareTeam/ward-3"),
        ("asap", "PractitionerRole/on-call"),
        ("routine", "CareTeam/ward-3"),  # acknowledged
        ("routine", "CareTeam/ward-3"),  # cleared
    ]
    assert all(c["about"][0]["reference"] == f"Flag/alert-{alert.id}" for c in comms)


async def test_a_merged_batch_keeps_the_events_in_order(tmp_path: Path) -> None:
    """The outbox merges queued bundles; a merge that writes one Flag twice is split, in order.

    FakeFhirServer (a fake server) refuses a transaction that writes one resource twice,
    as FHIR R4 requires, so the outbox must fall back to smaller batches without losing
    or reordering an event.
    """
    server = FakeFhirServer()
    async with Outbox(tmp_path / "outbox.sqlite", key=os.urandom(32)) as outbox:
        for event in story_events()[:5]:  # raised ... cleared of the first alert
            await FhirAlertSink(outbox.put).deliver(event)
        async with FhirClient(server.base_url, transport=server.transport()) as client:
            result = await outbox.drain(client)
    assert (result.sent, result.rejected) == (5, ())
    assert result.batches > 1
    assert [f["status"] for f in server.resources("Flag")] == ["inactive"]
    assert len(server.resources("Communication")) == 5


async def test_sending_an_event_twice_changes_nothing_but_the_version(tmp_path: Path) -> None:
    server = FakeFhirServer()
    event = story_events()[0]
    async with FhirClient(server.base_url, transport=server.transport()) as client:
        sink = FhirAlertSink(client.transaction)
        await sink.deliver(event)
        await sink.deliver(event)  # a retry after a lost answer
    assert [len(server.resources(kind)) for kind in ("Flag", "DetectedIssue", "Communication")] == [1, 1, 1]


async def test_a_server_error_reaches_the_monitor_as_a_delivery_failure() -> None:
    server = FakeFhirServer()
    server.fail_next(400)
    async with FhirClient(server.base_url, transport=server.transport()) as client:
        monitor = Monitor(PLAN, sinks=[FhirAlertSink(client.transaction)], clock=lambda: T0, since=T0)
        await monitor.ingest(OxygenSaturation(spo2_percent=89, measured_at=T0))
    [failure] = monitor.failures
    assert isinstance(failure.error, errors.FhirServerError)
    assert failure.error.status == 400
    assert failure.event.type == "raised"


async def test_alerts_can_be_written_as_ndjson_files(tmp_path: Path) -> None:
    sink = FhirAlertSink(FileSink(tmp_path).transaction)
    for event in story_events()[:5]:
        await sink.deliver(event)
    flags = [json.loads(line) for line in (tmp_path / "Flag.ndjson").read_text().splitlines()]
    assert {f["status"] for f in flags} <= {"active", "inactive"}
    assert len((tmp_path / "Communication.ndjson").read_text().splitlines()) == 5
