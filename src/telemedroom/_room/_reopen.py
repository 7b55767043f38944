"""A visit that did not take place gives its appointment back: ``checked-in`` → ``booked``.

Aborted before the wrap-up (:meth:`Room.abort`, a failure in :meth:`Room.run_visit`,
the room closing) or cut off by a crash (found in the journal at the next start), the
visit wrote nothing to the record. Its appointment still stands, so the room returns it
to FHIR ``booked`` (:meth:`Scheduler.reopen`) and the patient's booking code checks in
again; ``cancelled`` or ``noshow`` would misstate what happened, ``fulfilled`` too. FHIR
Appointment has no element for why a status went back, so the reason is written to the
room's audit log (``appointment_reopened``, detail ``reason``). If the appointment
cannot be reopened (staff cancelled it meanwhile, the store is down), that is audited
and logged too, and the room carries on: the visit is over either way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telemedroom.errors import TelemedroomError

if TYPE_CHECKING:
    from telemedroom.scheduling import Scheduler
    from telemedroom.session.audit import AuditLog

__all__ = ["reopen_appointment"]

logger = logging.getLogger("telemedroom.room")


async def reopen_appointment(
    scheduler: Scheduler | None, audit: AuditLog | None, *, room_id: str, appointment_id: str, reason: str
) -> bool:
    """Book the appointment again and audit why; ``False`` (audited, logged) if it could not be.

    ``reason`` goes into the audit log as it is, so it must hold no health data.
    """
    if scheduler is None or not appointment_id:
        return False
    detail = {"reason": reason}
    try:
        appointment = await scheduler.reopen(appointment_id)
    except TelemedroomError as exc:
        detail |= {"status": "unchanged", "error": type(exc).__name__}
        logger.warning("room %s: appointment %s not booked again: %s", room_id, appointment_id, exc)
    else:
        detail["status"] = appointment.status
    if audit is not None:
        from telemedroom.session.audit import AuditAction

        audit.append(
            AuditAction.APPOINTMENT_REOPENED,
            actor=room_id,
            role="room",  # as every entry the room writes
            room=room_id,
            appointment=appointment_id,
            detail=detail,
        )
    return "error" not in detail
