"""A record the clinic's server refused is never silent: the outbox's verdict as room events.

:meth:`Room.drain_outbox <telemedroom.room.Room.drain_outbox>` turns each row the server
rejected for good into a :class:`~telemedroom.room.RecordRejected` event (the serve
command logs it and the kiosk's operator status shows it; the demo prints it in red and
exits non-zero). Nothing is deleted: ``telemedroom outbox requeue`` sends it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemedroom._room._events import RecordRejected

if TYPE_CHECKING:
    from telemedroom.fhir.outbox import DrainResult

__all__ = ["rejection_events"]


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
