"""The journal's mapping of readings: keys are deterministic, readings come back as they went in."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from tests.fhir._strategies import measurements

from telemedroom.apartment import Journal, reading_key
from telemedroom.fhir import transaction_json
from telemedroom.measurements import Measurement

RECEIVED = datetime(2026, 11, 24, 7, tzinfo=UTC)


def bundle(measurement: Measurement, patient: str = "Patient/p1") -> dict:
    return transaction_json([measurement], patient=patient, received_at=RECEIVED)


@given(measurements)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_key_is_the_same_for_the_same_reading_and_differs_by_patient(measurement: Measurement) -> None:
    assert reading_key(bundle(measurement)) == reading_key(bundle(measurement.model_copy()))
    assert reading_key(bundle(measurement)) != reading_key(bundle(measurement, "Patient/p2"))


@given(measurements)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_reading_comes_back_from_the_journal_as_it_went_in(measurement: Measurement) -> None:
    async def roundtrip(folder: str) -> tuple[bool, bool, list[Measurement]]:
        async with Journal(Path(folder) / "journal.sqlite", key=bytes(32)) as journal:
            first = await journal.add(measurement, bundle(measurement), RECEIVED)
            again = await journal.add(measurement, bundle(measurement), RECEIVED)
            return first, again, [r.measurement for r in await journal.readings()]

    with tempfile.TemporaryDirectory() as folder:
        first, again, stored = asyncio.run(roundtrip(folder))
    assert (first, again) == (True, False)
    assert stored == [measurement]
