"""The booking itself, without HTTP: slots by day, holds, confirmation, the manage link, retention.

:class:`BookingService` sits on :class:`~telemedroom.scheduling.Scheduler` (whose store
decides every conflict atomically, so two residents confirming one slot can never both
win) and adds what a resident's booking needs: the abuse limits, the resident's details
sealed in :class:`~telemedroom.booking.ResidentRecords`, the manage link, the e-mail and
SMS, and the FHIR Patient and Appointment through the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from telemedroom.booking._config import BookingConfig
from telemedroom.booking._dates import when_text
from telemedroom.booking._fhir import booking_bundle, update_bundle
from telemedroom.booking._forms import parse_slot_value
from telemedroom.booking._limits import HoldLedger, SlidingWindow
from telemedroom.booking._mail import Mailer, SmsSender, SmtpMailer, compose
from telemedroom.booking._records import ResidentDetails, ResidentRecord, ResidentRecords
from telemedroom.booking._texts import TEXTS
from telemedroom.errors import (
    BookingConfigError,
    BookingError,
    BookingInputError,
    BookingRefused,
    EmailDeliveryError,
    FhirError,
    HoldExpired,
    InvalidTransition,
    SchedulingError,
    SlotUnavailable,
    UnknownAppointment,
    UnknownBookingCode,
)
from telemedroom.scheduling import (
    Appointment,
    Hold,
    Resource,
    Scheduler,
    Service,
    Slot,
    appointments_to_ical,
    normalize_booking_code,
)

if TYPE_CHECKING:
    from telemedroom.fhir import FhirSink, Outbox

__all__ = ["Booked", "BookingService", "open_booking"]

logger = logging.getLogger(__name__)


class _NoQueryParameters(logging.Filter):
    """Drops aiosqlite's DEBUG records: they print each query's parameters (booking codes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _silence_query_logs() -> None:
    # Nothing of a booking may reach a log, even with DEBUG switched on for everything.
    sqlite_logger = logging.getLogger("aiosqlite")
    if not any(isinstance(f, _NoQueryParameters) for f in sqlite_logger.filters):
        sqlite_logger.addFilter(_NoQueryParameters())


@dataclass(frozen=True, slots=True)
class Booked:
    """A confirmed (or moved) appointment, its manage-link token and whether the e-mail went out.

    ``emailed`` is ``None`` when there was nothing to send (no address, no SMTP server).
    """

    appointment: Appointment
    token: str
    emailed: bool | None


class BookingService:
    """The residents' booking on a scheduler (see the module docstring).

    Args:
        config: The booking configuration.
        scheduler: The schedule (its resources are the bookable rooms and physicians).
        services: The bookable services by id, in the order the page lists them.
        records: The residents' records (opened by the caller).
        outbox: Where the FHIR bundles wait (opened by the caller), or ``None``.
        fhir_sink: Where the outbox delivers to (drained after each change), or ``None``.
        mailer: Sends the confirmation e-mail (default: ``[smtp]``, or none).
        sms: An SMS hook ``(phone, text)``, or ``None``.

    Examples:
        >>> import asyncio, base64, os, tempfile
        >>> from datetime import UTC, date, datetime, time, timedelta
        >>> from telemedroom.scheduling import (AvailabilityRule, Requirement, Resource, Scheduler,
        ...     Service, SqliteStore)
        >>> from telemedroom.booking import BookingConfig, ResidentRecords
        >>> rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 1, 1),
        ...                         opens=time(9), closes=time(12))
        >>> room = Resource(id="room-1", kind="room", name="Room 1", availability=(rule,))
        >>> gp = Service(id="gp-20", name="GP", duration=timedelta(minutes=20),
        ...              requires=(Requirement(kind="room"),))
        >>> config = BookingConfig(clinic_name="Praxis", schedule_file="s.toml", data_dir=tempfile.mkdtemp(),
        ...                        encryption_key=base64.b64encode(bytes(32)).decode(), fields=["email"])
        >>> clock = lambda: datetime(2026, 3, 2, 7, tzinfo=UTC)
        >>> async def main():
        ...     records = ResidentRecords(":memory:", key=config.key)
        ...     async with SqliteStore(":memory:") as store, records:
        ...         scheduler = Scheduler(store, [room], clock=clock)
        ...         service = BookingService(config, scheduler, {"gp-20": gp}, records)
        ...         day, slots = next(iter((await service.free_days("gp-20")).items()))
        ...         value = service.slot_value(slots[0])
        ...         hold = await service.hold("gp-20", value, client="c", ip="127.0.0.1")
        ...         details = ResidentDetails(name="Erika", birth_date=date(1950, 4, 1),
        ...                                   email="e@example.org")
        ...         booked = await service.confirm(hold.id, details, client="c", ip="127.0.0.1")
        ...         return day.isoformat(), booked.appointment.status, booked.emailed
        >>> asyncio.run(main())
        ('2026-03-02', 'booked', None)
    """

    def __init__(
        self,
        config: BookingConfig,
        scheduler: Scheduler,
        services: Mapping[str, Service],
        records: ResidentRecords,
        *,
        outbox: Outbox | None = None,
        fhir_sink: FhirSink | None = None,
        mailer: Mailer | None = None,
        sms: SmsSender | None = None,
    ) -> None:
        self.config = config
        self.scheduler = scheduler
        self.services = dict(services)
        self.records = records
        self.outbox = outbox
        self.fhir_sink = fhir_sink
        self.mailer = mailer if mailer is not None else (SmtpMailer(config.smtp) if config.smtp else None)
        self.sms = sms
        limits = config.limits
        self.requests = SlidingWindow(limits.requests_per_minute, timedelta(minutes=1))
        self.bookings_per_ip = SlidingWindow(limits.bookings_per_hour_per_ip, timedelta(hours=1))
        self.lookups = SlidingWindow(limits.lookups_per_hour_per_ip, timedelta(hours=1))
        self.holds_by_client = HoldLedger(limits.holds_per_client)
        # several residents behind one address (a care home's network) may hold a few more
        self.holds_by_ip = HoldLedger(limits.holds_per_client * 5)
        self._drain: asyncio.Task[None] | None = None
        self._drain_again = False
        self.fhir_failures = 0

    # -- what the page shows ------------------------------------------------------------

    @property
    def resources(self) -> Mapping[str, Resource]:
        """The scheduler's resources by id."""
        return self.scheduler.resources

    def now(self) -> datetime:
        """The scheduler's clock."""
        return self.scheduler.clock()

    def zone_of(self, slot: Slot) -> ZoneInfo:
        """The zone the slot is shown in: its room's (else its first resource's)."""
        chosen = [self.resources[r] for r in slot.resource_ids if r in self.resources]
        rooms = [r for r in chosen if r.kind == "room"] or chosen
        return rooms[0].zone if rooms else ZoneInfo("UTC")

    @property
    def zone(self) -> ZoneInfo:
        """The zone of the first room (the page's "local time")."""
        rooms = [r for r in self.resources.values() if r.kind == "room"] or list(self.resources.values())
        return rooms[0].zone

    def room_name(self, slot: Slot) -> str:
        """The name of the slot's room."""
        rooms = [self.resources[r] for r in slot.resource_ids if self.resources[r].kind == "room"]
        return rooms[0].name if rooms else self.config.clinic_name

    def service(self, service_id: str) -> Service:
        """A bookable service.

        Raises:
            BookingInputError: ``service`` ``unknown``.
        """
        try:
            return self.services[service_id]
        except KeyError:
            raise BookingInputError("service", "unknown") from None

    @staticmethod
    def slot_value(slot: Slot) -> str:
        """What the page's slot button sends back: ``START|RESOURCE,...``."""
        return f"{slot.start.isoformat()}|{','.join(slot.resource_ids)}"

    def slot_of(self, service_id: str, value: str) -> Slot:
        """The slot a button's value names, checked against the service's requirements.

        Raises:
            BookingInputError: ``slot`` ``not_a_slot`` (malformed, or resources that do
                not fit the service).
        """
        service = self.service(service_id)
        start, ids = parse_slot_value(value)
        found = [self.resources.get(r) for r in ids]
        if len(ids) != len(service.requires) or not all(
            resource is not None and need.matches(resource)
            for resource, need in zip(found, service.requires, strict=True)
        ):
            raise BookingInputError("slot", "not_a_slot")
        try:
            return Slot(
                service_id=service.id,
                start=start,
                end=start + service.duration,
                resource_ids=ids,
                buffer_before=service.buffer_before,
                buffer_after=service.buffer_after,
            )
        except SchedulingError:
            raise BookingInputError("slot", "not_a_slot") from None

    async def free_days(self, service_id: str, *, after: datetime | None = None) -> dict[date, list[Slot]]:
        """Free slots of a service for :attr:`~BookingConfig.days_ahead` days, by local day.

        Where several resource combinations offer the same start, the first is kept: the
        resident picks a time, not a physician.
        """
        service = self.service(service_id)
        now = self.now()
        start = max(now, after) if after is not None else now
        slots = await self.scheduler.find_slots(service, start, now + timedelta(days=self.config.days_ahead))
        days: dict[date, list[Slot]] = defaultdict(list)
        seen: set[datetime] = set()
        zones: dict[tuple[str, ...], ZoneInfo] = {}  # one lookup per resource combination
        for slot in slots:
            if slot.start in seen:
                continue
            seen.add(slot.start)
            zone = zones.get(slot.resource_ids)
            if zone is None:
                zone = zones[slot.resource_ids] = self.zone_of(slot)
            days[slot.start.astimezone(zone).date()].append(slot)
        return dict(days)

    # -- hold, confirm ------------------------------------------------------------------

    def count_request(self, ip: str) -> None:
        """Count one request of ``ip`` (``BookingRefused("rate_limited")`` past the limit)."""
        self.requests.hit(ip, self.now())

    async def hold(self, service_id: str, value: str, *, client: str, ip: str) -> Hold:
        """Hold a slot for a client while the resident types.

        Raises:
            BookingInputError: The slot value is malformed.
            BookingRefused: ``hold_limit`` (this client or address holds enough already).
            SlotUnavailable: Someone else holds or booked it.
        """
        slot = self.slot_of(service_id, value)
        now = self.now()
        self.holds_by_client.check(client, now)
        self.holds_by_ip.check(ip, now)
        held = await self.scheduler.hold(slot, timedelta(minutes=self.config.hold_minutes))
        self.holds_by_client.add(client, held.id, held.expires_at, now)
        self.holds_by_ip.add(ip, held.id, held.expires_at, now)
        return held

    async def own_hold(self, hold_id: str, client: str) -> Hold:
        """A hold of this client (lapsed or not).

        Raises:
            BookingRefused: ``link_invalid``: unknown, or another client's.
        """
        if len(hold_id) > 64:
            raise BookingRefused("link_invalid")
        try:
            held = await self.scheduler.store.get_hold(hold_id)
        except HoldExpired:
            raise BookingRefused("link_invalid") from None
        owner = self.holds_by_client.owner(hold_id)
        if owner is not None and owner != client:
            raise BookingRefused("link_invalid")
        if owner is None and held.expires_at > self.now():
            raise BookingRefused("link_invalid")  # a live hold this process did not give this client
        return held

    async def extend(self, hold_id: str, *, client: str) -> Hold:
        """Give the resident another full hold time (WCAG 2.2.1: a time limit they can extend).

        The hold is released and taken again at once; should someone take the slot in
        between, :class:`~telemedroom.errors.SlotUnavailable` says so.
        """
        held = await self.own_hold(hold_id, client)
        await self.scheduler.release(held)
        fresh = await self.scheduler.hold(held.slot, timedelta(minutes=self.config.hold_minutes))
        for ledger in (self.holds_by_client, self.holds_by_ip):
            with contextlib.suppress(KeyError):
                ledger.replace(held.id, fresh.id, fresh.expires_at)
        return fresh

    async def confirm(self, hold_id: str, details: ResidentDetails, *, client: str, ip: str) -> Booked:
        """Book the held slot for the resident; a lapsed hold books the slot if it is still free.

        Raises:
            BookingRefused: ``link_invalid`` (not this client's hold), ``rate_limited``
                (too many bookings from this address or for this contact).
            SlotUnavailable: The slot went to someone else (the hold lapsed first).
        """
        held = await self.own_hold(hold_id, client)
        now = self.now()
        self.bookings_per_ip.check(ip, now)
        contact = details.email or details.phone or ""
        if await self.records.bookings_since(contact, now - timedelta(days=1)) >= (
            self.config.limits.bookings_per_day_per_contact
        ):
            raise BookingRefused("rate_limited", retry_after=3600)
        patient = uuid.uuid4().hex
        key = f"hold-{held.id}"
        try:
            appointment = await self.scheduler.book(held, patient, idempotency_key=key)
        except HoldExpired:
            appointment = await self.scheduler.book(held.slot, patient, idempotency_key=key)
        self.bookings_per_ip.hit(ip, now)
        for ledger in (self.holds_by_client, self.holds_by_ip):
            ledger.drop(held.id)
        if appointment.patient != patient:  # a retried confirmation: the first one stands
            return Booked(
                appointment, await self.records.new_link(appointment.id, appointment.slot.end), None
            )
        token = await self.records.add(
            appointment.id,
            patient,
            details,
            consent_version=self.config.privacy_version,
            now=now,
            slot_end=appointment.slot.end,
        )
        await self._to_fhir(booking_bundle(appointment, details, self.resources, self.config.public_url))
        emailed = await self._notify(appointment, details, token, "booked")
        return Booked(appointment, token, emailed)

    # -- the manage link ----------------------------------------------------------------

    def manage_url(self, token: str) -> str:
        """The manage link of a token."""
        return f"{self.config.public_url}/booking/manage/{token}"

    async def manage(self, token: str) -> tuple[Appointment, ResidentRecord]:
        """The appointment and record behind a manage link (audited).

        Raises:
            BookingRefused: ``link_invalid``.
        """
        now = self.now()
        appointment_id = await self.records.by_link(token, now=now)
        try:
            appointment = await self.scheduler.get(appointment_id)
        except UnknownAppointment:
            raise BookingRefused("link_invalid") from None
        record = await self.records.get(appointment_id)
        await self.records.audit("viewed", appointment_id, now=now)
        return appointment, record

    async def cancel(self, token: str) -> Appointment:
        """Cancel the appointment of a manage link; its resources are free at once.

        Raises:
            BookingRefused: ``link_invalid``.
            InvalidTransition: It can no longer be cancelled (checked in, fulfilled...).
        """
        appointment, record = await self.manage(token)
        cancelled = await self.scheduler.cancel(appointment)
        await self.records.audit("cancelled", appointment.id, now=self.now())
        if record.details is not None:
            await self._to_fhir(
                update_bundle([cancelled], self.resources, record.details, self.config.public_url)
            )
            await self._notify(cancelled, record.details, None, "cancelled")
        return cancelled

    async def reschedule(self, token: str, value: str) -> Booked:
        """Move the appointment of a manage link to another slot of its service, atomically.

        The old appointment stays as it was if the new slot is gone. The new one has a
        new booking code; the manage link follows it.

        Raises:
            BookingRefused: ``link_invalid``.
            BookingInputError: The slot value is malformed.
            SlotUnavailable: The new slot is taken.
            InvalidTransition: The appointment can no longer be moved.
        """
        appointment, record = await self.manage(token)
        if record.details is None:
            raise BookingRefused("link_invalid")
        slot = self.slot_of(appointment.slot.service_id, value)
        moved = await self.scheduler.reschedule(appointment, slot)
        await self.records.move(appointment.id, moved.id, moved.slot.end)
        await self.records.audit("rescheduled", moved.id, now=self.now())
        old = await self.scheduler.get(appointment.id)
        await self._to_fhir(
            update_bundle([old, moved], self.resources, record.details, self.config.public_url)
        )
        emailed = await self._notify(moved, record.details, token, "booked")
        return Booked(moved, token, emailed)

    async def find(self, code: str, birth_date: date, *, ip: str) -> str:
        """A fresh manage link for booking code + date of birth (the lost-link fallback).

        Both must match; a wrong code and a wrong date of birth are refused alike, and
        each address has few tries per hour, so codes cannot be enumerated.

        Raises:
            BookingRefused: ``not_found`` or ``rate_limited``.
        """
        now = self.now()
        self.lookups.hit(ip, now)
        try:
            appointment = await self.scheduler.store.by_code(normalize_booking_code(code))
        except (UnknownBookingCode, ValueError, SchedulingError):
            raise BookingRefused("not_found") from None
        if appointment.slot.end <= now or not await self.records.birth_matches(appointment.id, birth_date):
            raise BookingRefused("not_found")
        await self.records.audit("found", appointment.id, now=now)
        return await self.records.new_link(appointment.id, appointment.slot.end)

    async def calendar(self, appointment: Appointment) -> bytes:
        """The appointment as an iCalendar file for the resident (with the booking code)."""
        return appointments_to_ical(
            [appointment], self.resources, include_details=True, name=self.config.clinic_name
        )

    # -- retention ----------------------------------------------------------------------

    async def purge(self) -> int:
        """Delete the details of appointments that ended more than ``retention_days`` ago."""
        now = self.now()
        count = await self.records.purge(before=now - timedelta(days=self.config.retention_days))
        await self.records.audit("purged", None, now=now)
        return count

    # -- e-mail, SMS, FHIR --------------------------------------------------------------

    async def _notify(
        self, appointment: Appointment, details: ResidentDetails, token: str | None, kind: str
    ) -> bool | None:
        texts = TEXTS[details.language if details.language in TEXTS else self.config.language]
        zone = self.zone_of(appointment.slot)
        when = when_text(appointment.slot.start, zone, details.language)
        clinic = self.config.clinic_name
        link = self.manage_url(token) if token else None
        if self.sms is not None and details.phone and kind == "booked" and link:
            try:
                await self.sms(
                    details.phone,
                    texts["sms_booked"].format(
                        clinic=clinic, when=when, code=appointment.booking_code, link=link
                    ),
                )
            except Exception:  # the operator's hook: whatever it raises, the booking stands
                logger.warning("the SMS hook failed; the booking stands")
        if self.mailer is None or not details.email or self.config.smtp is None:
            return None
        service = self.services[appointment.slot.service_id].name
        greeting = texts["mail_greeting"].format(name=details.name)
        calendar: bytes | None = None
        if kind == "booked":
            subject = texts["mail_subject"].format(when=when)
            where = self.room_name(appointment.slot)
            lines = [
                greeting,
                texts["mail_body"].format(service=service, when=when, where=where),
                texts["mail_code"].format(code=appointment.booking_code),
                texts["mail_manage"],
            ]
            calendar = await self.calendar(appointment)
        else:
            subject = texts["mail_cancel_subject"].format(when=when)
            lines, link = [greeting, texts["mail_cancelled"].format(when=when)], None
        message = compose(
            sender=self.config.smtp.sender,
            recipient=details.email,
            name=details.name,
            subject=subject,
            lines=lines,
            link=link,
            closing=texts["mail_bye"].format(clinic=clinic),
            calendar=calendar,
            language=details.language,
            now=self.now(),
        )
        try:
            await self.mailer.send(message)
        except EmailDeliveryError as exc:
            # the page tells the resident to note the code; the log says nothing personal
            logger.warning("confirmation e-mail not delivered: %s", exc.reason)
            return False
        return True

    async def _to_fhir(self, bundle: dict[str, Any]) -> None:
        if self.outbox is None:
            return
        await self.outbox.put(bundle)
        if self.fhir_sink is None:
            return
        if self._drain is not None and not self._drain.done():
            self._drain_again = True
            return
        self._drain = asyncio.create_task(self._deliver())

    async def _deliver(self) -> None:
        assert self.outbox is not None
        assert self.fhir_sink is not None
        while True:
            self._drain_again = False
            try:
                await self.outbox.drain(self.fhir_sink, max_failures=3)
            except (FhirError, BookingError):
                self.fhir_failures += 1
                logger.warning("FHIR server not reachable; the bundles stay in the outbox")
                return
            if not self._drain_again:
                return

    async def deliver(self) -> None:
        """Wait until what is in the outbox was delivered (or the delivery gave up)."""
        if self._drain is not None:
            await asyncio.shield(self._drain)
        if self.outbox is not None and self.fhir_sink is not None and await self.outbox.pending():
            self._drain = asyncio.create_task(self._deliver())
            await self._drain


@asynccontextmanager
async def open_booking(
    config: BookingConfig,
    *,
    schedule: tuple[Sequence[Resource], Mapping[str, Service]] | None = None,
    clock: Any = None,
    mailer: Mailer | None = None,
    sms: SmsSender | None = None,
    fhir_sink: FhirSink | None = None,
) -> AsyncIterator[BookingService]:
    """Open everything a :class:`BookingService` needs from its configuration.

    The schedule (resources and services) comes from ``config.schedule_file`` unless
    given; the store from ``config.store_url``; the residents' records and the outbox
    from ``config.data_dir``; the FHIR sink is ``config.fhir_base_url``'s server, or
    NDJSON files in ``data_dir/fhir``.

    Raises:
        BookingConfigError: The schedule file is missing or invalid.
    """
    from telemedroom.fhir import FhirClient, FileSink, Outbox
    from telemedroom.scheduling import PostgresStore, ScheduleStore, SqliteStore

    _silence_query_logs()
    if schedule is None:
        resources, services = _load_schedule(config)
    else:
        resources, services = list(schedule[0]), dict(schedule[1])
    url = config.store_url
    store: ScheduleStore
    if url.startswith("sqlite:///"):
        store = SqliteStore(url.removeprefix("sqlite:///"))
    else:
        store = PostgresStore(url)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(store)
        records = await stack.enter_async_context(
            ResidentRecords(config.data_dir / "residents.sqlite", key=config.key)
        )
        outbox = await stack.enter_async_context(Outbox(config.data_dir / "outbox.sqlite", key=config.key))
        sink: Any = fhir_sink
        if sink is None:
            if config.fhir_base_url:
                sink = await stack.enter_async_context(FhirClient(config.fhir_base_url))
            else:
                sink = FileSink(config.data_dir / "fhir")
        scheduler = Scheduler(
            store,
            resources,
            clock=clock or (lambda: datetime.now(UTC)),
            hold_ttl=timedelta(minutes=config.hold_minutes),
        )
        service = BookingService(
            config, scheduler, services, records, outbox=outbox, fhir_sink=sink, mailer=mailer, sms=sms
        )
        try:
            yield service
        finally:
            if service._drain is not None:
                service._drain.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await service._drain


def _load_schedule(config: BookingConfig) -> tuple[list[Resource], dict[str, Service]]:
    from telemedroom.errors import RoomConfigError
    from telemedroom.scheduling import load_schedule

    try:
        plan = load_schedule(config.schedule_file)
    except RoomConfigError as exc:
        raise BookingConfigError(exc.key, exc.source, exc.reason) from exc
    return list(plan.resources), dict(plan.services)


# Errors the page turns into "the slot is gone": listed once for the app.
TAKEN = (SlotUnavailable, HoldExpired)
NOT_CHANGEABLE = (InvalidTransition,)
