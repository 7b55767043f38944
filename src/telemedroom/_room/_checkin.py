"""Check-in: a booking code becomes a visit (or a refusal the kiosk can show); walk-ins for demos."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from telemedroom._room._core import RoomCore
from telemedroom._room._events import (
    CheckedIn,
    CheckInRejected,
    RoomState,
)
from telemedroom._room._models import Visit
from telemedroom.errors import (
    CheckInRefused,
    InvalidTransition,
    RoomError,
    UnknownBookingCode,
)

if TYPE_CHECKING:
    from telemedroom.scheduling import Appointment

__all__ = ["CHECK_IN_EARLY", "CHECK_IN_FAILURES", "CHECK_IN_WINDOW", "CheckIn"]

logger = logging.getLogger("telemedroom.room")

# How early before its slot a booking code is accepted: when its join tokens become valid
# (the scheduler's JOIN_EARLY; not imported, so that `import telemedroom` stays quick).
CHECK_IN_EARLY: Final = timedelta(minutes=15)
# Wrong booking codes allowed within CHECK_IN_WINDOW before the kiosk says "too many attempts".
CHECK_IN_FAILURES: Final = 5
CHECK_IN_WINDOW: Final = timedelta(minutes=5)


class CheckIn(RoomCore):
    """The check-in phase of :class:`~telemedroom.room.Room`: ``idle`` to ``checked_in``."""

    async def check_in(self, booking_code: str) -> Visit:
        """Check a patient in with the booking code from their appointment.

        Raises:
            CheckInRefused: ``unknown_code`` (no such booking), ``too_many_attempts``
                (too many wrong codes lately), ``not_now`` (outside the appointment's
                time or not bookable any more) or ``busy`` (a visit is in progress); a
                :class:`CheckInRejected` event says the same to the kiosk.
        """
        async with self._lock:
            return await self._check_in(booking_code)

    def _refuse(self, reason: str, cause: BaseException | None = None) -> CheckInRefused:
        self._emit(CheckInRejected(reason=reason))
        self._audit("check_in_refused", {"reason": reason})
        error = CheckInRefused(reason)
        error.__cause__ = cause
        return error

    async def _check_in(self, booking_code: str) -> Visit:
        from telemedroom.scheduling import normalize_booking_code

        if self._state is not RoomState.IDLE:
            raise self._refuse("busy")
        if self.scheduler is None:
            raise RoomError("the room is not open; use `async with Room(config)`")
        now = self._clock()
        while self._failed_codes and now - self._failed_codes[0] > CHECK_IN_WINDOW:
            self._failed_codes.popleft()
        if len(self._failed_codes) >= CHECK_IN_FAILURES:
            raise self._refuse("too_many_attempts")
        try:
            found = await self.scheduler.store.by_code(normalize_booking_code(booking_code))
        except (UnknownBookingCode, ValueError) as exc:
            self._failed_codes.append(now)
            raise self._refuse("unknown_code", exc) from exc
        if not found.slot.start - CHECK_IN_EARLY <= now <= found.slot.end:
            raise self._refuse("not_now")
        try:
            appointment = await self.scheduler.check_in(booking_code)
        except InvalidTransition as exc:
            raise self._refuse("not_now", exc) from exc
        visit = Visit(
            visit_id=uuid.uuid4().hex,
            appointment_id=appointment.id,
            patient=appointment.patient,
            language=self.config.language,
            devices=tuple(self.config.devices),
            checked_in_at=now,
        )
        self.visit, self._appointment = visit, appointment
        self.readings, self.skipped, self.snapshots = [], [], []
        self._exam_bundle = None
        await self._move("check_in")
        self._wake.set()
        self._audit("checked_in", {"visit": visit.visit_id})
        self._emit(
            CheckedIn(
                visit_id=visit.visit_id,
                appointment_id=visit.appointment_id,
                language=visit.language,
                devices=list(visit.devices),
            )
        )
        return visit

    async def book_walk_in(self, patient: str, *, minutes: int = 20) -> Appointment:
        """Book a visit starting now, in this room with a practitioner of the schedule.

        For the demo and for tests: the embedded schedule has an on-call physician; a
        clinic books through its booking service instead.

        Args:
            patient: The patient's FHIR id (no name).
            minutes: The slot's length.

        Returns:
            The appointment; its ``booking_code`` checks the patient in.

        Raises:
            RoomError: The schedule has no practitioner.
            SlotUnavailable: The room or the practitioner is taken now.
        """
        from telemedroom.scheduling import Requirement, Service

        if self.scheduler is None:
            raise RoomError("the room is not open; use `async with Room(config)`")
        practitioners = [r.id for r in self.scheduler.resources.values() if r.kind == "practitioner"]
        if not practitioners:
            raise RoomError("the schedule has no practitioner to book a walk-in with")
        service = Service(
            id="walk-in",
            name="Walk-in consultation",
            duration=timedelta(minutes=minutes),
            requires=(Requirement(kind="room"), Requirement(kind="practitioner")),
            interval=timedelta(minutes=1),  # the next free minute, not the next 20-minute mark
        )
        now = self.scheduler.clock()
        slots = await self.scheduler.find_slots(
            service, now, now + timedelta(days=1), resources=[self.config.room_id, *practitioners], limit=1
        )
        if not slots:
            raise RoomError("no free slot for a walk-in within a day")
        return await self.scheduler.book(slots[0], patient, idempotency_key=uuid.uuid4().hex)
