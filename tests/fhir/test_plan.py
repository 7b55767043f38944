"""Ordered transaction plans (telemedroom.fhir._plan): every step fits the server, nothing lost or doubled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from telemedroom import DeviceInfo, HeartRate
from telemedroom.fhir import ServerProfile, transaction_json
from telemedroom.fhir._plan import plan_transaction

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
DEVICES = [DeviceInfo(manufacturer="Acme", system_id=f"00-1B-2C-FF-FE-3D-4E-{n:02X}") for n in range(3)]


def merged_entries(picks: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Readings (device, minute) as the outbox merges them: one entry per fullUrl."""
    entries: dict[str, dict[str, Any]] = {}
    for device, minute in picks:
        reading = HeartRate(bpm=60, measured_at=T0 + timedelta(minutes=minute), device=DEVICES[device])
        for entry in transaction_json([reading], patient="Patient/p1", received_at=T0)["entry"]:
            entries.setdefault(entry["fullUrl"], entry)
    return list(entries.values())


def conditional(entry: dict[str, Any]) -> bool:
    request = entry["request"]
    return bool(request.get("ifNoneExist")) or "?" in request["url"]


readings = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10_000)), min_size=1, max_size=60, unique=True
)


@settings(max_examples=40, deadline=None)
@given(picks=readings, update_create=st.booleans())
def test_each_step_fits_medplum_and_every_entry_goes_once(
    picks: list[tuple[int, int]], update_create: bool
) -> None:
    entries = merged_entries(picks)
    profile = ServerProfile.named("medplum", update_create=update_create)
    steps = plan_transaction(entries, profile)
    sent = [entry["fullUrl"] for step in steps for entry in step]
    assert sorted(sent) == sorted(e["fullUrl"] for e in entries)  # each entry once
    seen: set[str] = set()
    for step in steps:
        if any(conditional(e) for e in step):
            assert len(step) <= 8
        assert sum(e["request"]["method"] == "PUT" for e in step) <= 50
        urls = {e["fullUrl"] for e in step}
        for entry in step:  # what an entry references comes in its step or an earlier one
            for urn in {u for u in (e["fullUrl"] for e in entries) if u in json.dumps(entry["resource"])}:
                assert urn in seen | urls
        seen |= urls
    observations = [e for step in steps for e in step if e["resource"]["resourceType"] == "Observation"]
    if update_create:  # a reading goes as a PUT to the uuid of its fullUrl: no search, same id every time
        assert all(
            e["request"] == {"method": "PUT", "url": f"Observation/{e['fullUrl'].removeprefix('urn:uuid:')}"}
            for e in observations
        )
        assert all(not conditional(e) for e in observations)
    else:
        assert all(conditional(e) for e in observations)
    assert all(conditional(e) for step in steps for e in step if e["resource"]["resourceType"] == "Device")


def test_update_as_create_cuts_a_hundred_readings_into_few_transactions() -> None:
    entries = merged_entries([(0, minute) for minute in range(100)])
    with_searches = plan_transaction(entries, ServerProfile.named("medplum"))
    with_puts = plan_transaction(entries, ServerProfile.named("medplum", update_create=True))
    assert len(with_searches) == 26  # 201 entries, at most 8 a transaction
    assert len(with_puts) == 5  # the Device's step of 8, then 193 PUTs at most 50 a transaction
