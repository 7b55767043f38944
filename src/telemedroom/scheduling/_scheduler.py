"""The :class:`Scheduler`: find slots, hold, book, and follow an appointment to its end."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from telemedroom.errors import (
    InvalidScheduleData,
    InvalidTimeRange,
    InvalidTransition,
    NaiveDatetimeError,
    SchedulingError,
    SlotUnavailable,
)
from telemedroom.scheduling._availability import Interval, merge, openings
from telemedroom.scheduling._codes import new_booking_code, normalize_booking_code
from telemedroom.scheduling._hooks import Clock, JoinTokenIssuer, ParticipantRole, system_clock
from telemedroom.scheduling._models import Appointment, AppointmentStatus, Hold, Resource, Service, Slot
from telemedroom.scheduling._slots import search
from telemedroom.scheduling._store import ScheduleStore

__all__ = ["Scheduler"]

# Join tokens open this long before the appointment and stay valid this long after it.
JOIN_EARLY = timedelta(minutes=15)
JOIN_LATE = timedelta(minutes=30)
# Statuses in which a consultation can still be joined.
_JOINABLE = frozenset({"booked", "checked-in", "arrived"})


def _aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise NaiveDatetimeError(name, value)


class Scheduler:
    """Finds free slots for services and books them in a :class:`ScheduleStore`.

    Args:
        store: Where holds and appointments live (opened by the caller).
        resources: The bookable rooms, practitioners and device kits.
        clock: Returns now; tests pass a fake clock.
        join_tokens: Issues consultation join tokens (the session layer's signer).
        hold_ttl: How long a hold lasts when ``hold`` is given no ``ttl``.

    Examples:
        >>> import asyncio
        >>> from datetime import UTC, date, datetime, time, timedelta
        >>> from telemedroom.scheduling import (AvailabilityRule, Requirement, Resource, Service,
        ...     SqliteStore)
        >>> weekdays = AvailabilityRule(rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        ...                             starts=date(2026, 1, 5), opens=time(9), closes=time(12))
        >>> room = Resource(id="room-1", kind="room", name="Room 1", availability=(weekdays,))
        >>> gp = Service(id="gp-20", name="Consultation", duration=timedelta(minutes=20),
        ...              requires=(Requirement(kind="room"),))
        >>> async def main() -> str:
        ...     async with SqliteStore(":memory:") as store:
        ...         scheduler = Scheduler(store, [room], clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))
        ...         slots = await scheduler.find_slots(gp, datetime(2026, 3, 2, tzinfo=UTC),
        ...                                            datetime(2026, 3, 3, tzinfo=UTC))
        ...         booked = await scheduler.book(slots[0], "pat-1", idempotency_key="req-1")
        ...         return f"{len(slots)} {booked.status} {booked.slot.start:%H:%M}Z"
        >>> asyncio.run(main())
        '9 booked 08:00Z'
    """

    def __init__(
        self,
        store: ScheduleStore,
        resources: Iterable[Resource],
        *,
        clock: Clock = system_clock,
        join_tokens: JoinTokenIssuer | None = None,
        hold_ttl: timedelta = timedelta(minutes=5),
    ) -> None:
        self.store = store
        self.resources: Mapping[str, Resource] = {r.id: r for r in resources}
        self.clock = clock
        self.join_tokens = join_tokens
        self.hold_ttl = hold_ttl

    def _now(self) -> datetime:
        now = self.clock()
        _aware("clock()", now)
        return now

    def _resource(self, resource_id: str, slot: Slot | None = None) -> Resource:
        try:
            return self.resources[resource_id]
        except KeyError:
            raise SlotUnavailable(slot, (resource_id,), "no such resource in this scheduler") from None

    async def find_slots(
        self,
        service: Service,
        start: datetime,
        end: datetime,
        *,
        resources: Iterable[Resource | str] | None = None,
        limit: int | None = None,
    ) -> list[Slot]:
        """Free slots for ``service`` starting in ``[start, end)``, earliest first.

        Slots in the past (before the clock's now) are not offered.

        Args:
            service: What is to be booked.
            start: Earliest start (timezone-aware).
            end: Latest start, exclusive (timezone-aware).
            resources: Only consider these resources (e.g. one physician); default all.
            limit: At most this many slots.

        Raises:
            NaiveDatetimeError: ``start`` or ``end`` has no time zone.
            InvalidTimeRange: ``end`` is not after ``start``.
            InvalidScheduleData: ``limit`` is below 1.
            SlotUnavailable: ``resources`` names a resource this scheduler does not know.
        """
        _aware("start", start)
        _aware("end", end)
        if end <= start:
            raise InvalidTimeRange(start, end)
        if limit is not None and limit < 1:
            raise InvalidScheduleData("limit", limit, "must be at least 1")
        now = self._now()
        start = max(start, now)
        if start >= end:
            return []
        if resources is None:
            pool = list(self.resources.values())
        else:
            pool = [self._resource(r if isinstance(r, str) else r.id) for r in resources]
        candidates = [[r for r in pool if req.matches(r)] for req in service.requires]
        ids = sorted({r.id for group in candidates for r in group})
        # openings may start before `start` (buffer) and run past `end` (the last slot's tail)
        window_start = start - service.buffer_before
        window_end = end + service.duration + service.buffer_after
        # whole openings: the slot grid starts where an opening starts, not at `start`
        opened = {rid: openings(self.resources[rid], window_start, window_end, clip=False) for rid in ids}
        if opened:
            window_start = min([window_start, *(o[0][0] for o in opened.values() if o)])
            window_end = max([window_end, *(o[-1][1] for o in opened.values() if o)])
        busy: dict[str, list[Interval]] = defaultdict(list)
        for b in await self.store.busy(ids, window_start, window_end, now=now):
            busy[b.resource_id].append((b.start, b.end))
        merged = {rid: merge(intervals) for rid, intervals in busy.items()}
        return search(service, candidates, opened, merged, start, end, limit=limit)

    def _check_bookable(self, slot: Slot) -> None:
        for resource_id in slot.resource_ids:
            resource = self._resource(resource_id, slot)
            open_ = openings(resource, slot.blocked_start, slot.blocked_end)
            if open_ != [(slot.blocked_start, slot.blocked_end)]:
                raise SlotUnavailable(slot, (resource_id,), "outside the resource's availability")

    async def hold(self, slot: Slot, ttl: timedelta | None = None) -> Hold:
        """Reserve ``slot`` for ``ttl`` (default ``hold_ttl``) while the patient decides.

        The hold lapses by itself; book it with :meth:`book` before then.

        Raises:
            SlotUnavailable: The slot is taken, held, in the past or outside availability.
        """
        now = self._now()
        if slot.start < now:
            raise SlotUnavailable(slot, slot.resource_ids, "the slot has already begun")
        self._check_bookable(slot)
        ttl = self.hold_ttl if ttl is None else ttl
        if ttl <= timedelta(0):
            raise InvalidScheduleData("ttl", ttl, "must be positive")
        hold = Hold(id=uuid.uuid4().hex, slot=slot, created_at=now, expires_at=now + ttl)
        return await self.store.add_hold(hold, now=now)

    async def release(self, hold: Hold | str) -> None:
        """Give a hold up before it lapses (the patient left the dialog)."""
        await self.store.release_hold(hold if isinstance(hold, str) else hold.id)

    async def book(self, slot_or_hold: Slot | Hold, patient: str, *, idempotency_key: str) -> Appointment:
        """Book a slot (or a live hold) for a patient.

        A repeated call with the same ``idempotency_key`` returns the first appointment,
        so a client may safely retry after a timeout.

        Args:
            slot_or_hold: A slot from :meth:`find_slots`, or a hold from :meth:`hold`.
            patient: The patient's FHIR id.
            idempotency_key: A key the client chose for this booking request.

        Raises:
            SlotUnavailable: Someone else holds or booked one of the resources, or the
                slot has begun.
            HoldExpired: The hold lapsed, was released or used.
            IdempotencyKeyReused: The key was used for a different request.
        """
        now = self._now()
        hold_id = slot_or_hold.id if isinstance(slot_or_hold, Hold) else None
        slot = slot_or_hold.slot if isinstance(slot_or_hold, Hold) else slot_or_hold
        if slot.start < now:
            raise SlotUnavailable(slot, slot.resource_ids, "the slot has already begun")
        self._check_bookable(slot)
        appointment = Appointment(
            id=uuid.uuid4().hex,
            slot=slot,
            patient=patient,
            status="booked",
            booking_code=new_booking_code(),
            created_at=now,
            idempotency_key=idempotency_key,
        )
        return await self.store.book(appointment, hold_id=hold_id, now=now)

    async def reschedule(self, appointment: Appointment | str, slot: Slot) -> Appointment:
        """Move an appointment to another slot atomically.

        The new slot is taken before the old one is released, in one transaction: if
        the new slot is gone, the old appointment stays as it was. The old appointment
        becomes ``cancelled``; the new one has a new id and booking code and refers to
        the old one in ``rescheduled_from``.

        Raises:
            SlotUnavailable: The new slot is taken.
            InvalidTransition: The old appointment can no longer be cancelled.
        """
        now = self._now()
        old_id = appointment if isinstance(appointment, str) else appointment.id
        if slot.start < now:
            raise SlotUnavailable(slot, slot.resource_ids, "the slot has already begun")
        self._check_bookable(slot)
        old = await self.store.get(old_id)
        new = Appointment(
            id=uuid.uuid4().hex,
            slot=slot,
            patient=old.patient,
            status="booked",
            booking_code=new_booking_code(),
            created_at=now,
            rescheduled_from=old.id,
        )
        return await self.store.reschedule(old.id, new, now=now)

    async def _move(self, appointment: Appointment | str, to: AppointmentStatus) -> Appointment:
        appointment_id = appointment if isinstance(appointment, str) else appointment.id
        return await self.store.transition(appointment_id, to, now=self._now())

    async def cancel(self, appointment: Appointment | str) -> Appointment:
        """Cancel an appointment and free its resources.

        Raises:
            InvalidTransition: It is already cancelled, fulfilled, checked in, ...
        """
        return await self._move(appointment, "cancelled")

    async def check_in(self, booking_code: str) -> Appointment:
        """Check a patient in at the kiosk with the booking code (case, spaces and dashes ignored).

        Raises:
            UnknownBookingCode: No appointment has this code.
            InvalidTransition: The appointment is not booked (cancelled, already checked in...).
        """
        found = await self.store.by_code(normalize_booking_code(booking_code))
        return await self._move(found, "checked-in")

    async def reopen(self, appointment: Appointment | str) -> Appointment:
        """Return a checked-in (or arrived) appointment to ``booked``: its visit did not take place.

        For a visit aborted before its encounter was recorded, or cut off by a crash: the
        booking still stands (FHIR ``booked``: confirmed to go ahead at its time), so the
        same booking code checks the patient in again; nothing was ``fulfilled``, and it
        is neither ``cancelled`` nor ``noshow``. The resources stay blocked throughout.
        FHIR Appointment has no field for why; the caller records the reason (the room
        writes it to its audit log).

        Raises:
            InvalidTransition: It is not checked in or arrived (booked still, fulfilled,
                cancelled...).
        """
        return await self._move(appointment, "booked")

    async def mark_no_show(self, appointment: Appointment | str) -> Appointment:
        """Record that the patient did not come (FHIR ``noshow``)."""
        return await self._move(appointment, "noshow")

    async def complete(self, appointment: Appointment | str) -> Appointment:
        """Record that the consultation took place (FHIR ``fulfilled``)."""
        return await self._move(appointment, "fulfilled")

    async def get(self, appointment_id: str) -> Appointment:
        """The appointment with this id (``UnknownAppointment`` if none)."""
        return await self.store.get(appointment_id)

    async def issue_join_tokens(self, appointment: Appointment | str) -> dict[str, str]:
        """Issue the consultation's join tokens through the ``join_tokens`` hook.

        One token for the patient and one per practitioner of the slot, valid from
        15 minutes before the start until 30 minutes after the end.

        Returns:
            Participant id to token, e.g. ``{"pat-1": "...", "dr-a": "..."}``.

        Raises:
            SchedulingError: No hook was configured.
            InvalidTransition: The appointment cannot be joined any more (cancelled...).
        """
        if self.join_tokens is None:
            raise SchedulingError("no join-token issuer configured; pass Scheduler(join_tokens=...)")
        current = await self.store.get(appointment if isinstance(appointment, str) else appointment.id)
        if current.status not in _JOINABLE:
            raise InvalidTransition(current.id, current.status, "arrived")
        participants: list[tuple[str, ParticipantRole]] = [(current.patient, "patient")]
        participants += [
            (rid, "practitioner")
            for rid in current.slot.resource_ids
            if self._resource(rid, current.slot).kind == "practitioner"
        ]
        return {
            participant: await self.join_tokens(
                appointment_id=current.id,
                participant=participant,
                role=role,
                not_before=current.slot.start - JOIN_EARLY,
                not_after=current.slot.end + JOIN_LATE,
            )
            for participant, role in participants
        }
