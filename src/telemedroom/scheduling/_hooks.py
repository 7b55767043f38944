"""The small callables the scheduler is given: a clock and a join-token issuer.

``scheduling`` sits beside ``session`` in the layer diagram and must not import it; the
session layer (or the integrator) hands a :class:`JoinTokenIssuer` to the
:class:`~telemedroom.scheduling.Scheduler` instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = ["Clock", "JoinTokenIssuer", "ParticipantRole", "system_clock"]

ParticipantRole = Literal["patient", "practitioner"]


class Clock(Protocol):
    """Returns the current instant (timezone-aware). Tests pass a fake one.

    Examples:
        >>> system_clock().tzinfo
        datetime.timezone.utc
    """

    def __call__(self) -> datetime:
        """Return now."""
        ...


def system_clock() -> datetime:
    """The real clock, in UTC.

    Examples:
        >>> system_clock() > datetime(2020, 1, 1, tzinfo=UTC)
        True
    """
    return datetime.now(UTC)


class JoinTokenIssuer(Protocol):
    """Issues a signed join token for one participant of a consultation.

    Implemented by the session layer (its token signer); the scheduler calls it for the
    patient and for every practitioner of an appointment, with the time window in
    which the token is valid.

    Examples:
        >>> async def issuer(*, appointment_id: str, participant: str, role: ParticipantRole,
        ...                  not_before: datetime, not_after: datetime) -> str:
        ...     return f"{role}:{participant}:{appointment_id}"
        >>> checked: JoinTokenIssuer = issuer
    """

    async def __call__(
        self,
        *,
        appointment_id: str,
        participant: str,
        role: ParticipantRole,
        not_before: datetime,
        not_after: datetime,
    ) -> str:
        """Return the token."""
        ...
