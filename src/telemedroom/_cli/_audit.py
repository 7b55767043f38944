"""``telemedroom audit verify``: check an audit log's hash chain from a JSON Lines file."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from telemedroom.session.audit import AuditLog


def verify(path: Path, *, head: str | None) -> AuditLog:
    """The log at ``path``, its chain verified (and containing ``head`` if given).

    Raises:
        AuditIntegrityError: At the first entry that is altered, missing or out of place.
    """
    log = AuditLog.from_entries(AuditLog.read_entries(path))
    log.verify(head=head)
    return log


def show(console: Console, log: AuditLog, path: Path, *, entries: bool) -> None:
    """The verdict, and with ``entries`` every entry as a table row."""
    if entries:
        rows = Table(title=str(path), title_justify="left")
        for column in ("#", "at (UTC)", "action", "actor", "role", "room", "appointment"):
            rows.add_column(column)
        for entry in log:
            rows.add_row(
                str(entry.index),
                entry.at.strftime("%Y-%m-%d %H:%M:%S"),
                entry.action.value,
                entry.actor,
                entry.role,
                entry.room,
                entry.appointment,
            )
        console.print(rows)
    console.print(f"[green]audit chain verified[/]: {len(log)} entries in {path}")
    console.print(f"head {log.head}")
