"""Two hub replicas on one real PostgreSQL share every piece of state: sessions, the fleet,
the audit chain, and the visits of the signaling server (LISTEN/NOTIFY between replicas).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

import httpx
import pytest

from telemedroom.hub import Hub, HubConfig
from telemedroom.session import AuditLog
from telemedroom.session.heartbeat import HeartbeatSigner
from telemedroom.session.signaling import LocalServer

from .conftest import Keys, RunningHub
from .test_fleet import beat, local_login, post

pytestmark = pytest.mark.requires_system

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]


async def test_two_replicas_share_sessions_fleet_and_audit(hub_factory: HubFactory, keys: Keys) -> None:
    nord = HeartbeatSigner("nord-1", keys.rooms["nord-1"])
    async with hub_factory() as a:  # noqa: SIM117 - replica B needs A's configuration file
        # replica B: the same configuration file, the same database, another process' worth of state
        async with (
            Hub(HubConfig.from_toml(a.config_file), clock=a.clock) as hub_b,
            LocalServer(hub_b.app, ssl_certfile=str(keys.cert), ssl_keyfile=str(keys.key)) as server_b,
            a.client() as on_a,
            httpx.AsyncClient(
                base_url=server_b.http_url, verify=ssl.create_default_context(cafile=keys.cert)
            ) as on_b,
        ):
            await local_login(on_a)
            on_b.cookies.set("__Host-telemedroom-hub", on_a.cookies["__Host-telemedroom-hub"])
            # the room reports to A; the operator, logged in on A, reads the fleet on B
            sent = beat("nord-1", 0, state="waiting", waiting_since=datetime.now(UTC))
            assert (await post(on_a, "nord-1", nord.sign(sent))).status_code == 200
            rooms = {row["id"]: row for row in (await on_b.get("/api/fleet")).json()["rooms"]}
            assert rooms["nord-1"]["report"]["state"] == "waiting"
            # a replay of that report on B is known as one
            assert (await post(on_b, "nord-1", nord.sign(sent))).json() == {"replayed": 1}
            # logout on B ends the session on A too
            page = (await on_a.get("/fleet")).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            assert (await on_b.post("/auth/logout", data={"csrf": csrf.group(1)})).status_code == 200
            assert (await on_a.get("/api/fleet")).status_code == 401
            # one audit chain, written by both replicas
            entries = await hub_b.store.audit_entries()
            AuditLog.from_entries(entries).verify()
            assert [e.action.value for e in entries] == [
                "login",
                "heartbeat_refused",
                "logout",
                "request_refused",
            ]


async def test_more_apps_mount_behind_the_hub(keys: Keys, postgres_dsn: str, hub_port: int) -> None:
    """The seam for the booking API (``telemedroom.booking``, built in parallel): ``Hub(mounts=...)``."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .conftest import hub_toml

    async def slots(_request: object) -> JSONResponse:
        return JSONResponse({"slots": []})

    booking = Starlette(routes=[Route("/slots", slots)])
    config_file = keys.folder / "mounts-hub.toml"
    config_file.write_text(hub_toml(port=hub_port, dsn=postgres_dsn, keys=keys, issuer=None))
    async with (
        Hub(HubConfig.from_toml(config_file), mounts={"/booking": booking}) as hub,
        LocalServer(hub.app) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        assert (await http.get("/booking/slots")).json() == {"slots": []}
        assert (await http.get("/healthz")).text == "ok"  # the hub's own routes come first
