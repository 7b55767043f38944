"""A record the clinic's server refused is never silent: the outbox's verdict as room events.

:meth:`Room.drain_outbox <telemedroom.room.Room.drain_outbox>` turns each row the server
rejected for good into a :class:`~telemedroom.room.RecordRejected` event (the serve
command logs it and the kiosk's operator status shows it; the demo prints it in red and
exits non-zero). Nothing is deleted: ``telemedroom outbox requeue`` sends it again, and
once a later drain delivered it the room says :class:`~telemedroom.room.RecordDelivered`.

:class:`Refusals` is the room's list of refusals still standing: read from the outbox
when the room opens (a restarted room still shows them), and given to each new
subscriber of ``Room.events()`` after the current state.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from telemedroom._room._events import RecordDelivered, RecordRejected

if TYPE_CHECKING:
    from telemedroom.fhir.outbox import DrainResult, Outbox

__all__ = ["Refusals", "rejection_events"]

# The outbox keeps str(FhirServerError): "FHIR server answered 400 to POST ...".
_STATUS: Final = re.compile(r"answered (\d{3}) ")


def rejection_events(result: DrainResult) -> list[RecordRejected]:
    """One event per rejected row, with the server's status, reason and issues.

    Examples:
        >>> from telemedroom.errors import OperationOutcomeIssue
        >>> from telemedroom.fhir import DrainResult
        >>> result = DrainResult(sent=0, batches=0, rejected=(4,), reasons={4: "FHIR server answered 400"},
        ...                      issues={4: (OperationOutcomeIssue("error", "invalid", "too many entries"),)},
        ...                      status={4: 400})
        >>> [(e.outbox_row, e.status, e.issues[0]["diagnostics"]) for e in rejection_events(result)]
        [(4, 400, 'too many entries')]
    """
    return [
        RecordRejected(
            outbox_row=row,
            status=result.status.get(row, 0),
            reason=result.reasons.get(row, "rejected by the FHIR server"),
            issues=[
                {
                    "severity": issue.severity,
                    "code": issue.code,
                    "diagnostics": issue.diagnostics,
                    "expression": list(issue.expression),
                }
                for issue in result.issues.get(row, ())
            ],
        )
        for row in result.rejected
    ]


def stored_refusal(row: int, why: str) -> RecordRejected:
    """A refusal as the outbox keeps it (``held_back()``: ``"rejected: <the server's answer>"``).

    Examples:
        >>> why = "rejected: FHIR server answered 400 to POST http://fhir/: error invalid: x"
        >>> stored_refusal(4, why).status
        400
    """
    reason = why.removeprefix("rejected: ")
    status = _STATUS.search(reason)
    return RecordRejected(outbox_row=row, status=int(status.group(1)) if status else 0, reason=reason)


class Refusals:
    """The refusals still standing, by outbox row (oldest first).

    Examples:
        >>> refusals = Refusals()
        >>> refusals.add(RecordRejected(outbox_row=4, status=400, reason="no"))
        >>> [e.outbox_row for e in refusals.standing()]
        [4]
        >>> refusals.settle({4: "pending"})  # requeued, not yet delivered
        []
        >>> refusals.settle({})  # gone from the outbox: delivered
        [RecordDelivered(type='record_delivered', outbox_row=4)]
        >>> refusals.standing()
        []
    """

    def __init__(self) -> None:
        self._standing: dict[int, RecordRejected] = {}

    def add(self, event: RecordRejected) -> None:
        """A refusal (again): it stands until its row has left the outbox."""
        self._standing[event.outbox_row] = event

    def rows(self) -> list[int]:
        """The outbox rows of the standing refusals."""
        return sorted(self._standing)

    def standing(self) -> list[RecordRejected]:
        """Each standing refusal, as the event that told it."""
        return [self._standing[row] for row in sorted(self._standing)]

    def settle(self, states: dict[int, str]) -> list[RecordDelivered]:
        """Close the refusals whose rows are gone from the outbox (``states``: what is still held)."""
        delivered = [row for row in sorted(self._standing) if row not in states]
        for row in delivered:
            del self._standing[row]
        return [RecordDelivered(outbox_row=row) for row in delivered]

    async def load(self, outbox: Outbox) -> None:
        """The refusals the outbox holds (from before the room opened)."""
        for row, why in sorted((await outbox.held_back()).items()):
            if why.startswith("rejected") and row not in self._standing:
                self.add(stored_refusal(row, why))
