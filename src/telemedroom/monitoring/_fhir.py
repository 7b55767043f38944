"""Alert events as FHIR R4B resources: Flag, Communication, DetectedIssue, in a transaction Bundle."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.resource import Resource

from telemedroom.monitoring._alerts import Alert, AlertEvent

# Our own codes, in our namespace: no standard code system names care-plan rule kinds.
RULE_TYPE_SYSTEM: Final = "https://telemedroom.org/fhir/CodeSystem/monitoring-rule-type"
RULE_SYSTEM: Final = "https://telemedroom.org/fhir/CodeSystem/monitoring-rule"
ALERT_ID_SYSTEM: Final = "https://telemedroom.org/fhir/NamingSystem/monitoring-alert"
# FHIR R4B terminology: flag-category (CodeSystem/flag-category), communication-category.
FLAG_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
COMMUNICATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/communication-category"

_RULE_TYPE_DISPLAY: Final = {
    "threshold": "Value outside the care plan's limits",
    "trend": "Change beyond the care plan's limit within a time window",
    "missed": "Planned measurement not taken",
    "device": "A measuring device needs attention",
}
# Communication.priority (R4B value set request-priority): routine | urgent | asap | stat.
_RAISED_PRIORITY: Final = {"high": "urgent", "moderate": "routine", "low": "routine"}
# DetectedIssue.severity (R4B value set detectedissue-severity): high | moderate | low.
_NAMESPACE: Final = uuid.UUID("6f1c3a52-2c57-4d4e-9b7a-5f0b61f0d9a1")
# The Communications' sender unless the integrator names one: a Device the bundle writes
# itself, so the reference resolves on any server (HAPI's referential integrity, Medplum).
DEFAULT_SENDER: Final = "Device/telemedroom-monitor"
MONITOR_ID_SYSTEM: Final = "https://telemedroom.org/fhir/NamingSystem/monitor"


def _resource_id(prefix: str, key: str) -> str:
    return f"{prefix}-{key}"


def _reference(value: str) -> dict[str, str]:
    # "Practitioner/123" is a literal reference; "nurse Anna" only a display.
    head, slash, tail = value.partition("/")
    if slash and head[:1].isupper() and head.isalpha() and tail:
        return {"reference": value}
    return {"display": value}


def _flag(alert: Alert) -> Flag:
    period: dict[str, str] = {"start": alert.raised_at.isoformat()}
    if alert.cleared_at is not None:
        period["end"] = alert.cleared_at.isoformat()
    return Flag.model_validate(
        {
            "resourceType": "Flag",
            "id": _resource_id("alert", alert.id),
            "identifier": [{"system": ALERT_ID_SYSTEM, "value": alert.id}],
            "status": "active" if alert.active else "inactive",
            "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
            "code": {
                "coding": [
                    {
                        "system": RULE_TYPE_SYSTEM,
                        "code": alert.rule_type,
                        "display": _RULE_TYPE_DISPLAY[alert.rule_type],
                    },
                    {"system": RULE_SYSTEM, "code": alert.rule_id},
                ],
                "text": alert.message,
            },
            "subject": _reference(alert.patient),
            "period": period,
        }
    )


def _detected_issue(alert: Alert) -> DetectedIssue:
    return DetectedIssue.model_validate(
        {
            "resourceType": "DetectedIssue",
            "id": _resource_id("alert", alert.id),
            "identifier": [{"system": ALERT_ID_SYSTEM, "value": alert.id}],
            "status": "final",
            "code": {"coding": [{"system": RULE_SYSTEM, "code": alert.rule_id}], "text": alert.condition},
            "severity": alert.severity,
            "patient": _reference(alert.patient),
            "identifiedDateTime": alert.raised_at.isoformat(),
            "detail": alert.message,
        }
    )


def _communication(event: AlertEvent, sender: str) -> Communication:
    alert = event.alert
    if event.type == "raised":
        priority = _RAISED_PRIORITY[alert.severity]
        text = alert.message
    elif event.type == "escalated":
        priority = "asap" if alert.escalation_level == 1 else "stat"
        text = f"Not acknowledged, escalation level {alert.escalation_level}: {alert.message}"
    elif event.type == "acknowledged":
        priority = "routine"
        text = f"Acknowledged by {alert.acknowledged_by}: {alert.message}"
    else:
        priority = "routine"
        text = f"Condition cleared: {alert.message}"
    return Communication.model_validate(
        {
            "resourceType": "Communication",
            "id": _resource_id("event", event.id),
            "identifier": [{"system": ALERT_ID_SYSTEM, "value": f"{alert.id}/{event.id}"}],
            "status": "completed",
            "category": [
                {"coding": [{"system": COMMUNICATION_CATEGORY, "code": "alert", "display": "Alert"}]}
            ],
            "priority": priority,
            "subject": _reference(alert.patient),
            # the identifier too: an append-only FileSink gives each Flag state its own id
            "about": [
                {
                    "reference": f"Flag/{_resource_id('alert', alert.id)}",
                    "identifier": {"system": ALERT_ID_SYSTEM, "value": alert.id},
                }
            ],
            "sent": event.at.isoformat(),
            "recipient": [_reference(event.recipient)],
            "sender": _reference(event.actor if event.type == "acknowledged" else sender),
            "payload": [{"contentString": text}],
        }
    )


def alert_resources(event: AlertEvent, *, sender: str = DEFAULT_SENDER) -> list[Resource]:
    """The FHIR R4B resources that record one alert event.

    - ``raised``: the alert's :class:`Flag` (``active``), a :class:`DetectedIssue` for
      threshold and trend rules (a reading that is clinically out of range; a missed
      measurement is not a detected issue) and a :class:`Communication` to the care team;
    - ``escalated``: the Flag (still ``active``) and a Communication to the escalation
      step's recipient (priority ``asap``, from the second level on ``stat``);
    - ``acknowledged``: the Flag and a Communication from the acknowledging person to the
      care team;
    - ``cleared``: the Flag, now ``inactive`` with its period's end, and a Communication
      to the care team.

    Every event carries its Flag, so the Communication's ``about`` resolves in the same
    transaction on any server (one where the server picks the ids, Medplum's, included)
    however the events were batched or delivered. Resource ids derive from the alert and
    event ids (``alert-<id>``, ``event-<id>``), so sending an event twice changes nothing
    on the server.

    Examples:
        >>> from datetime import datetime, UTC
        >>> alert = Alert(id="a1", patient="Patient/p1", rule_id="sys-high", rule_type="threshold",
        ...               condition="blood_pressure.systolic", severity="high",
        ...               message="systolic 190 above 180",
        ...               value=190, unit="mm[Hg]", raised_at=datetime(2026, 11, 25, 8, tzinfo=UTC))
        >>> event = AlertEvent(id="e1", type="raised", at=alert.raised_at, alert=alert,
        ...                    recipient="CareTeam/ward-3", actor="monitor")
        >>> [(r.get_resource_type(), r.id) for r in alert_resources(event)]
        [('Flag', 'alert-a1'), ('DetectedIssue', 'alert-a1'), ('Communication', 'event-e1')]
    """
    resources: list[Resource] = [_flag(event.alert)]
    if event.type == "raised" and event.alert.rule_type not in ("missed", "device"):
        resources.append(_detected_issue(event.alert))
    resources.append(_communication(event, sender))
    return resources


def _monitor_device() -> Device:
    return Device.model_validate(
        {
            "resourceType": "Device",
            "id": DEFAULT_SENDER.partition("/")[2],
            "identifier": [{"system": MONITOR_ID_SYSTEM, "value": DEFAULT_SENDER.partition("/")[2]}],
            "deviceName": [{"name": "telemedroom monitoring", "type": "user-friendly-name"}],
            "manufacturer": "telemedroom",
        }
    )


def alert_bundle(event: AlertEvent, *, sender: str = DEFAULT_SENDER) -> dict[str, Any]:
    """A FHIR transaction Bundle (as JSON data) that PUTs :func:`alert_resources` of an event.

    Each entry has its own ``fullUrl`` (a UUID derived from the event and the resource),
    so the outbox, which merges bundles by ``fullUrl``, never takes one event's entry for
    another's. With the default ``sender`` the bundle also PUTs that Device
    (``Device/telemedroom-monitor``, found again by its identifier where the server picks
    ids), so every reference it writes resolves but the care plan's own: the patient and
    the recipients, which must exist on the server.

    Examples:
        >>> from datetime import datetime, UTC
        >>> alert = Alert(id="a1", patient="Patient/p1", rule_id="bp-by-10", rule_type="missed",
        ...               condition="blood_pressure@2026-11-25", severity="moderate",
        ...               message="no blood pressure reading by 10:00",
        ...               raised_at=datetime(2026, 11, 25, 9, tzinfo=UTC))
        >>> bundle = alert_bundle(AlertEvent(id="e1", type="raised", at=alert.raised_at, alert=alert,
        ...                                  recipient="CareTeam/ward-3", actor="monitor"))
        >>> [entry["request"]["url"] for entry in bundle["entry"]]
        ['Device/telemedroom-monitor', 'Flag/alert-a1', 'Communication/event-e1']
    """
    entries = []
    resources = alert_resources(event, sender=sender)
    if sender == DEFAULT_SENDER:
        resources.insert(0, _monitor_device())
    for resource in resources:
        kind = resource.get_resource_type()
        # the monitor's Device is the same in every event: one fullUrl, merged once by the outbox
        key = (
            DEFAULT_SENDER
            if f"{kind}/{resource.id}" == DEFAULT_SENDER
            else f"{event.id}/{kind}/{resource.id}"
        )
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}",
                "resource": json.loads(resource.model_dump_json()),
                "request": {"method": "PUT", "url": f"{kind}/{resource.id}"},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    Bundle.model_validate(bundle)  # what we send is valid R4B, checked here rather than by the server
    return bundle


class FhirAlertSink:
    """An :class:`~telemedroom.monitoring.AlertSink` that sends each event as a FHIR transaction.

    ``send`` takes the transaction Bundle as JSON bytes: ``outbox.put`` (durable, the
    recommended path: the outbox keeps it until the server confirmed it),
    ``fhir_client.transaction`` or ``file_sink.transaction``.

    Args:
        send: Takes one transaction Bundle (bytes).
        sender: The FHIR reference the Communications come from.

    Examples:
        >>> import asyncio, json
        >>> sent = []
        >>> async def send(bundle: bytes) -> None:
        ...     sent.append(json.loads(bundle))
        >>> sink = FhirAlertSink(send)
        >>> sink.sender
        'Device/telemedroom-monitor'
    """

    def __init__(self, send: Callable[[bytes], Awaitable[object]], *, sender: str = DEFAULT_SENDER) -> None:
        self.send = send
        self.sender = sender

    async def deliver(self, event: AlertEvent) -> None:
        """Send the event's resources; errors of ``send`` (FHIR, outbox) propagate."""
        await self.send(json.dumps(alert_bundle(event, sender=self.sender), separators=(",", ":")).encode())
