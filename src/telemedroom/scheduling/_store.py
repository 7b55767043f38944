"""The schedule store seam: where holds and appointments live, atomically.

A store answers one question atomically: "may these resources be blocked for this
interval now?" and, if so, records the claim in the same transaction. Everything else
(availability, slot search, status rules) is the :class:`~telemedroom.scheduling.Scheduler`'s.
Two implementations ship: :class:`~telemedroom.scheduling.SqliteStore` (embedded
default) and :class:`~telemedroom.scheduling.PostgresStore` (several servers, one
schedule); both pass the same test suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self

from telemedroom.scheduling._models import Appointment, AppointmentStatus, Hold

__all__ = ["Busy", "ScheduleStore", "same_request"]

# How often a store redraws a booking code that collided with an existing one.
CODE_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Busy:
    """A resource blocked from ``start`` to ``end`` by a hold or an appointment.

    Examples:
        >>> from datetime import datetime, UTC
        >>> Busy("room-1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)).resource_id
        'room-1'
    """

    resource_id: str
    start: datetime
    end: datetime


def same_request(stored: Appointment, asked: Appointment) -> bool:
    """Whether a repeated ``book`` under one idempotency key asks for the same thing."""
    return stored.slot == asked.slot and stored.patient == asked.patient


class ScheduleStore(ABC):
    """Durable, atomic storage for holds and appointments.

    Use it as an async context manager (``async with SqliteStore(path) as store``):
    entering opens the connection and brings the schema up to date.

    Examples:
        >>> import asyncio
        >>> from telemedroom.scheduling import SqliteStore
        >>> async def main() -> int:
        ...     async with SqliteStore(":memory:") as store:
        ...         return len(await store.appointments())
        >>> asyncio.run(main())
        0
    """

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply any pending schema migration."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connection(s)."""

    @abstractmethod
    async def busy(
        self, resource_ids: Sequence[str], start: datetime, end: datetime, *, now: datetime
    ) -> list[Busy]:
        """Blocked intervals of these resources overlapping ``[start, end)``: live holds and appointments."""

    @abstractmethod
    async def add_hold(self, hold: Hold, *, now: datetime) -> Hold:
        """Record ``hold`` if its slot is free at ``now``; raise ``SlotUnavailable`` otherwise."""

    @abstractmethod
    async def release_hold(self, hold_id: str) -> None:
        """Drop a hold (no error if it is gone already)."""

    @abstractmethod
    async def book(self, appointment: Appointment, *, hold_id: str | None, now: datetime) -> Appointment:
        """Record ``appointment`` atomically and return what was stored.

        If its idempotency key was used before for the same slot and patient, return
        that appointment instead (``IdempotencyKeyReused`` if for another one). With
        ``hold_id`` the hold must still be live (else ``HoldExpired``) and is consumed.
        Raise ``SlotUnavailable`` if any resource is blocked by someone else. On a
        booking-code collision a fresh code is drawn.
        """

    @abstractmethod
    async def reschedule(self, appointment_id: str, new: Appointment, *, now: datetime) -> Appointment:
        """Atomically book ``new`` and cancel the old appointment: both happen or neither.

        The old appointment's own claim does not count as a conflict for ``new``.
        """

    @abstractmethod
    async def transition(self, appointment_id: str, to: AppointmentStatus, *, now: datetime) -> Appointment:
        """Move an appointment to ``to`` if ``TRANSITIONS`` allows it (compare-and-set).

        Raise ``UnknownAppointment`` or ``InvalidTransition``. Statuses that stop
        blocking (cancelled, entered-in-error) release the resources.
        """

    @abstractmethod
    async def get(self, appointment_id: str) -> Appointment:
        """The appointment with this id, or ``UnknownAppointment``."""

    @abstractmethod
    async def by_code(self, booking_code: str) -> Appointment:
        """The appointment with this (canonical) booking code, or ``UnknownBookingCode``."""

    @abstractmethod
    async def appointments(
        self,
        *,
        resource_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Appointment]:
        """Appointments, optionally of one resource and overlapping ``[start, end)``, by start."""

    @abstractmethod
    async def get_hold(self, hold_id: str) -> Hold:
        """The hold with this id whether live, lapsed or used, or ``HoldExpired`` once forgotten.

        Used holds are kept for a day, so a client retrying a hold-based booking with
        its idempotency key gets its appointment back.
        """

    @abstractmethod
    async def holds(self, *, now: datetime) -> list[Hold]:
        """Holds still live at ``now``."""
