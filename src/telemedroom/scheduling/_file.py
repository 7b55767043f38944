"""The room's bookable resources and services, from ``schedule.toml`` beside ``room.toml``.

The schedule store (``[schedule] store`` of the room's configuration) holds holds and
appointments; what can be booked when - rooms, practitioners and device kits with their
opening hours, and the services patients book - is this file::

    [[resources]]
    id = "nord-1"
    kind = "room"                      # room | practitioner | device
    name = "Room Nord 1"
    timezone = "Europe/Berlin"
    qualifications = []                # e.g. ["general", "neurology"] for a practitioner

    [[resources.availability]]         # RFC 5545 RRULE on the resource's local time
    rrule = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    starts = 2026-01-05
    opens = 08:00:00
    closes = 12:00:00

    [[resources.closures]]
    start = 2026-12-24
    end = 2026-12-26
    reason = "Christmas"

    [[services]]
    id = "gp-20"
    name = "General medicine consultation"
    duration_minutes = 20
    buffer_after_minutes = 10          # cleaning the room and the devices
    requires = [{ kind = "room" }]
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from telemedroom.errors import RoomConfigError, SchedulingError
from telemedroom.scheduling._models import AvailabilityRule, Closure, Requirement, Resource, Service

__all__ = ["ScheduleFile", "load_schedule"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class ScheduleFile:
    """What ``schedule.toml`` holds: the bookable resources and the services, by id.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "schedule.toml"
        >>> _ = path.write_text(
        ...     '[[resources]]\\nid = "nord-1"\\nkind = "room"\\nname = "Room Nord 1"\\n'
        ...     'timezone = "Europe/Berlin"\\n'
        ...     '[[services]]\\nid = "gp-20"\\nname = "GP"\\nduration_minutes = 20\\n'
        ...     'requires = [{kind = "room"}]\\n')
        >>> plan = load_schedule(path)
        >>> [r.id for r in plan.resources], list(plan.services)
        (['nord-1'], ['gp-20'])
    """

    path: Path
    resources: tuple[Resource, ...]
    services: dict[str, Service]


def _minutes(value: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number of minutes")
    return timedelta(minutes=value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list")
    return value


def _build(
    cls: Callable[..., _T],
    table: Any,
    key: str,
    source: str,
    convert: Mapping[str, tuple[str, Callable[[Any, str], Any]]] | None = None,
) -> _T:
    if not isinstance(table, dict):
        raise RoomConfigError(key, source, "must be a table")
    fields: dict[str, Any] = {}
    for name, value in table.items():
        target, conversion = (convert or {}).get(name, (name, lambda v, _k: v))
        try:
            fields[target] = conversion(value, f"{key}.{name}")
        except ValueError as exc:
            raise RoomConfigError(f"{key}.{name}", source, str(exc)) from exc
    try:
        return cls(**fields)
    except TypeError as exc:  # a missing or unknown field, in the dataclass's own words
        raise RoomConfigError(key, source, str(exc).split("__init__() ", 1)[-1]) from exc
    except (SchedulingError, ValueError) as exc:
        raise RoomConfigError(key, source, str(exc)) from exc


def load_schedule(path: Path) -> ScheduleFile:
    """Read ``path`` into resources and services.

    Raises:
        RoomConfigError: The file cannot be read, or a key is missing or invalid (the
            error names the key, e.g. ``services[0].duration_minutes``, and the file).

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "schedule.toml"
        >>> _ = path.write_text('[[services]]\\nid = "gp-20"\\nname = "GP"\\nrequires = [{kind = "room"}]\\n')
        >>> load_schedule(path)
        Traceback (most recent call last):
        ...
        telemedroom.RoomConfigError: room configuration .../schedule.toml: services[0]: missing 1 required ...
    """
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise RoomConfigError(None, source, f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RoomConfigError(None, source, f"not valid TOML: {exc}") from exc

    def each(cls: Callable[..., _T], convert: Mapping[str, Any] | None = None) -> Callable[[Any, str], Any]:
        return lambda value, key: tuple(
            _build(cls, item, f"{key}[{n}]", source, convert) for n, item in enumerate(_list(value))
        )

    resource_fields = {
        "availability": ("availability", each(AvailabilityRule)),
        "closures": ("closures", each(Closure)),
        "qualifications": ("qualifications", lambda v, _k: frozenset(_list(v))),
    }
    service_fields = {
        "duration_minutes": ("duration", lambda v, _k: _minutes(v)),
        "buffer_before_minutes": ("buffer_before", lambda v, _k: _minutes(v)),
        "buffer_after_minutes": ("buffer_after", lambda v, _k: _minutes(v)),
        "interval_minutes": ("interval", lambda v, _k: _minutes(v)),
        "requires": ("requires", each(Requirement)),
    }
    for key in data:
        if key not in ("resources", "services"):
            raise RoomConfigError(key, source, "unknown key; the file holds [[resources]] and [[services]]")
    # Each file key -> (the class's field, conversion); the conversions name nested keys.
    tables: dict[str, tuple[Any, ...]] = {}
    for key, cls, convert in (
        ("resources", Resource, resource_fields),
        ("services", Service, service_fields),
    ):
        try:
            tables[key] = each(cls, convert)(data.get(key, []), key)
        except ValueError as exc:  # the value is not a list of tables
            raise RoomConfigError(key, source, str(exc)) from exc
    resources, services = tables["resources"], tables["services"]
    if not resources:
        raise RoomConfigError("resources", source, "missing: at least one [[resources]] table")
    if not services:
        raise RoomConfigError("services", source, "missing: at least one [[services]] table")
    return ScheduleFile(path=path, resources=resources, services={s.id: s for s in services})
