"""The visit's end: the wrap-up (one FHIR transaction, journaled first), the cleaning buffer, abort."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from telemedroom._room._consultation import Consultation
from telemedroom._room._events import (
    CleaningStarted,
    RoomState,
    VisitWrappedUp,
)
from telemedroom._room._machine import ABORTABLE, next_state
from telemedroom._room._models import VisitSummary
from telemedroom._room._rejections import rejection_events
from telemedroom._room._reopen import reopen_appointment
from telemedroom.errors import (
    RoomError,
    TelemedroomError,
)

if TYPE_CHECKING:
    from telemedroom.fhir.outbox import DrainResult

__all__ = ["Ending"]

logger = logging.getLogger("telemedroom.room")

_ABORTABLE: Final = ABORTABLE


class Ending(Consultation):
    """The end of a visit in :class:`~telemedroom.room.Room`: wrap-up and cleaning, or abort."""

    async def end_consultation(self) -> VisitSummary:
        """Wrap the visit up: one FHIR transaction into the outbox, then the cleaning buffer.

        The transaction holds the ``Encounter`` (class ``VR``, virtual; status
        ``finished``; period, subject, appointment), every reading as Observations, each
        snapshot (the room's and those the physician asked for) as ``Media``, and a
        ``Provenance``. It is sealed into the journal first, so a crash from here on
        replays it on restart; every id in it is deterministic.

        Raises:
            RoomStateError: Not in consultation.
        """
        async with self._lock:
            self._require(RoomState.IN_CONSULTATION, action="end_consultation")
            visit = self.visit
            assert visit is not None
            assert self._journal is not None
            assert self.outbox is not None
            participants: list[Any] = []
            if self.peer is not None:
                for snapshot in list(self.peer.snapshots):  # taken at the physician's request
                    self._keep(snapshot, "exam", None)
                participants = self.peer.sfu.participants.encounter_participants()
            await self._leave()
            ended = self._clock()
            from telemedroom._room._facial import measurement_entries_for
            from telemedroom._room._wrapup import encounter_id, wrap_up_bundle

            measures = await measurement_entries_for(  # facial measurements, when configured
                self.snapshots,
                detector=self._detector,
                patient=visit.patient_reference,
                encounter=f"Encounter/{encounter_id(self.config.room_id, visit.visit_id)}",
            )
            bundle, encounter, observations = wrap_up_bundle(
                room_id=self.config.room_id,
                room_name=self.config.name,
                visit=visit,
                measurements=self.readings,
                snapshots=self.snapshots,
                ended=ended,
                extra_entries=[*(self._exam_bundle["entry"] if self._exam_bundle else ()), *measures],
                patient_system=self.config.fhir.patient_identifier_system,
                participants=participants,
            )
            await self._journal.write(visit.visit_id, visit.appointment_id, RoomState.WRAP_UP, bundle)
            await self._move("end")
            ids = await self.outbox.put(bundle)
            self._audit(
                "wrapped_up",
                {
                    "encounter": encounter,
                    "observations": str(observations),
                    "media": str(len(self.snapshots)),
                },
            )
            if self.scheduler is not None:
                with contextlib.suppress(TelemedroomError):
                    await self.scheduler.complete(visit.appointment_id)
            self._emit(
                VisitWrappedUp(
                    visit_id=visit.visit_id,
                    encounter_id=encounter,
                    observations=observations,
                    media=len(self.snapshots),
                    outbox_ids=ids,
                )
            )
            summary = VisitSummary(
                visit_id=visit.visit_id,
                appointment_id=visit.appointment_id,
                encounter_id=encounter,
                started=visit.checked_in_at,
                ended=ended,
                observations=observations,
                media=len(self.snapshots),
                outbox_ids=tuple(ids),
                measurements=tuple(self.readings),
                skipped=tuple(self.skipped),
                audit_head=self.audit.head if self.audit else "",
            )
            self._last_summary = summary
            await self._move("wrapped")
            until = ended + timedelta(minutes=self.config.cleaning_buffer_minutes)
            self._emit(CleaningStarted(until=until))
            self._cleaning = asyncio.ensure_future(self._clean(self.config.cleaning_buffer_minutes * 60))
            return summary

    async def _clean(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the cleaning buffer itself: real time by design
        async with self._lock:
            if self._state is RoomState.CLEANING:
                await self._move("cleaned")
                self.visit = None

    async def wait_idle(self) -> None:
        """Wait until the room is idle again (after the cleaning buffer)."""
        await self._idle.wait()

    async def drain_outbox(self) -> DrainResult:
        """Deliver what the outbox holds to the FHIR server (or the NDJSON files) now.

        Each row the server refuses for good is told as a :class:`~telemedroom.room.RecordRejected` event
        (kept in the outbox, audited); a row refused before that has left the outbox since
        (requeued and delivered) as a :class:`~telemedroom.room.RecordDelivered`.
        """
        if self.outbox is None or self._sink is None:
            raise RoomError("the room is not open; use `async with Room(config)`")
        result = await self.outbox.drain(self._sink)
        for event in rejection_events(result):
            logger.error("the FHIR server refused outbox row %d (kept): %s", event.outbox_row, event.reason)
            self._audit("record_rejected", {"outbox": str(event.outbox_row), "status": str(event.status)})
            self._refusals.add(event)
            self._emit(event)
        standing = self._refusals.rows()
        if standing:  # a refused row requeued (`outbox requeue`) and now delivered: no longer refused
            for delivered in self._refusals.settle(await self.outbox.states(*standing)):
                logger.info("outbox row %d, refused before, is delivered", delivered.outbox_row)
                self._emit(delivered)
        return result

    async def abort(self, reason: str) -> None:
        """End the visit before wrap-up: back to idle, nothing written to the record.

        The audit log keeps that the visit was aborted and why (``reason`` must hold no
        health data). The appointment goes back to ``booked``, so its booking code checks
        in again (``appointment_reopened`` in the audit log, with the same reason).

        Raises:
            RoomStateError: Idle already, or the visit is past its consultation.
        """
        if self._state not in _ABORTABLE:
            next_state(self._state, "abort")  # raises RoomStateError naming the state
        await self._leave()
        self._audit("aborted", {"reason": reason})
        await self._move("abort")
        # the visit did not take place, so its booking code checks in again
        await reopen_appointment(
            self.scheduler,
            self.audit,
            room_id=self.config.room_id,
            appointment_id=self.visit.appointment_id if self.visit else "",
            reason=reason,
        )
        self.visit = None
        self.readings, self.skipped, self.snapshots = [], [], []
