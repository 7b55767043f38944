"""SMART Scheduling Links: the manifest and NDJSON files hang together and are valid FHIR R4B."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot as FhirSlot

from telemedroom import errors
from telemedroom.scheduling import BulkPublication, Scheduler, ScheduleStore, bulk_publish

from .conftest import GP, MONDAY, RESOURCES, FakeClock

BASE = "https://room.example/slots"


async def publish(store: ScheduleStore, clock: FakeClock) -> tuple[BulkPublication, int]:
    scheduler = Scheduler(store, RESOURCES, clock=clock)
    [first, *_] = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=1))
    await scheduler.book(first, "pat-1", idempotency_key="k")
    free = await scheduler.find_slots(GP, MONDAY, MONDAY + timedelta(days=7))
    publication = bulk_publish(
        BASE,
        RESOURCES,
        free,
        transaction_time=clock(),
        booking_link=lambda s: (
            f"https://room.example/book?start={s.start:%Y%m%dT%H%M%SZ}&service={s.service_id}"
        ),
        booking_phone="+49 30 1234567",
    )
    return publication, len(free)


async def test_manifest_and_files_are_consistent_fhir(
    store: ScheduleStore, clock: FakeClock, tmp_path: Path
) -> None:
    publication, count = await publish(store, clock)
    manifest = publication.manifest
    assert manifest["transactionTime"] == "2026-03-01T12:00:00Z"
    assert manifest["request"] == f"{BASE}/$bulk-publish"
    assert [o["type"] for o in manifest["output"]] == ["Location", "Schedule", "Slot"]
    assert manifest["error"] == []
    by_name = {o["url"].rsplit("/", 1)[1]: o["type"] for o in manifest["output"]}
    assert set(by_name) == set(publication.files)

    lines = {name: text.splitlines() for name, text in publication.files.items()}
    locations = [Location.model_validate_json(line) for line in lines["locations.ndjson"]]
    schedules = [Schedule.model_validate_json(line) for line in lines["schedules.ndjson"]]
    slots = [FhirSlot.model_validate_json(line) for line in lines["slots.ndjson"]]
    assert {loc.id for loc in locations} == {"room-1", "room-2"}
    assert {s.actor[0].reference for s in schedules} == {f"Location/{loc.id}" for loc in locations}
    assert len(slots) == count
    assert {s.schedule.reference for s in slots} <= {f"Schedule/{s.id}" for s in schedules}
    assert {s.status for s in slots} == {"free"}
    assert len({s.id for s in slots}) == count
    # the booked 09:00 pair is not offered on room-1 any more, room-2 still has 09:00
    monday_nine = datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert [s.schedule.reference for s in slots if s.start == monday_nine] == ["Schedule/room-2"]
    raw = json.loads(lines["slots.ndjson"][0])
    urls = {e["url"] for e in raw["extension"]}
    assert urls == {
        "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link",
        "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone",
    }
    assert "dr-a" not in publication.files["slots.ndjson"]  # internal assignment is not published

    written = publication.write(tmp_path / "pub")
    assert sorted(p.name for p in written) == sorted(["$bulk-publish", *publication.files])
    assert json.loads((tmp_path / "pub" / "$bulk-publish").read_text()) == manifest


def test_slots_must_sit_on_a_known_room(clock: FakeClock) -> None:
    from telemedroom.scheduling import Slot

    slot = Slot(
        service_id="s", start=MONDAY, end=MONDAY + timedelta(minutes=20), resource_ids=("dr-a", "room-1")
    )
    with pytest.raises(errors.InvalidScheduleData) as info:
        bulk_publish(BASE, RESOURCES, [slot], transaction_time=clock())
    assert info.value.value == ("dr-a", "room-1")
    with pytest.raises(errors.NaiveDatetimeError):
        bulk_publish(BASE, RESOURCES, [], transaction_time=datetime(2026, 3, 1))
