"""The Monitor: readings in, care-plan rules evaluated, alerts raised, escalated, cleared."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from telemedroom._units import display_unit
from telemedroom.errors import TelemedroomError, UnknownAlert
from telemedroom.measurements import Measurement
from telemedroom.monitoring._alerts import Alert, AlertEvent, AlertSink, AuditRecord, AuditSink, EventType
from telemedroom.monitoring._careplan import (
    FIELDS,
    LABELS,
    CarePlan,
    MissedMeasurementRule,
    ThresholdRule,
    TrendRule,
    deadline,
    read_value,
)

Clock = Callable[[], datetime]

_AUDIT_ACTION: Final = {
    "raised": "alert_raised",
    "escalated": "alert_escalated",
    "acknowledged": "alert_acknowledged",
    "cleared": "alert_cleared",
}
_MIDNIGHT: Final = time(0)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DeliveryFailure:
    """An alert event a sink did not take (the monitor keeps going; the event is in the audit log).

    Attributes:
        sink: The sink that failed.
        event: The event it was given.
        error: The error it raised.
    """

    sink: AlertSink
    event: AlertEvent
    error: TelemedroomError


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


class Monitor:
    """Evaluates one patient's :class:`CarePlan` on the readings that arrive.

    Threshold and trend rules are evaluated when a reading arrives (in arrival order);
    missed-measurement deadlines and escalations when :meth:`check` runs (``run`` calls
    it at each deadline). One condition raises one alert; it stays the one alert until
    the condition clears (see the hysteresis of :class:`ThresholdRule`), and a new
    alert is raised only if the condition holds again after that. An alert not
    acknowledged within an escalation step's ``after`` is escalated to that step's
    recipient; clearing does not stop escalation, acknowledging does.

    Every event goes first to ``audit`` (synchronously), then to each sink in turn; a
    sink raising a :class:`~telemedroom.errors.TelemedroomError` does not stop the
    others or the monitor, it is kept in :attr:`failures`.

    Args:
        plan: The patient's care plan.
        sinks: Where alert events go (FHIR, webhook, ...).
        audit: Takes an :class:`AuditRecord` for every alert event.
        clock: Returns the current time (aware); inject one for simulations and tests.
        since: Deadlines before this are not checked (default: the clock at creation).
        retention: How long readings are kept for trends and summaries (at least the
            longest trend window).

    Examples:
        >>> import asyncio
        >>> from datetime import datetime, UTC
        >>> from telemedroom import OxygenSaturation
        >>> plan = CarePlan.parse({"patient": "Patient/p1", "care_team": "CareTeam/c", "rules": [
        ...     {"type": "threshold", "id": "spo2-low", "measurement": "oxygen_saturation",
        ...      "field": "spo2_percent", "below": 92, "hysteresis": 1}]})
        >>> at = datetime(2026, 11, 25, 8, tzinfo=UTC)
        >>> monitor = Monitor(plan, clock=lambda: at)
        >>> async def readings():
        ...     for spo2 in (95, 91, 90, 92.5, 93, 89):
        ...         await monitor.ingest(OxygenSaturation(spo2_percent=spo2, measured_at=at))
        >>> asyncio.run(readings())
        >>> [(a.value, a.active) for a in monitor.alerts]
        [(91.0, False), (89.0, True)]
    """

    def __init__(
        self,
        plan: CarePlan,
        *,
        sinks: Sequence[AlertSink] = (),
        audit: AuditSink | None = None,
        clock: Clock = _utcnow,
        since: datetime | None = None,
        retention: timedelta = timedelta(days=31),
    ) -> None:
        self.plan = plan
        self.sinks = list(sinks)
        self.audit = audit
        self.clock = clock
        self.since = since or clock()
        trends = [rule.within for rule in plan.rules if isinstance(rule, TrendRule)]
        self.retention = max([retention, *trends])
        self.failures: list[DeliveryFailure] = []
        self._alerts: dict[str, Alert] = {}
        self._open: dict[str, str] = {}  # condition key -> id of the alert raised for it
        self._series: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
        self._taken: dict[str, list[datetime]] = {}  # kind -> when readings of it were taken
        self._checked: dict[str, date] = {}  # missed rule id -> last local day checked

    # -- what the monitor knows --------------------------------------------------------

    @property
    def alerts(self) -> list[Alert]:
        """Every alert, oldest first, as it is now."""
        return list(self._alerts.values())

    def alert(self, alert_id: str) -> Alert:
        """The alert with this id.

        Raises:
            UnknownAlert: There is none.
        """
        try:
            return self._alerts[alert_id]
        except KeyError:
            raise UnknownAlert(alert_id) from None

    def series(self, kind: str, field: str) -> list[tuple[datetime, float]]:
        """The kept ``(taken at, value)`` pairs of one field, oldest first, in the rule unit."""
        return list(self._series.get((kind, field), ()))

    def restore(self, readings: Iterable[Measurement], alerts: Iterable[Alert]) -> None:
        """Take back what this patient's monitor knew before a restart, raising nothing again.

        ``readings`` rebuild the series for trends and summaries (no rule is evaluated);
        ``alerts`` (as the sinks last saw them) are known again, and those still active
        hold their condition open, so the same condition raises no second alert.
        Alerts that are not of a care-plan rule (``rule_type`` ``"device"``) are skipped.

        Examples:
            >>> from datetime import datetime, UTC
            >>> from telemedroom import BodyWeight
            >>> plan = CarePlan.parse({"patient": "Patient/p1", "care_team": "CareTeam/c", "rules": []})
            >>> at = datetime(2026, 11, 25, 8, tzinfo=UTC)
            >>> monitor = Monitor(plan, clock=lambda: at)
            >>> monitor.restore([BodyWeight(value=81.5, measured_at=at)], [])
            >>> monitor.series("body_weight", "value")[0][1]
            81.5
        """
        for measurement in readings:
            kind = getattr(measurement, "kind", None)
            if kind is None or getattr(measurement, "intermediate", False):
                continue
            at = measurement.measured_at or self.clock()
            bisect.insort(self._taken.setdefault(kind, []), at)
            for key in FIELDS:
                value = read_value(measurement, *key) if key[0] == kind else None
                if value is not None:
                    bisect.insort(self._series.setdefault(key, []), (at, value))
        self._prune(self.clock())
        for alert in alerts:
            if alert.rule_type == "device":
                continue
            self._alerts[alert.id] = alert
            if alert.active:
                day = alert.condition.partition("@")[2]
                condition = f"{alert.rule_id}@{day}" if alert.rule_type == "missed" else alert.rule_id
                self._open[condition] = alert.id

    # -- readings ----------------------------------------------------------------------

    async def ingest(self, measurement: Measurement) -> list[AlertEvent]:
        """Take one reading and evaluate the rules on it; returns the events it caused.

        A reading without ``measured_at`` counts as taken now (by the clock).
        """
        at = measurement.measured_at or self.clock()
        kind = getattr(measurement, "kind", None)
        if kind is None or getattr(measurement, "intermediate", False):
            return []
        bisect.insort(self._taken.setdefault(kind, []), at)
        for key in FIELDS:
            value = read_value(measurement, *key) if key[0] == kind else None
            if value is not None:
                bisect.insort(self._series.setdefault(key, []), (at, value))
        # by the clock, not the reading: a device whose clock is years ahead must not wipe the history
        self._prune(self.clock())
        events: list[AlertEvent] = []
        for rule in self.plan.rules:
            if rule.measurement != kind:
                continue
            if isinstance(rule, ThresholdRule):
                events += self._threshold(rule, measurement, at)
            elif isinstance(rule, TrendRule):
                events += self._trend(rule, measurement, at)
            else:
                events += self._missed_taken(rule, at)
        await self._emit(events)
        return events

    def _threshold(self, rule: ThresholdRule, measurement: Measurement, at: datetime) -> list[AlertEvent]:
        value = read_value(measurement, rule.measurement, rule.field)
        if value is None:
            return []
        if rule.id in self._open:
            return [self._clear(rule.id, at)] if rule.cleared(value) else []
        if not rule.breached(value):
            return []
        limit = rule.above if rule.above is not None and value > rule.above else rule.below
        relation = "above" if limit == rule.above else "below"
        label = LABELS[(rule.measurement, rule.field)]
        unit = display_unit(rule.unit)  # the text is for people; the Alert keeps the UCUM code
        text = rule.message or f"{label} {_fmt(value)} {unit} is {relation} {_fmt(limit or 0)}"
        return [self._raise(rule.id, rule, f"{rule.measurement}.{rule.field}", text, value, rule.unit, at)]

    def _trend(self, rule: TrendRule, measurement: Measurement, at: datetime) -> list[AlertEvent]:
        value = read_value(measurement, rule.measurement, rule.field)
        if value is None:
            return []
        series = self._series[(rule.measurement, rule.field)]
        first = bisect.bisect_left(series, (at - rule.within, float("-inf")))
        last = bisect.bisect_left(series, (at, float("-inf")))
        window = [v for _t, v in series[first:last]] + [value]
        if rule.id in self._open:
            return [self._clear(rule.id, at)] if rule.cleared(window) else []
        if not rule.breached(window):
            return []
        rise, fall = rule.change(window)
        change = rise if rule.rise is not None and rise > rule.rise else -fall
        days = rule.within / timedelta(days=1)
        unit = display_unit(rule.unit)
        text = rule.message or (
            f"{LABELS[(rule.measurement, rule.field)]} {'rose' if change > 0 else 'fell'} by "
            f"{_fmt(abs(change))} {unit} within {_fmt(days)} days (now {_fmt(value)} {unit})"
        )
        return [self._raise(rule.id, rule, f"{rule.measurement}.{rule.field}", text, change, rule.unit, at)]

    def _missed_taken(self, rule: MissedMeasurementRule, at: datetime) -> list[AlertEvent]:
        prefix = f"{rule.id}@"
        events = []
        for key in [k for k in self._open if k.startswith(prefix)]:
            day = date.fromisoformat(key.removeprefix(prefix))
            if at >= deadline(day, _MIDNIGHT, self.plan.zone):
                events.append(self._clear(key, at))
        return events

    def _prune(self, now: datetime) -> None:
        oldest = now - self.retention
        for series in self._series.values():
            del series[: bisect.bisect_left(series, (oldest, float("-inf")))]
        for taken in self._taken.values():
            del taken[: bisect.bisect_left(taken, oldest)]

    # -- time --------------------------------------------------------------------------

    async def check(self, now: datetime | None = None) -> list[AlertEvent]:
        """Raise missed-measurement alerts whose deadline passed, escalate unacknowledged alerts.

        Args:
            now: The time to check at (default: the clock).
        """
        now = now or self.clock()
        events: list[AlertEvent] = []
        for rule in self.plan.rules:
            if isinstance(rule, MissedMeasurementRule):
                events += self._missed_deadlines(rule, now)
        events += self._escalations(now)
        await self._emit(events)
        return events

    def _days(self, rule: MissedMeasurementRule, now: datetime) -> list[tuple[date, datetime, datetime]]:
        """The local days whose deadline for ``rule`` is due by ``now`` and not checked yet."""
        zone = self.plan.zone
        first = self._checked.get(rule.id)
        day = first + timedelta(days=1) if first else self.since.astimezone(zone).date()
        days: list[tuple[date, datetime, datetime]] = []
        while True:
            start = deadline(day, _MIDNIGHT, zone)
            due = deadline(day, rule.due, zone)
            if due > now:
                return days
            days.append((day, start, due))
            day += timedelta(days=1)

    def _missed_deadlines(self, rule: MissedMeasurementRule, now: datetime) -> list[AlertEvent]:
        events = []
        taken = self._taken.get(rule.measurement, [])
        for day, start, due in self._days(rule, now):
            self._checked[rule.id] = day
            if due <= self.since:
                continue
            if bisect.bisect_right(taken, due) > bisect.bisect_left(taken, start):
                continue
            text = (
                rule.message
                or f"no {rule.measurement.replace('_', ' ')} reading by {rule.due:%H:%M} on {day}"
            )
            key = f"{rule.id}@{day.isoformat()}"
            events.append(
                self._raise(key, rule, f"{rule.measurement}@{day.isoformat()}", text, None, None, due)
            )
            late = bisect.bisect_right(taken, due)
            if late < len(taken):  # taken after the deadline, but known before this check
                events.append(self._clear(key, taken[late]))
        return events

    def _escalations(self, now: datetime) -> list[AlertEvent]:
        events = []
        steps = self.plan.escalation
        for alert in list(self._alerts.values()):
            level = alert.escalation_level
            while (
                not alert.acknowledged and level < len(steps) and alert.raised_at + steps[level].after <= now
            ):
                step = steps[level]
                level += 1
                alert = alert.model_copy(update={"escalation_level": level})
                self._alerts[alert.id] = alert
                events.append(
                    self._event("escalated", alert.raised_at + step.after, alert, step.to, "monitor")
                )
        return events

    def next_deadline(self) -> datetime | None:
        """When :meth:`check` next has something to do (a missed-measurement deadline or an escalation)."""
        candidates = []
        zone = self.plan.zone
        for rule in self.plan.rules:
            if isinstance(rule, MissedMeasurementRule):
                checked = self._checked.get(rule.id)
                day = checked + timedelta(days=1) if checked else self.since.astimezone(zone).date()
                candidates.append(deadline(day, rule.due, zone))
        steps = self.plan.escalation
        for alert in self._alerts.values():
            if not alert.acknowledged and alert.escalation_level < len(steps):
                candidates.append(alert.raised_at + steps[alert.escalation_level].after)
        return min(candidates, default=None)

    # -- people ------------------------------------------------------------------------

    async def acknowledge(self, alert_id: str, by: str, *, at: datetime | None = None) -> Alert:
        """Record that ``by`` (a person or FHIR reference) saw the alert; stops its escalation.

        Acknowledging twice keeps the first acknowledgement and emits nothing.

        Raises:
            UnknownAlert: No alert has this id.
        """
        alert = self.alert(alert_id)
        if alert.acknowledged:
            return alert
        at = at or self.clock()
        alert = alert.model_copy(update={"acknowledged_by": by, "acknowledged_at": at})
        self._alerts[alert_id] = alert
        await self._emit([self._event("acknowledged", at, alert, self.plan.care_team, by)])
        return alert

    # -- the loop ----------------------------------------------------------------------

    async def run(self, source: AsyncIterable[Measurement]) -> None:
        """Feed every reading of ``source`` (e.g. ``Connection.measurements()``) to the monitor.

        Between readings it wakes at :meth:`next_deadline` to :meth:`check`. Returns when
        the source ends, after a last check.
        """
        queue: asyncio.Queue[Measurement | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for measurement in source:
                    await queue.put(measurement)
            finally:
                await queue.put(None)

        task = asyncio.create_task(pump())
        try:
            while True:
                due = self.next_deadline()
                timeout = None if due is None else max(0.0, (due - self.clock()).total_seconds())
                try:  # asyncio.timeout: wait_for (3.11) can drop a cancellation
                    async with asyncio.timeout(timeout):
                        item = await queue.get()
                except TimeoutError:
                    await self.check()
                    continue
                if item is None:
                    break
                await self.ingest(item)
                await self.check()
            await self.check()
        finally:
            task.cancel()
            # a source that failed re-raises its error here
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- events ------------------------------------------------------------------------

    def _raise(
        self,
        key: str,
        rule: ThresholdRule | TrendRule | MissedMeasurementRule,
        condition: str,
        message: str,
        value: float | None,
        unit: str | None,
        at: datetime,
    ) -> AlertEvent:
        alert = Alert(
            id=str(uuid.uuid4()),
            patient=self.plan.patient,
            rule_id=rule.id,
            rule_type=rule.type,
            condition=condition,
            severity=rule.severity,
            message=message,
            value=value,
            unit=unit,
            raised_at=at,
        )
        self._alerts[alert.id] = alert
        self._open[key] = alert.id
        return self._event("raised", at, alert, self.plan.care_team, "monitor")

    def _clear(self, key: str, at: datetime) -> AlertEvent:
        alert_id = self._open.pop(key)
        alert = self._alerts[alert_id].model_copy(update={"cleared_at": at})
        self._alerts[alert_id] = alert
        return self._event("cleared", at, alert, self.plan.care_team, "monitor")

    @staticmethod
    def _event(kind: EventType, at: datetime, alert: Alert, recipient: str, actor: str) -> AlertEvent:
        return AlertEvent(
            id=str(uuid.uuid4()), type=kind, at=at, alert=alert, recipient=recipient, actor=actor
        )

    async def _emit(self, events: list[AlertEvent]) -> None:
        for event in events:
            if self.audit is not None:
                detail = {
                    "rule": event.alert.rule_id,
                    "condition": event.alert.condition,
                    "recipient": event.recipient,
                }
                if event.alert.value is not None:
                    detail["value"] = f"{event.alert.value:g} {event.alert.unit or ''}".strip()
                if event.type == "escalated":
                    detail["level"] = str(event.alert.escalation_level)
                self.audit(
                    AuditRecord(
                        at=event.at,
                        action=_AUDIT_ACTION[event.type],  # type: ignore[arg-type]
                        actor=event.actor,
                        patient=event.alert.patient,
                        alert_id=event.alert.id,
                        detail=detail,
                    )
                )
            for sink in self.sinks:
                try:
                    await sink.deliver(event)
                except TelemedroomError as exc:
                    self.failures.append(DeliveryFailure(sink, event, exc))
