"""The Monitor's audit facts into the session layer's hash-chained :class:`~telemedroom.session.AuditLog`.

Monitoring never imports the session layer at module level (the two are siblings in
the layers of ARCHITECTURE.md): :func:`audit_log_sink` imports it when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemedroom.monitoring._alerts import AuditRecord, AuditSink

if TYPE_CHECKING:
    from telemedroom.session.audit import AuditLog


def audit_log_sink(log: AuditLog, *, site: str, context: str = "monitoring") -> AuditSink:
    """An :class:`AuditSink` that appends every alert fact to a session :class:`AuditLog`.

    Each :class:`AuditRecord` becomes one entry: action ``alert_raised``,
    ``alert_escalated``, ``alert_acknowledged`` or ``alert_cleared``
    (:class:`~telemedroom.session.AuditAction`), the record's time and actor (role
    ``system`` for the monitor itself, ``staff`` for a person acknowledging), and the
    alert id, patient reference and the record's details as ``detail``. The entry's
    ``room`` is ``site`` (the health apartment) and its ``appointment`` is ``context``.

    Args:
        log: The hash-chained log (in memory or a JSON Lines file).
        site: The health apartment (or room) the monitor watches.
        context: What the entries belong to instead of an appointment.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from telemedroom.session import AuditLog
        >>> log = AuditLog()
        >>> sink = audit_log_sink(log, site="apartment-2")
        >>> sink(AuditRecord(at=datetime(2026, 11, 25, 8, tzinfo=UTC), action="alert_raised",
        ...                  actor="monitor", patient="Patient/p1", alert_id="a1", detail={"rule": "sys"}))
        >>> [(e.action.value, e.role, e.room, e.detail["alert"]) for e in log]
        [('alert_raised', 'system', 'apartment-2', 'a1')]
    """
    from telemedroom.session.audit import AuditAction

    def append(record: AuditRecord) -> None:
        log.append(
            AuditAction(record.action),
            actor=record.actor,
            role="system" if record.actor == "monitor" else "staff",
            room=site,
            appointment=context,
            detail={**record.detail, "alert": record.alert_id, "patient": record.patient},
            at=record.at,
        )

    return append
