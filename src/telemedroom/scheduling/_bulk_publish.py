"""Free slots published as SMART Scheduling Links (``$bulk-publish`` manifest plus NDJSON).

SMART Scheduling Links (https://github.com/smart-on-fhir/smart-scheduling-links,
specification.md) lets slot finders discover appointments: a publisher serves a
manifest at ``<base>/$bulk-publish`` listing NDJSON files of FHIR ``Location``,
``Schedule`` and ``Slot`` resources; every Schedule's actor is a Location, every Slot
references a Schedule and may carry a booking deep link.

Rooms are the Locations here. Published Slots carry no telemedroom extensions: which
practitioner or kit would serve a slot is internal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telemedroom.errors import InvalidScheduleData, NaiveDatetimeError
from telemedroom.scheduling._fhir import fhir_slot_id, slot_to_fhir
from telemedroom.scheduling._models import Resource, Slot

__all__ = ["BOOKING_DEEP_LINK", "BOOKING_PHONE", "BulkPublication", "bulk_publish"]

# SMART Scheduling Links, specification.md "Slot" extensions
BOOKING_DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"
MANIFEST_NAME = "$bulk-publish"


@dataclass(frozen=True, slots=True)
class BulkPublication:
    """A manifest and its NDJSON files, ready to serve or to write to a directory.

    Attributes:
        manifest: The ``$bulk-publish`` JSON document.
        files: File name to NDJSON text (one FHIR resource per line).
    """

    manifest: Mapping[str, Any]
    files: Mapping[str, str]

    def write(self, directory: str | Path) -> list[Path]:
        """Write the manifest (as ``$bulk-publish``) and the NDJSON files; return their paths."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in {MANIFEST_NAME: json.dumps(self.manifest, indent=2), **self.files}.items():
            path = target / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def _ndjson(resources: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in resources)


def bulk_publish(
    base_url: str,
    resources: Iterable[Resource],
    free_slots: Iterable[Slot],
    *,
    transaction_time: datetime,
    booking_link: Callable[[Slot], str] | None = None,
    booking_phone: str | None = None,
) -> BulkPublication:
    """Publish free slots for slot finders.

    Args:
        base_url: Where the files will be served, e.g. ``https://room.example/slots``.
        resources: The resources (the rooms among them become Locations and Schedules).
        free_slots: Slots to publish (e.g. from ``Scheduler.find_slots``); each is
            listed on the schedule of its room.
        transaction_time: When the data was taken (the manifest's ``transactionTime``).
        booking_link: Gives each slot's booking deep link.
        booking_phone: A phone number for booking, on every slot.

    Raises:
        InvalidScheduleData: A slot's first resource is not a known room.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from telemedroom.scheduling import Resource, Slot
        >>> room = Resource(id="room-1", kind="room", name="Room 1")
        >>> at = datetime(2026, 3, 30, 7, tzinfo=UTC)
        >>> slot = Slot(service_id="gp-20", resource_ids=("room-1",), start=at, end=at.replace(minute=20))
        >>> pub = bulk_publish("https://room.example/slots", [room], [slot], transaction_time=at)
        >>> [(o["type"], o["url"]) for o in pub.manifest["output"]][2]
        ('Slot', 'https://room.example/slots/slots.ndjson')
        >>> pub.files["slots.ndjson"].count("\\n")
        1
    """
    base = base_url.rstrip("/")
    if transaction_time.utcoffset() is None:
        raise NaiveDatetimeError("transaction_time", transaction_time)
    rooms = {r.id: r for r in resources if r.kind == "room"}
    locations = [
        {"resourceType": "Location", "id": room.id, "name": room.name, "status": "active"}
        for room in rooms.values()
    ]
    schedules = [
        {
            "resourceType": "Schedule",
            "id": room.id,
            "active": True,
            "actor": [{"reference": f"Location/{room.id}", "display": room.name}],
        }
        for room in rooms.values()
    ]
    slots = []
    for slot in free_slots:
        if slot.resource_ids[0] not in rooms:
            raise InvalidScheduleData(
                "slot.resource_ids", slot.resource_ids, "the first resource must be a known room"
            )
        data = slot_to_fhir(slot, status="free").model_dump(mode="json", exclude_none=True)
        extension = []
        if booking_link is not None:
            extension.append({"url": BOOKING_DEEP_LINK, "valueUrl": booking_link(slot)})
        if booking_phone is not None:
            extension.append({"url": BOOKING_PHONE, "valueString": booking_phone})
        data["extension"] = extension
        if not extension:
            del data["extension"]
        data["id"] = fhir_slot_id(slot)
        slots.append(data)
    files = {
        "locations.ndjson": _ndjson(locations),
        "schedules.ndjson": _ndjson(schedules),
        "slots.ndjson": _ndjson(slots),
    }
    manifest = {
        "transactionTime": transaction_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "request": f"{base}/{MANIFEST_NAME}",
        "output": [
            {"type": "Location", "url": f"{base}/locations.ndjson"},
            {"type": "Schedule", "url": f"{base}/schedules.ndjson"},
            {"type": "Slot", "url": f"{base}/slots.ndjson"},
        ],
        "error": [],
    }
    return BulkPublication(manifest=manifest, files=files)
