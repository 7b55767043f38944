"""A record the clinic's FHIR server refuses for good: seen, held back, never silently dropped.

The server is :class:`telemedroom.testing.FakeFhirServer` (the clinic's real server is out
of reach here): it answers the refusal as a FHIR server does, 422 with an
``OperationOutcome``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.apartment.conftest import SCALE, make_config

from telemedroom import BodyWeight
from telemedroom.apartment import Apartment, ApartmentEvent, RecordRefused
from telemedroom.fhir import FhirClient, Retry
from telemedroom.testing import FakeFhirServer, SimulatedClock


async def test_a_refused_record_is_an_event_and_stays_held_back_until_requeued(tmp_path: Path) -> None:
    server = FakeFhirServer()
    clock = SimulatedClock(datetime(2026, 12, 3, 7, 30, tzinfo=UTC))
    client = FhirClient(server.base_url, transport=server.transport(), retry=Retry(attempts=1))
    async with client, Apartment(make_config(tmp_path), clock=clock, fhir_sink=client) as apartment:
        seen: list[ApartmentEvent] = []

        async def collect() -> None:
            async for event in apartment.events():
                seen.append(event)

        watcher = asyncio.ensure_future(collect())
        try:
            await asyncio.sleep(0)  # subscribed
            assert await apartment.accept(BodyWeight(value=81.2, measured_at=clock.now()), device=SCALE)
            server.fail_next(422)
            result = await apartment.drain_outbox()
            assert len(result.rejected) == 1
            await asyncio.sleep(0)  # the event reaches the subscriber
        finally:
            watcher.cancel()
        refused = [e for e in seen if isinstance(e, RecordRefused)]
        assert [(e.outbox_row, e.status) for e in refused] == [(result.rejected[0], 422)]
        assert "422" in refused[0].reason
        assert "81.2" not in refused[0].model_dump_json()  # the reading's value is not in it
        # held back: the next delivery does not send it again, nothing is lost
        assert list(await apartment.outbox.held_back()) == list(result.rejected)
        assert (await apartment.drain_outbox()).sent == 0
        # once someone has looked, it goes
        assert await apartment.outbox.requeue(*result.rejected) == list(result.rejected)
        assert (await apartment.drain_outbox()).sent == 1
    assert [o["valueQuantity"]["value"] for o in server.resources("Observation")] == [81.2]


async def test_an_hour_of_failed_deliveries_raises_an_alert_the_next_delivery_clears(tmp_path: Path) -> None:
    """The clinic's server unreachable (the fake's ``unreachable``: a refused connection):
    readings stay queued; after ``[health] delivery_alert_minutes`` of failed deliveries the
    ward, the hub and the screen hear of it, and the first delivery that works clears it."""
    server = FakeFhirServer()
    clock = SimulatedClock(datetime(2026, 12, 3, 7, 30, tzinfo=UTC))
    client = FhirClient(server.base_url, transport=server.transport(), retry=Retry(attempts=1))
    config = make_config(tmp_path, health={"delivery_alert_minutes": 60})
    async with client, Apartment(config, clock=clock, fhir_sink=client) as apartment:
        assert await apartment.accept(BodyWeight(value=81.2, measured_at=clock.now()), device=SCALE)
        server.unreachable = True
        for _ in range(12):  # an hour of tries, every 5 minutes as run() makes them
            assert await apartment.try_delivery() is None
            assert (await apartment.state())["gateway"] == []
            clock.advance(timedelta(minutes=5))
        assert await apartment.try_delivery() is None  # 60 minutes after the first failure
        (alert,) = [a for a in apartment.open_alerts() if a.rule_id == "delivery-failing"]
        assert alert.severity == "moderate"
        assert "have not reached the clinic for 60 min" in alert.message
        assert (await apartment.state())["gateway"] == ["delivery-failing"]
        assert await apartment.outbox.pending() >= 1  # nothing lost meanwhile
        server.unreachable = False
        result = await apartment.try_delivery()
        assert result is not None
        assert result.sent >= 1
        assert not [a for a in apartment.open_alerts() if a.rule_id == "delivery-failing"]
        assert (await apartment.state())["gateway"] == []
    assert [o["valueQuantity"]["value"] for o in server.resources("Observation")] == [81.2]
