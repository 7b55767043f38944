"""Alerts, what happens to them (events), and the two seams: alert sinks and the audit sink."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from telemedroom.monitoring._careplan import Severity


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return value


Aware = Annotated[datetime, AfterValidator(_aware)]

RuleType = Literal["threshold", "trend", "missed", "device"]
EventType = Literal["raised", "escalated", "acknowledged", "cleared"]


class Alert(BaseModel):
    """One alert: one condition of one rule, from the reading that raised it until it clears.

    Attributes:
        id: Unique id (a UUID); FHIR resources about the alert derive their ids from it.
        patient: FHIR reference of the patient.
        rule_id: The care-plan rule that fired.
        rule_type: ``"threshold"``, ``"trend"`` or ``"missed"`` (the care plan's rules), or
            ``"device"``: a device needs attention (battery, not seen, clock), raised by
            the health apartment's gateway, not by a care-plan rule.
        condition: What fired, e.g. ``"blood_pressure.systolic"`` or ``"blood_pressure@2026-11-25"``.
        severity: The rule's severity.
        message: A sentence for clinic staff.
        value: The value that fired the rule (in ``unit``); for a trend, the change.
        unit: UCUM unit of ``value``.
        raised_at: When it was raised (the reading's time, or the deadline passed).
        escalation_level: 0 when only the care team knows; n after the n-th escalation step.
        acknowledged_by: Who acknowledged it, once someone has.
        acknowledged_at: When.
        cleared_at: When the condition stopped holding (the alert stays until acknowledged).

    Examples:
        >>> from datetime import datetime, UTC
        >>> alert = Alert(id="a1", patient="Patient/p1", rule_id="sys-high", rule_type="threshold",
        ...               condition="blood_pressure.systolic", severity="high", message="systolic 190",
        ...               value=190, unit="mm[Hg]", raised_at=datetime(2026, 11, 25, 8, tzinfo=UTC))
        >>> alert.active, alert.acknowledged
        (True, False)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    patient: str
    rule_id: str
    rule_type: RuleType
    condition: str
    severity: Severity
    message: str
    value: float | None = None
    unit: str | None = None
    raised_at: Aware
    escalation_level: Annotated[int, Field(ge=0)] = 0
    acknowledged_by: str | None = None
    acknowledged_at: Aware | None = None
    cleared_at: Aware | None = None

    @property
    def active(self) -> bool:
        """Whether the condition still holds."""
        return self.cleared_at is None

    @property
    def acknowledged(self) -> bool:
        """Whether someone acknowledged it."""
        return self.acknowledged_by is not None


class AlertEvent(BaseModel):
    """Something that happened to an alert, as sent to every :class:`AlertSink`.

    Attributes:
        id: Unique id of this event (a receiver can de-duplicate retried deliveries by it).
        type: ``"raised"``, ``"escalated"``, ``"acknowledged"`` or ``"cleared"``.
        at: When it happened.
        alert: The alert as it is after the event.
        recipient: Who must be told: the care team, or the escalation step's ``to``.
        actor: Who did it: ``"monitor"``, or the person acknowledging.

    Examples:
        >>> from datetime import datetime, UTC
        >>> alert = Alert(id="a1", patient="Patient/p1", rule_id="r", rule_type="missed",
        ...               condition="blood_pressure@2026-11-25", severity="moderate", message="no reading",
        ...               raised_at=datetime(2026, 11, 25, 9, tzinfo=UTC))
        >>> AlertEvent(id="e1", type="raised", at=alert.raised_at, alert=alert,
        ...            recipient="CareTeam/c", actor="monitor").type
        'raised'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: EventType
    at: Aware
    alert: Alert
    recipient: str
    actor: str


class AuditRecord(BaseModel):
    """One fact for the audit log: an alert raised, escalated, acknowledged or cleared.

    The session layer's hash-chained audit log (or any other) takes these through an
    :data:`AuditSink`; monitoring does not depend on it.

    Attributes:
        at: When it happened.
        action: ``"alert_raised"``, ``"alert_escalated"``, ``"alert_acknowledged"`` or ``"alert_cleared"``.
        actor: ``"monitor"`` or who acknowledged.
        patient: FHIR reference of the patient.
        alert_id: The alert.
        detail: Further facts as short strings (rule, value, recipient, level...).

    Examples:
        >>> from datetime import datetime, UTC
        >>> AuditRecord(at=datetime(2026, 11, 25, tzinfo=UTC), action="alert_acknowledged",
        ...             actor="nurse-anna", patient="Patient/p1", alert_id="a1").actor
        'nurse-anna'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: Aware
    action: Literal["alert_raised", "alert_escalated", "alert_acknowledged", "alert_cleared"]
    actor: str
    patient: str
    alert_id: str
    detail: dict[str, str] = Field(default_factory=dict)


@runtime_checkable
class AlertSink(Protocol):
    """Where alert events go: the FHIR outbox, a webhook, a console, a list in a test.

    Examples:
        >>> isinstance(ListSink(), AlertSink)
        True
    """

    async def deliver(self, event: AlertEvent) -> None:
        """Take one event; raise a :class:`~telemedroom.errors.TelemedroomError` on failure."""


class AuditSink(Protocol):
    """Takes each :class:`AuditRecord`: ``records.append`` will do, or an adapter to the audit log.

    Examples:
        >>> records: list[AuditRecord] = []
        >>> sink: AuditSink = records.append
    """

    def __call__(self, record: AuditRecord, /) -> object:
        """Record one fact; called synchronously, before the alert's sinks are called."""


class ListSink:
    """An :class:`AlertSink` that keeps the events in a list (for tests, or a console to show).

    Examples:
        >>> sink = ListSink()
        >>> sink.events
        []
    """

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    async def deliver(self, event: AlertEvent) -> None:
        """Append ``event`` to :attr:`events`."""
        self.events.append(event)
