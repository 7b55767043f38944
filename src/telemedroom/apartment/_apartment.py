"""``Apartment``: the health apartment's home gateway, assembled from one configuration."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from telemedroom.apartment._clock import Clock, SystemClock
from telemedroom.apartment._config import ApartmentConfig
from telemedroom.apartment._events import (
    AlertChanged,
    ApartmentEvent,
    CallChanged,
    DeviceChanged,
    NoteAdded,
    ReadingAccepted,
    RecordRefused,
)
from telemedroom.apartment._journal import Journal, reading_key
from telemedroom.apartment._parts import DeviceRule
from telemedroom.errors import ApartmentConfigError, ApartmentError, StorageFullError, TelemedroomError
from telemedroom.measurements import Measurement
from telemedroom.monitoring import (
    Alert,
    AlertEvent,
    AlertSink,
    AuditRecord,
    AuditSink,
    CarePlan,
    FhirAlertSink,
    MissedMeasurementRule,
    Monitor,
    SeriesSummary,
    WebhookSink,
    audit_log_sink,
    daily_summary,
    load_care_plan,
)

if TYPE_CHECKING:
    import httpx

    from telemedroom.apartment._hub import HubLink
    from telemedroom.apartment._ward import WardLine
    from telemedroom.devices import Backend
    from telemedroom.fhir import DrainResult, FhirSink, Outbox
    from telemedroom.session import AuditLog

__all__ = ["Apartment"]

logger = logging.getLogger("telemedroom.apartment")

# A wall clock that moves this much more (or less) than monotonic time was set, not run.
CLOCK_JUMP: Final = timedelta(minutes=5)
_CHECKED_UNTIL: Final = "checked_until"
_NOTES: Final = "notes"
_NOTES_KEPT: Final = 20


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


class _JournalSink:
    """First sink of every alert event: keep the alert in the journal, tell the screen."""

    def __init__(self, apartment: Apartment) -> None:
        self.apartment = apartment

    async def deliver(self, event: AlertEvent) -> None:
        await self.apartment.journal.save_alert(event.alert, event.at)
        self.apartment._publish(AlertChanged(at=event.at, change=event.type, alert=event.alert))


class Apartment:
    """A health apartment's always-on gateway: devices listened to, the care plan, the clinic.

    Every reading (from :meth:`run`'s listener, or given to :meth:`accept`) is committed
    to the journal once (by its deterministic FHIR identifiers, so never twice, across
    restarts too), then put in the encrypted outbox for the clinic's FHIR server (or
    NDJSON files), then checked against the care plan; alerts go to the journal, the
    outbox (Flag, Communication, DetectedIssue), the ward's webhook and the audit log.
    Devices that need attention (low battery, not seen for days, a clock off, garbage
    data) and the gateway itself (disk full, clock jump) raise alerts of rule type
    ``device`` through the same sinks. After a crash, opening the apartment again
    forwards and evaluates what the crash interrupted.

    Args:
        config: The apartment's configuration.
        clock: Where time comes from (a :class:`telemedroom.testing.SimulatedClock` in tests).
        ble_backend: A bleak backend for the listener (the host's Bluetooth by default).
        fhir_sink: Where the outbox drains to (default: from ``[fhir]``).
        http: The HTTP client of the webhook (default: its own).
        disk_free: Free bytes at a path (default: :func:`shutil.disk_usage`).

    Examples:
        >>> import asyncio, base64, pathlib, tempfile
        >>> from datetime import datetime
        >>> from telemedroom import BodyWeight
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "plan.toml").write_text('patient = "Patient/p1"\\ncare_team = "CareTeam/w3"\\n'
        ...     '[[rules]]\\ntype = "trend"\\nid = "weight-gain"\\nmeasurement = "body_weight"\\n'
        ...     'field = "value"\\nrise = 2.0\\nwithin = "P3D"\\n')
        >>> config = ApartmentConfig(apartment_id="apt-2", patient="Patient/p1", data_dir=folder,
        ...     care_plan=folder / "plan.toml", encryption_key=base64.b64encode(bytes(32)).decode())
        >>> async def main():
        ...     async with Apartment(config) as apartment:
        ...         at = datetime(2026, 11, 24, 7, tzinfo=apartment.zone)
        ...         first = await apartment.accept(BodyWeight(value=81.2, measured_at=at))
        ...         again = await apartment.accept(BodyWeight(value=81.2, measured_at=at))
        ...         return first, again, await apartment.outbox.pending()
        >>> asyncio.run(main())
        (True, False, 1)
    """

    def __init__(
        self,
        config: ApartmentConfig,
        *,
        clock: Clock | None = None,
        ble_backend: Backend | None = None,
        fhir_sink: FhirSink | None = None,
        http: httpx.AsyncClient | None = None,
        disk_free: Callable[[Path], int] = _disk_free,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.ble_backend = ble_backend
        self.journal = Journal(config.data_dir / "apartment.sqlite", key=config.key)
        self.plan: CarePlan = CarePlan.parse({"patient": config.patient, "care_team": "-", "rules": []})
        self.monitor = Monitor(self.plan)
        self.sinks: list[AlertSink] = []
        self.failures: list[tuple[AlertEvent, TelemedroomError]] = []
        self.ward: WardLine | None = None
        self.hub: HubLink | None = None
        self.last_delivery_error: str | None = None
        self._failing_since: datetime | None = None  # when deliveries began to fail
        self._fhir_sink = fhir_sink
        self._http = http
        self._disk_free = disk_free
        self._outbox: Outbox | None = None
        self._audit_log: AuditLog | None = None
        self._audit: AuditSink | None = None
        self._stack = contextlib.AsyncExitStack()
        self._subscribers: list[asyncio.Queue[ApartmentEvent | None]] = []
        self._device_alerts: dict[str, Alert] = {}
        self._notes: list[NoteAdded] = []
        self._tick: tuple[datetime, float] | None = None
        self._lock = asyncio.Lock()
        self._deliver = asyncio.Event()
        self.call_state: CallChanged = CallChanged(at=self.clock.now(), state="unavailable")

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def zone(self) -> Any:
        """The apartment's time zone (``ZoneInfo``)."""
        return self.config.zone

    @property
    def outbox(self) -> Outbox:
        """The encrypted outbox of FHIR transaction Bundles."""
        if self._outbox is None:
            raise ApartmentError("the apartment is not open")
        return self._outbox

    async def __aenter__(self) -> Self:
        try:
            await self.open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open the journal, the outbox and the care plan; finish what a crash interrupted.

        Raises:
            CarePlanError: The care plan is malformed (the error names the rule).
            ApartmentConfigError: The care plan is for another patient.
            ApartmentError: The journal cannot be opened (or not with this key).
            OutboxKeyError: The outbox was made with another key.
        """
        from telemedroom.fhir import Outbox
        from telemedroom.session import AuditLog

        self.plan = load_care_plan(self.config.care_plan)
        if self.plan.patient != self.config.patient:
            raise ApartmentConfigError(
                "care_plan",
                str(self.config.care_plan),
                f"the plan is for {self.plan.patient}, the apartment for {self.config.patient}",
            )
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.journal.open()
        self._stack.push_async_callback(self.journal.aclose)
        self._outbox = await self._stack.enter_async_context(
            Outbox(self.config.data_dir / "outbox.sqlite", key=self.config.key)
        )
        self._audit_log = AuditLog(self.config.data_dir / "audit.jsonl")
        self._audit = audit_log_sink(self._audit_log, site=self.config.apartment_id, context="apartment")
        self.sinks = [_JournalSink(self), FhirAlertSink(self._outbox.put)]
        webhook = self.config.webhook
        if webhook.url is not None and webhook.secret is not None:
            sink = WebhookSink(webhook.url, webhook.secret.get_secret_value(), http=self._http)
            self._stack.push_async_callback(sink.aclose)
            self.sinks.append(sink)
        for alert in await self.journal.alerts():
            if alert.rule_type == "device" and alert.active:
                self._device_alerts[alert.condition] = alert
        notes = await self.journal.get_sealed(_NOTES) or []
        self._notes = [NoteAdded.model_validate(note) for note in notes]
        since = await self.journal.get(_CHECKED_UNTIL)
        self.monitor = await self._new_monitor(datetime.fromisoformat(since) if since else self.clock.now())
        await self._recover()
        if self.config.ward.signaling_url is not None:
            from telemedroom.apartment._ward import WardLine

            self.ward = WardLine(self)
            self._stack.push_async_callback(self.ward.aclose)
            await self.ward.standby()
        if self.config.hub is not None:
            from telemedroom.apartment._hub import HubLink

            self.hub = await self._stack.enter_async_context(HubLink(self, self.config.hub))

    async def aclose(self) -> None:
        """Close everything; event streams end."""
        for queue in self._subscribers:
            queue.put_nowait(None)
        await self._stack.aclose()

    async def _new_monitor(self, since: datetime) -> Monitor:
        monitor = Monitor(self.plan, sinks=self.sinks, audit=self._audit, clock=self.clock.now, since=since)
        kept = await self.journal.readings(since=self.clock.now() - monitor.retention)
        monitor.restore([r.measurement for r in kept if r.evaluated], await self.journal.alerts())
        return monitor

    async def _recover(self) -> None:
        """Readings a crash left half-way: into the outbox, through the care plan."""
        for stored in await self.journal.readings(pending=True):
            if not stored.forwarded:
                await self.outbox.put(stored.bundle)
                await self.journal.mark(stored.key, forwarded=True)
            if not stored.evaluated:
                await self.monitor.ingest(stored.measurement)
                await self.journal.mark(stored.key, evaluated=True)
            logger.info("recovered a reading accepted before a crash (%s)", stored.key[:12])

    # -- readings ------------------------------------------------------------------------

    def _bundle(self, measurement: Measurement) -> dict[str, Any]:
        from telemedroom.fhir import gateway_device, transaction_json

        gateway = gateway_device(self.config.name, identifier=self.config.apartment_id)
        return transaction_json(
            [measurement], patient=self.config.patient, gateway=gateway, received_at=self.clock.now()
        )

    async def accept(self, measurement: Measurement, *, device: str | None = None) -> bool:
        """Take one reading: journal, outbox, care plan, screen, the ward's live vitals.

        Intermediate values (a cuff inflating) are shown live to the ward during a call
        but not kept.

        Returns:
            ``True`` if it is new, ``False`` if it was taken before (nothing is done again).

        Raises:
            StorageFullError: Too little disk space; the reading is refused (and a
                ``storage-full`` alert raised), nothing already accepted is touched.
        """
        if self.ward is not None:
            await self.ward.send_vitals(measurement)
        if getattr(measurement, "intermediate", False):
            return False
        await self._check_disk(refuse=True)
        bundle = self._bundle(measurement)
        key = reading_key(bundle)
        async with self._lock:
            try:
                new = await self.journal.add(measurement, bundle, self.clock.now())
            except ApartmentError as exc:
                raise self._full(exc) from exc
            if not new:
                return False
            await self.outbox.put(bundle)
            await self.journal.mark(key, forwarded=True)
            await self.monitor.ingest(measurement)
            await self.journal.mark(key, evaluated=True)
        self._deliver.set()
        self._publish(ReadingAccepted(at=self.clock.now(), kind=measurement.kind, device=device))  # type: ignore[attr-defined]
        return True

    def _full(self, exc: ApartmentError) -> ApartmentError:
        cause = exc.__cause__
        if (isinstance(cause, sqlite3.Error) and "full" in str(cause).lower()) or (
            isinstance(cause, OSError) and cause.errno == errno.ENOSPC
        ):
            free = self._disk_free(self.config.data_dir)
            return StorageFullError(str(self.config.data_dir), free, self._reserve)
        return exc

    @property
    def storage_full(self) -> bool:
        """Whether new readings are refused for want of disk space (see ``[health] min_free_mb``)."""
        return "gateway.storage" in self._device_alerts

    @property
    def _reserve(self) -> int:
        return int(self.config.health.min_free_mb * 1_000_000)

    async def _check_disk(self, *, refuse: bool) -> None:
        free = self._disk_free(self.config.data_dir)
        full = free < self._reserve
        await self.device_alert(
            "storage-full",
            "gateway.storage",
            f"the apartment gateway's disk is full ({free / 1e6:.1f} MB free): new readings are refused",
            "high",
            active=full,
        )
        if full and refuse:
            raise StorageFullError(str(self.config.data_dir), free, self._reserve)

    # -- time ----------------------------------------------------------------------------

    async def check(self) -> None:
        """Do what time alone brings.

        Missed measurements, escalations, devices not seen, the disk, retention, and a
        wall clock that jumped.
        """
        now, mono = self.clock.now(), self.clock.monotonic()
        async with self._lock:
            if self._tick is not None:
                moved = (now - self._tick[0]) - timedelta(seconds=mono - self._tick[1])
                jumped = abs(moved) > CLOCK_JUMP
                if jumped:
                    logger.warning("the wall clock jumped by %s", moved)
                    # deadlines inside the jump are not checked; the rest is rebuilt from the journal
                    self.monitor = await self._new_monitor(now)
                hours = abs(moved) / timedelta(hours=1)
                way = "ahead" if moved > timedelta(0) else "back"
                text = (
                    f"the apartment gateway's clock jumped {way} by {hours:.1f} h;"
                    " deadlines in between were not checked"
                )
                await self.device_alert("gateway-clock", "gateway.clock", text, "low", active=jumped)
            self._tick = (now, mono)
            await self.monitor.check(now)
            await self.journal.set(_CHECKED_UNTIL, now.isoformat())
        await self._check_disk(refuse=False)
        if self.ward is not None:
            await self.ward.keep_standby(mono)
        for paired in self.config.devices:
            state = await self.journal.device(paired.address)
            silent = state.last_seen is not None and now - state.last_seen > timedelta(
                days=self.config.health.not_seen_days
            )
            days = self.config.health.not_seen_days
            name = paired.name or paired.kind.replace("_", " ")
            await self.device_alert(
                "device-not-seen",
                f"device.{paired.address}.seen",
                f"{name} ({paired.address}) not seen for more than {days:g} days",
                "moderate",
                active=silent,
            )
        # Retention counts back from the newest reading, not from the clock alone: a wall
        # clock set years ahead must not delete what was never delivered to anyone's eyes.
        newest = await self.journal.newest()
        if newest is not None:
            await self.journal.forget_before(min(now, newest) - timedelta(days=self.config.retention_days))

    def next_check(self) -> datetime:
        """When :meth:`check` next has something to do (at the latest in a minute)."""
        soon = self.clock.now() + timedelta(minutes=1)
        due = self.monitor.next_deadline()
        return soon if due is None else min(due, soon)

    # -- devices -------------------------------------------------------------------------

    async def device_seen(
        self,
        address: str,
        *,
        battery: int | None = None,
        clock_skew: timedelta | None = None,
        malformed: int = 0,
        last_sequence: int | None = None,
    ) -> None:
        """What the listener learnt from a device it just talked to (its health)."""
        now = self.clock.now()
        await self.journal.update_device(address, seen=now, battery=battery, last_sequence=last_sequence)
        paired = self.config.device(address)
        name = (paired.name if paired else None) or (paired.kind.replace("_", " ") if paired else address)
        health = self.config.health
        await self.device_alert(
            "device-not-seen",
            f"device.{address}.seen",
            f"{name} ({address}) is back",
            "moderate",
            active=False,
        )
        if battery is not None:
            await self.device_alert(
                "battery-low",
                f"device.{address}.battery",
                f"battery of the {name} ({address}) is at {battery} %",
                "low",
                active=battery <= health.battery_low_percent,
            )
        if clock_skew is not None:
            minutes = clock_skew / timedelta(minutes=1)
            await self.device_alert(
                "device-clock",
                f"device.{address}.clock",
                f"the clock of the {name} ({address}) was off by {minutes:+.0f} min; it was set",
                "low",
                active=abs(minutes) > health.clock_drift_minutes,
            )
        await self.device_alert(
            "device-data",
            f"device.{address}.data",
            f"the {name} ({address}) sent {malformed} value(s) that do not follow its profile; skipped",
            "low",
            active=malformed > 0,
        )
        self._publish(DeviceChanged(at=now, address=address, status="done", battery=battery))

    async def device_alert(
        self,
        rule_id: DeviceRule,
        condition: str,
        message: str,
        severity: Literal["low", "moderate", "high"],
        *,
        active: bool,
    ) -> Alert | None:
        """Raise (``active``) or clear the device alert of ``condition``; returns it if it changed."""
        now = self.clock.now()
        current = self._device_alerts.get(condition)
        if active and current is None:
            alert = Alert(
                id=str(uuid.uuid4()),
                patient=self.config.patient,
                rule_id=rule_id,
                rule_type="device",
                condition=condition,
                severity=severity,
                message=message,
                raised_at=now,
            )
            self._device_alerts[condition] = alert
            await self._emit("raised", alert, now)
            return alert
        if not active and current is not None:
            alert = current.model_copy(update={"cleared_at": now})
            del self._device_alerts[condition]
            await self._emit("cleared", alert, now)
            return alert
        return None

    async def _emit(
        self,
        kind: Literal["raised", "cleared", "acknowledged"],
        alert: Alert,
        at: datetime,
        actor: str = "monitor",
    ) -> None:
        event = AlertEvent(
            id=str(uuid.uuid4()), type=kind, at=at, alert=alert, recipient=self.plan.care_team, actor=actor
        )
        if self._audit is not None:
            self._audit(
                AuditRecord(
                    at=at,
                    action=f"alert_{kind}",  # type: ignore[arg-type]
                    actor=actor,
                    patient=alert.patient,
                    alert_id=alert.id,
                    detail={
                        "rule": alert.rule_id,
                        "condition": alert.condition,
                        "recipient": event.recipient,
                    },
                )
            )
        for sink in self.sinks:
            try:
                await sink.deliver(event)
            except TelemedroomError as exc:
                self.failures.append((event, exc))
                logger.warning("an alert event was not delivered: %s", exc)

    # -- people --------------------------------------------------------------------------

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        """The ward saw an alert (care plan or device): its escalation stops, the patient sees who.

        Raises:
            UnknownAlert: No alert has this id.
        """
        for condition, alert in self._device_alerts.items():
            if alert.id == alert_id:
                now = self.clock.now()
                seen = alert.model_copy(update={"acknowledged_by": by, "acknowledged_at": now})
                self._device_alerts[condition] = seen
                await self._emit("acknowledged", seen, now, actor=by)
                return seen
        return await self.monitor.acknowledge(alert_id, by)

    async def add_note(self, text: str, by: str) -> NoteAdded:
        """A message from the ward for the patient's screen (kept in the audit log).

        Raises:
            ValueError: The text is empty or longer than 500 characters.
        """
        text = text.strip()
        if not text or len(text) > 500:
            raise ValueError("a note has 1 to 500 characters")
        note = NoteAdded(at=self.clock.now(), text=text, by=by)
        self._notes = [*self._notes, note][-_NOTES_KEPT:]
        await self.journal.set_sealed(_NOTES, [n.model_dump(mode="json") for n in self._notes])
        if self._audit_log is not None:
            from telemedroom.session import AuditAction

            self._audit_log.append(
                AuditAction.NOTE_ADDED,
                actor=by,
                role="staff",
                room=self.config.apartment_id,
                appointment="apartment",
                at=note.at,
                detail={"patient": self.config.patient},
            )
        self._publish(note)
        return note

    def open_alerts(self) -> list[Alert]:
        """The alerts staff still have to see: not cleared, or cleared but not acknowledged (for the hub)."""
        return [
            a for a in [*self.monitor.alerts, *self._device_alerts.values()] if a.active or not a.acknowledged
        ]

    # -- what the screen shows -------------------------------------------------------------

    def _publish(self, event: ApartmentEvent) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    def _set_call(self, state: Any, reason: str | None = None, participants: tuple[str, ...] = ()) -> None:
        self.call_state = CallChanged(
            at=self.clock.now(), state=state, reason=reason, participants=participants
        )
        self._publish(self.call_state)

    async def events(self) -> AsyncIterator[ApartmentEvent]:
        """Every event from now on (the call's state first); ends when the apartment closes."""
        queue: asyncio.Queue[ApartmentEvent | None] = asyncio.Queue()
        queue.put_nowait(self.call_state)
        self._subscribers.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)

    async def state(self) -> dict[str, Any]:
        """What the patient's screen shows now, as JSON data (see ``docs/apartment.md``)."""
        now = self.clock.now()
        zone = self.plan.zone
        today = now.astimezone(zone).date()
        start = datetime.combine(today, time(0), zone)
        plan = []
        for rule in self.plan.rules:
            if isinstance(rule, MissedMeasurementRule):
                taken = [t for t, _v in self.monitor.series(*_FIELD[rule.measurement]) if t >= start]
                plan.append(
                    {"kind": rule.measurement, "due": rule.due.strftime("%H:%M"), "done": bool(taken)}
                )
        readings = _readings(daily_summary(self.monitor, today).series, zone)
        alerts = [a for a in self.monitor.alerts if a.active and not a.acknowledged]
        warnings = [
            {
                "id": a.id,
                "rule": a.rule_id,
                "type": a.rule_type,
                "kind": a.condition.split(".")[0].split("@")[0],
                "severity": a.severity,
                "call": a.severity == "high",
            }
            for a in alerts
        ]
        devices = []
        for paired in self.config.devices:
            known = await self.journal.device(paired.address)
            problems = sorted(
                a.rule_id
                for a in self._device_alerts.values()
                if a.condition.startswith(f"device.{paired.address}.")
            )
            devices.append(
                {
                    "address": paired.address,
                    "kind": paired.kind,
                    "name": paired.name,
                    "battery": known.battery,
                    "last_seen": None
                    if known.last_seen is None
                    else known.last_seen.astimezone(zone).isoformat(),
                    "problems": problems,
                }
            )
        gateway = sorted(
            a.rule_id for a in self._device_alerts.values() if a.condition.startswith("gateway.")
        )
        messages = [
            {
                "at": a.acknowledged_at.astimezone(zone).isoformat(),
                "kind": "acknowledged",
                "rule": a.rule_id,
                "by": a.acknowledged_by,
            }
            for a in [*self.monitor.alerts, *self._device_alerts.values()]
            if a.acknowledged_at is not None and now - a.acknowledged_at < timedelta(days=2)
        ]
        messages += [
            {"at": n.at.astimezone(zone).isoformat(), "kind": "note", "text": n.text, "by": n.by}
            for n in self._notes
        ]
        messages.sort(key=lambda m: str(m["at"]), reverse=True)
        return {
            "name": self.config.name,
            "language": self.config.language,
            "now": now.astimezone(zone).isoformat(),
            "today": plan,
            "readings": readings,
            "warnings": warnings,
            "devices": devices,
            "gateway": gateway,
            "messages": messages[:10],
            "call": {
                "state": self.call_state.state,
                "reason": self.call_state.reason,
                "participants": list(self.call_state.participants),
            },
        }

    # -- the clinic ------------------------------------------------------------------------

    async def _sink(self, stack: contextlib.AsyncExitStack) -> FhirSink:
        if self._fhir_sink is not None:
            return self._fhir_sink
        from telemedroom.apartment._sinks import open_fhir_sink

        return await stack.enter_async_context(open_fhir_sink(self.config))

    async def drain_outbox(self, *, max_failures: int | None = None) -> DrainResult:
        """Send what waits in the outbox to the clinic now.

        Args:
            max_failures: Give up after this many failed attempts in a row (the server
                unreachable); by default it waits with backoff until the server answers.

        Raises:
            FhirError: The server stayed unreachable (``max_failures``) or refused the
                gateway's credentials; the bundles stay queued.
        """
        async with contextlib.AsyncExitStack() as stack:
            sink = await self._sink(stack)
            result = await self.outbox.drain(sink, max_failures=max_failures)
        now = self.clock.now()
        for row in result.rejected:
            reason = result.reasons.get(row, "refused by the FHIR server")
            logger.warning("the FHIR server refused outbox row %d for good (held back): %s", row, reason)
            self._publish(
                RecordRefused(at=now, outbox_row=row, status=result.status.get(row, 0), reason=reason)
            )
        return result

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, listen: bool = True, deliver_every: timedelta = timedelta(minutes=5)) -> None:
        """Run until cancelled: listen to the paired devices, check the time, deliver the outbox."""
        async with asyncio.TaskGroup() as group:
            if listen:
                from telemedroom.apartment._listener import Listener

                group.create_task(Listener(self).run())
            group.create_task(self._ticking())
            group.create_task(self._delivering(deliver_every))

    async def _ticking(self) -> None:
        while True:
            await self.check()
            wait = (self.next_check() - self.clock.now()).total_seconds()
            await self.clock.sleep(max(0.05, wait))

    async def _delivering(self, every: timedelta) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every.total_seconds()):
                    await self._deliver.wait()
            self._deliver.clear()
            if await self.outbox.pending() == 0:
                continue
            await self.try_delivery()

    async def try_delivery(self) -> DrainResult | None:
        """Deliver the outbox once, as :meth:`run` does every few minutes; ``None`` if it failed.

        One attempt (the FHIR client's own retries included): a failure (the clinic's
        server unreachable, or refusing the gateway's credentials) keeps everything
        queued for the next try, which :meth:`run` makes at its next round. Once
        deliveries have failed for ``[health] delivery_alert_minutes``, a
        ``delivery-failing`` device alert goes to the ward's webhook, the hub and the
        screen; the next delivery that works clears it.
        """
        now = self.clock.now()
        try:
            result = await self.drain_outbox(max_failures=1)
        except TelemedroomError as exc:
            self.last_delivery_error = str(exc)
            logger.warning("outbox not delivered (kept for the next try): %s", exc)
            if self._failing_since is None:
                self._failing_since = now
            minutes = (now - self._failing_since).total_seconds() / 60
            if minutes >= self.config.health.delivery_alert_minutes:
                await self.device_alert(
                    "delivery-failing",
                    "gateway.delivery",
                    f"the readings have not reached the clinic for {minutes:.0f} min"
                    f" (kept on the gateway): {exc}",
                    "moderate",
                    active=True,
                )
            return None
        self.last_delivery_error = None
        self._failing_since = None
        await self.device_alert(
            "delivery-failing",
            "gateway.delivery",
            "the readings reach the clinic again",
            "moderate",
            active=False,
        )
        return result


# The field a missed-measurement rule's kind is counted by.
_FIELD: Final[dict[str, tuple[str, str]]] = {
    "blood_pressure": ("blood_pressure", "systolic"),
    "heart_rate": ("heart_rate", "bpm"),
    "oxygen_saturation": ("oxygen_saturation", "spo2_percent"),
    "body_temperature": ("body_temperature", "value"),
    "body_weight": ("body_weight", "value"),
    "blood_glucose": ("blood_glucose", "value"),
}


def _readings(series: Sequence[SeriesSummary], zone: Any) -> list[dict[str, Any]]:
    """The latest reading of each kind for the screen, with its 7-day change ("up", "down", "steady")."""
    by_key = {(s.kind, s.field): s for s in series}
    out = []
    for kind, field in _FIELD.values():
        main = by_key.get((kind, field))
        if main is None:
            continue
        text = f"{main.latest:.1f}".removesuffix(".0")
        diastolic = by_key.get((kind, "diastolic"))
        if kind == "blood_pressure" and diastolic is not None:
            text = f"{main.latest:.0f}/{diastolic.latest:.0f}"
        change = main.change
        steady = change is None or abs(change) < max(0.5, abs(main.latest) * 0.01)
        out.append(
            {
                "kind": kind,
                "text": text,
                "unit": main.unit,
                "at": main.latest_at.astimezone(zone).isoformat(),
                "change": None if change is None else round(change, 1),
                "trend": "steady" if steady else "up" if (change or 0) > 0 else "down",
            }
        )
    return out
