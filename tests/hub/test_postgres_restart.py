"""The whole hub after PostgreSQL ended its sessions (a database restart), on a real PostgreSQL.

``pg_terminate_backend`` on every session of the hub's database sends each client the
error a fast shutdown sends ("terminating connection due to administrator command").
The hub must come back by itself: replicas run under systemd's ``Restart=on-failure``,
which does not restart a process that is merely unready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemedroom.session.heartbeat import HeartbeatSigner

from .conftest import Keys, RunningHub, end_every_session
from .test_fleet import beat, local_login, post

pytestmark = pytest.mark.requires_system

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]


async def test_the_hub_serves_again_after_postgresql_ended_its_sessions(
    hub_factory: HubFactory, keys: Keys, postgres_dsn: str
) -> None:
    nord = HeartbeatSigner("nord-1", keys.rooms["nord-1"])
    async with hub_factory() as running, running.client() as client:
        await local_login(client)
        assert (await post(client, "nord-1", nord.sign(beat("nord-1", 0)))).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert await end_every_session(postgres_dsn) >= 2
        # ready again by itself, within seconds
        async with asyncio.timeout(30):
            while (ready := await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)  # polling an HTTP probe, as the proxy does
        assert ready.json()["checks"]["signaling_relay"] is True
        # and everything that needs the database works: a heartbeat, the fleet, the session
        assert (await post(client, "nord-1", nord.sign(beat("nord-1", 1)))).status_code == 200
        fleet = await client.get("/api/fleet")
        assert fleet.status_code == 200
        rooms = {row["id"]: row for row in fleet.json()["rooms"]}
        assert rooms["nord-1"]["report"]["sequence"] == 1
        # the operator's monitoring sees that it happened
        metrics = {
            sample.name: sample.value
            for family in text_string_to_metric_families((await client.get("/metrics")).text)
            for sample in family.samples
        }
        assert metrics["telemedroom_hub_signaling_relay_listening"] == 1
        assert metrics["telemedroom_hub_signaling_relay_reconnects_total"] == 1
