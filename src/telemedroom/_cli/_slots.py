"""``telemedroom slots``: the free appointment slots of the room's schedule, as a table."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from telemedroom._cli._stores import open_store
from telemedroom.errors import RoomConfigError
from telemedroom.scheduling import ScheduleFile, Scheduler, Service, Slot


def pick_service(schedule: ScheduleFile, service_id: str | None) -> Service:
    """The service asked for, or the only one; else a :class:`RoomConfigError` naming the choices."""
    if service_id is None and len(schedule.services) == 1:
        return next(iter(schedule.services.values()))
    if service_id in schedule.services:
        return schedule.services[service_id]
    choices = ", ".join(sorted(schedule.services))
    reason = f"no service {service_id!r}" if service_id else "several services: choose one with --service"
    raise RoomConfigError("services", str(schedule.path), f"{reason} (the file has {choices})")


async def find(
    store_url: str, schedule: ScheduleFile, service: Service, start: datetime, days: float, limit: int
) -> list[Slot]:
    """Free slots for ``service`` from ``start`` for ``days`` days, earliest first."""
    async with open_store(store_url) as store:
        scheduler = Scheduler(store, schedule.resources)
        return await scheduler.find_slots(service, start, start + timedelta(days=days), limit=limit)


def show(
    console: Console, slots: list[Slot], service: Service, zone: ZoneInfo, names: dict[str, str]
) -> None:
    """One row per slot, in the room's local time."""
    console.print(f"Free slots: {service.name} ({service.id}), times in {zone.key}", soft_wrap=True)
    rows = Table()
    for column in ("day", "start", "end", "resources"):
        rows.add_column(column, no_wrap=column != "resources")
    for slot in slots:
        start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
        rows.add_row(
            f"{start:%a %Y-%m-%d}",
            f"{start:%H:%M}",
            f"{end:%H:%M}",
            ", ".join(names.get(r, r) for r in slot.resource_ids),
        )
    console.print(rows)
    console.print(f"{len(slots)} free slot(s)")
