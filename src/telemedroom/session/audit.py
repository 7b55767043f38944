"""An append-only, hash-chained audit log of a consultation, exportable as FHIR ``AuditEvent``.

Every entry carries the SHA-256 of the one before it and its own SHA-256 over its
content and that link, so :meth:`AuditLog.verify` finds any entry that was altered,
removed or moved. An entry says who (participant id and role) did what (token issued,
joined, admitted, denied, left, track started or stopped, snapshot or clip taken, exam
recorded, visit ended; in a health apartment: alert raised, escalated, acknowledged, cleared)
in which room and appointment, and when. It never holds a token or any media.

Removing entries from the *end* leaves a shorter chain that is still consistent; keep
the latest :attr:`AuditLog.head` elsewhere (the FHIR server, a second log) and pass it to
``verify(head=...)`` to detect that too.

telemedroom records no audio or video. A deployment that records must get the
patient's written consent first (KBV Anlage 31b §5); the signaling server's
``recording`` setting is off by default and, when on, is announced to every participant
and written to this log.

Examples:
    >>> log = AuditLog()
    >>> _ = log.append(AuditAction.JOINED, actor="dr-weber", role="physician", room="r1", appointment="a1")
    >>> _ = log.append(AuditAction.ADMITTED, actor="dr-weber", role="physician", room="r1",
    ...                appointment="a1", detail={"participant": "p-7"})
    >>> log.verify()
    >>> [entry.action.value for entry in log]
    ['joined', 'admitted']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from telemedroom.errors import AuditIntegrityError

__all__ = ["GENESIS", "AuditAction", "AuditEntry", "AuditLog"]

GENESIS: Final = "0" * 64
"""The ``previous`` hash of the first entry."""


class AuditAction(StrEnum):
    """What happened in a session.

    Examples:
        >>> AuditAction("admitted")
        <AuditAction.ADMITTED: 'admitted'>
    """

    TOKEN_ISSUED = "token_issued"
    TOKEN_REFUSED = "token_refused"
    SESSION_STARTED = "session_started"
    JOINED = "joined"
    RESUMED = "resumed"
    ADMITTED = "admitted"
    DENIED = "denied"
    LEFT = "left"
    TRACK_STARTED = "track_started"
    TRACK_STOPPED = "track_stopped"
    SNAPSHOT = "snapshot"
    CLIP = "clip"
    EXAM_RECORDED = "exam_recorded"
    ENDED = "ended"
    CHECKED_IN = "checked_in"
    CHECK_IN_REFUSED = "check_in_refused"
    MEASUREMENT = "measurement"
    WRAPPED_UP = "wrapped_up"
    ABORTED = "aborted"
    # health-apartment monitoring (telemedroom.monitoring, through audit_log_sink)
    ALERT_RAISED = "alert_raised"
    ALERT_ESCALATED = "alert_escalated"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_CLEARED = "alert_cleared"
    # the clinic hub (telemedroom.hub): staff logins and sessions, refused requests, room reports
    LOGIN = "login"
    LOGIN_REFUSED = "login_refused"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session_expired"
    REQUEST_REFUSED = "request_refused"
    HEARTBEAT_REFUSED = "heartbeat_refused"


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    return value


class AuditEntry(BaseModel):
    """One link of the chain.

    Attributes:
        index: Position in the log, from 0.
        at: When it happened (timezone-aware).
        action: What happened.
        actor: Participant id (the token's subject) or ``"system"``.
        role: The actor's role (``patient``, ``physician``, ``companion``, ``system``).
        room: The telemedicine room.
        appointment: The appointment.
        detail: More facts, as short strings (the admitted participant, a track's kind...).
        previous: SHA-256 (hex) of the entry before, :data:`GENESIS` for the first.
        hash: SHA-256 (hex) of this entry's content and ``previous``.

    Examples:
        >>> from telemedroom.session.audit import GENESIS, AuditAction, AuditLog
        >>> entry = AuditLog().append(AuditAction.JOINED, actor="p-7", role="patient",
        ...                           room="r", appointment="a")
        >>> entry.index, entry.previous == GENESIS, entry.hash == entry.computed_hash()
        (0, True, True)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: Annotated[int, Field(ge=0)]
    at: Annotated[datetime, AfterValidator(_aware)]
    action: AuditAction
    actor: str
    role: str
    room: str
    appointment: str
    detail: dict[str, str] = Field(default_factory=dict)
    previous: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    def computed_hash(self) -> str:
        """SHA-256 over the canonical JSON of every field but ``hash`` (``previous`` included)."""
        return _hash(self.model_dump(mode="json", exclude={"hash"}))


def _hash(content: Mapping[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AuditLog:
    """The chain, in memory and, with ``path``, appended to a JSON Lines file as it grows.

    Args:
        path: File to append to (created if missing). An existing file is read and
            verified first, and the chain continues from its last entry.

    Raises:
        AuditIntegrityError: ``path`` holds a chain that does not verify.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> log = AuditLog(folder / "audit.jsonl")
        >>> _ = log.append(AuditAction.ENDED, actor="dr-weber", role="physician", room="r", appointment="a")
        >>> len(AuditLog(folder / "audit.jsonl"))
        1
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._entries: list[AuditEntry] = []
        if self.path is not None and self.path.exists():
            self._entries = self.read_entries(self.path)
            self.verify()

    @staticmethod
    def read_entries(path: Path | str) -> list[AuditEntry]:
        """The entries of a log file, unverified (see :meth:`verify`).

        Raises:
            AuditIntegrityError: A line is not an audit entry.
        """
        entries = []
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
            try:
                entries.append(AuditEntry.model_validate_json(line))
            except ValidationError as exc:
                raise AuditIntegrityError(number, "line is not an audit entry") from exc
        return entries

    @classmethod
    def from_entries(cls, entries: list[AuditEntry]) -> AuditLog:
        """An in-memory log holding ``entries`` as given (to :meth:`verify` a copy)."""
        log = cls()
        log._entries = list(entries)
        return log

    @property
    def head(self) -> str:
        """Hash of the last entry (:data:`GENESIS` when empty): anchor it elsewhere."""
        return self._entries[-1].hash if self._entries else GENESIS

    def append(
        self,
        action: AuditAction,
        *,
        actor: str,
        role: str,
        room: str,
        appointment: str,
        detail: Mapping[str, str] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Add an entry at the end of the chain (and of the file)."""
        content: dict[str, Any] = {
            "index": len(self._entries),
            "at": at or datetime.now(UTC),
            "action": action,
            "actor": actor,
            "role": role,
            "room": room,
            "appointment": appointment,
            "detail": dict(detail or {}),
            "previous": self.head,
        }
        draft = AuditEntry.model_validate({**content, "hash": GENESIS})
        entry = draft.model_copy(update={"hash": draft.computed_hash()})
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(entry.model_dump_json() + "\n")
        self._entries.append(entry)
        return entry

    def verify(self, *, head: str | None = None) -> None:
        """Check the whole chain; return quietly when it holds.

        Args:
            head: A :attr:`head` kept elsewhere earlier: the chain must contain it, so
                entries cut off the end are found as well.

        Raises:
            AuditIntegrityError: At the first entry that is altered, missing or out of place.

        Examples:
            >>> log = AuditLog()
            >>> for actor in ("p-1", "p-2", "p-3"):
            ...     _ = log.append(AuditAction.JOINED, actor=actor, role="patient", room="r", appointment="a")
            >>> entries = list(log)
            >>> AuditLog.from_entries([entries[0], entries[2]]).verify()
            Traceback (most recent call last):
            ...
            telemedroom.errors.AuditIntegrityError: audit log entry 1: index is 2: an entry before it was ...
        """
        previous = GENESIS
        for position, entry in enumerate(self._entries):
            if entry.index != position:
                raise AuditIntegrityError(
                    position, f"index is {entry.index}: an entry before it was removed or moved"
                )
            if entry.previous != previous:
                raise AuditIntegrityError(position, "does not link to the entry before it (removed or moved)")
            if entry.computed_hash() != entry.hash:
                raise AuditIntegrityError(position, "hash does not match the entry: it was altered")
            previous = entry.hash
        if head is not None and head != GENESIS and all(entry.hash != head for entry in self._entries):
            raise AuditIntegrityError(
                len(self._entries), "the anchored head is missing: entries were cut off"
            )

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def to_fhir(self, *, observer: str = "Device/telemedroom-signaling") -> list[Any]:
        """The entries as FHIR R4B ``AuditEvent`` resources (``fhir.resources.R4B``).

        Each event keeps the entry's hash and the previous hash as ``entity.detail``, so
        the chain can be verified from the FHIR server too.

        Examples:
            >>> log = AuditLog()
            >>> _ = log.append(AuditAction.DENIED, actor="dr-weber", role="physician", room="r",
            ...                appointment="a", detail={"participant": "p-9"})
            >>> event = log.to_fhir()[0]
            >>> event.type.code, event.subtype[0].code, event.agent[0].who.identifier.value
            ('110100', 'denied', 'dr-weber')
        """
        from telemedroom.session._audit_fhir import audit_event

        return [audit_event(entry, observer) for entry in self._entries]
