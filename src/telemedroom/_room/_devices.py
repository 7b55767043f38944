"""One device, one try: find it, connect, take its final reading (or its stored records)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from telemedroom._room._events import DeviceKind
from telemedroom.errors import DeviceNotFound, RoomError
from telemedroom.measurements import Measurement

__all__ = ["DEVICE_GUIDE", "DeviceGuide", "is_final", "measure_device"]


@dataclass(frozen=True)
class DeviceGuide:
    """How the room finds a kind of device and what the kiosk tells the patient."""

    service: int
    instruction: str
    stored_records: bool = False


# Bluetooth SIG Assigned Numbers §3.4.2 (GATT services) for finding each kind; the
# instruction is the kiosk's i18n key.
DEVICE_GUIDE: Final[Mapping[DeviceKind, DeviceGuide]] = {
    "blood_pressure": DeviceGuide(0x1810, "put_on_cuff"),
    "pulse_oximeter": DeviceGuide(0x1822, "clip_oximeter"),
    "thermometer": DeviceGuide(0x1809, "thermometer_ear"),
    "scale": DeviceGuide(0x181D, "step_on_scale"),
    "glucometer": DeviceGuide(0x1808, "glucometer_transfer", stored_records=True),
    "heart_rate": DeviceGuide(0x180D, "wear_heart_rate_strap"),
}


def is_final(reading: Measurement) -> bool:
    """Whether a reading is a result (not an intermediate value).

    Examples:
        >>> from telemedroom import BodyTemperature
        >>> is_final(BodyTemperature(value=36.4, intermediate=True))
        False
    """
    # a cuff pressure while inflating, a thermometer still settling: not the result
    return not getattr(reading, "intermediate", False)


async def measure_device(
    manager: Any, kind: DeviceKind, *, on_step: Callable[[str], None]
) -> list[Measurement]:
    """Find the first device of ``kind`` advertising, connect, and return its final reading(s).

    The caller bounds the time (``asyncio.timeout``). A glucometer gives its stored
    records (Glucose Profile: the RACP transfer), the others their first final reading.

    Raises:
        DeviceNotFound: No such device advertised.
        DeviceError: The connection or the transfer failed.
    """
    if manager is None:
        raise RoomError("the room has no Bluetooth; list devices in the configuration")
    guide = DEVICE_GUIDE[kind]
    found = None
    async with contextlib.aclosing(manager.scan(timeout=manager.timeout, services=[guide.service])) as seen:
        async for device in seen:
            found = device
            break
    if found is None:
        raise DeviceNotFound(kind, f"no {kind} advertised service 0x{guide.service:04X}")
    on_step("connecting")
    async with await manager.connect(found) as connection:
        on_step("measuring")
        if guide.stored_records:
            records: list[Measurement] = list(await connection.glucose_records())
            if not records:
                raise DeviceNotFound(found.address, "the glucometer holds no records")
            return records
        async for reading in connection.measurements():
            if is_final(reading):
                return [reading]
    raise DeviceNotFound(found.address, "the device closed the link before a final reading")
