"""The guided measurement: the patient is led through the room's devices, one after another."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from telemedroom._room._core import RoomCore
from telemedroom._room._devices import DEVICE_GUIDE, measure_device
from telemedroom._room._events import (
    DeviceKind,
    DeviceStep,
    ReadingTaken,
    RoomErrorEvent,
)
from telemedroom._room._summary import summary_of
from telemedroom.errors import (
    TelemedroomError,
)
from telemedroom.measurements import Measurement

if TYPE_CHECKING:
    pass

__all__ = ["Guide"]

logger = logging.getLogger("telemedroom.room")


class Guide(RoomCore):
    """The measuring phase of :class:`~telemedroom.room.Room`: ``checked_in`` to ``waiting``."""

    async def measure(self) -> list[Measurement]:
        """Guide the patient through the devices, in the configured order; then wait for the physician.

        Each device gets ``measurement_attempts`` tries of ``device_timeout_s`` seconds
        (find it, connect, take a final reading); one that fails every try is skipped.
        Progress is told by :class:`DeviceStep` and :class:`ReadingTaken` events.

        Returns:
            The readings taken (also in :attr:`readings`).

        Raises:
            RoomStateError: The room is not checked in.
        """
        async with self._lock:
            await self._move("measure")
            assert self.visit is not None
            kinds = self.visit.devices
            for index, kind in enumerate(kinds):
                taken = await self._measure_one(kind, index, len(kinds))
                if taken is None:
                    self.skipped.append(kind)
            await self._move("measured")
            return list(self.readings)

    async def _measure_one(self, kind: DeviceKind, index: int, total: int) -> list[Measurement] | None:
        attempts = self.config.measurement_attempts
        instruction = DEVICE_GUIDE[kind].instruction

        def step(status: Any, attempt: int, detail: str | None = None) -> None:
            self._emit(
                DeviceStep(
                    device=kind,
                    status=status,
                    attempt=attempt,
                    instruction=instruction,
                    index=index,
                    total=total,
                    detail=detail,
                )
            )

        for attempt in range(1, attempts + 1):
            step("waiting", attempt)
            try:
                async with asyncio.timeout(self.config.device_timeout_s):
                    taken = await measure_device(
                        self._devices,
                        kind,
                        on_step=lambda status, a=attempt: step(status, a),  # type: ignore[misc]
                    )
            except (TelemedroomError, TimeoutError) as exc:
                why = "no reading in time" if isinstance(exc, TimeoutError) else str(exc)
                step("failed", attempt, why)
                self._emit(RoomErrorEvent(state=self._state, message=f"{kind}: {why}"))
                continue
            for reading in taken:
                self.readings.append(reading)
                self._audit(
                    "measurement",
                    {"device": kind, "type": type(reading).__name__, "attempt": str(attempt)},
                )
                self._emit(
                    ReadingTaken(
                        device=kind, measurement=reading.model_dump(mode="json"), summary=summary_of(reading)
                    )
                )
            step("done", attempt)
            return taken
        step("skipped", attempts, f"no reading after {attempts} attempts")
        return None
