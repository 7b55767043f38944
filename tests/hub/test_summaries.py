"""The health-apartment daily summaries served by the hub behind its login, with a role.

A real hub (TLS on loopback, PostgreSQL) with local accounts; the monitor is a real
``telemedroom.monitoring.Monitor`` fed real readings.
"""

from __future__ import annotations

import re
import shutil
import ssl
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from telemedroom import BodyWeight
from telemedroom.hub import Hub, HubConfig, hash_password
from telemedroom.monitoring import CarePlan, Monitor
from telemedroom.session.signaling import LocalServer

from .conftest import Keys, hub_toml

pytestmark = pytest.mark.requires_system

PLAN = CarePlan.parse(
    {
        "patient": "Patient/anna-k",
        "timezone": "Europe/Berlin",
        "care_team": "CareTeam/ward-3",
        "rules": [
            {"type": "trend", "id": "weight-gain", "measurement": "body_weight", "field": "value",
             "rise": 2.0, "within": "P3D", "message": "Weight gain > 2 kg"},
        ],
    }
)  # fmt: skip
NOW = datetime(2026, 11, 26, 12, tzinfo=PLAN.zone)
PASSWORD = "summary-Passw0rd"


async def login(http: httpx.AsyncClient, username: str) -> None:
    page = await http.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = await http.post(
        "/auth/local", data={"login_csrf": token.group(1), "username": username, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text


async def test_the_daily_summaries_are_for_logged_in_physicians_and_every_read_is_audited(
    keys: Keys, postgres_dsn: str, hub_port: int, tmp_path: Path
) -> None:
    monitor = Monitor(PLAN, clock=lambda: NOW)
    for day, kg in ((23, 80.0), (24, 81.0), (25, 82.5)):
        await monitor.ingest(BodyWeight(value=kg, measured_at=datetime(2026, 11, day, 7, tzinfo=PLAN.zone)))
    for name in ("join-token.pem", "nord-1.pub.pem", "sued-2.pub.pem"):
        shutil.copy(keys.folder / name, tmp_path / name)
    (tmp_path / "accounts.toml").write_text(
        "".join(
            f'[accounts."{user}"]\nname = "{user}"\nroles = ["{role}"]\n'
            f'password_hash = "{hash_password(PASSWORD)}"\n'
            for user, role in (("dr.lang", "physician"), ("op.berg", "operator"))
        )
    )
    config = tmp_path / "hub.toml"
    config.write_text(hub_toml(port=hub_port, dsn=postgres_dsn, keys=keys, issuer=None))
    tls = ssl.create_default_context(cafile=keys.cert)
    async with (
        Hub(HubConfig.from_toml(config), summaries=lambda: [monitor]) as hub,
        LocalServer(hub.app, port=hub_port, ssl_certfile=str(keys.cert), ssl_keyfile=str(keys.key)) as server,
        httpx.AsyncClient(base_url=server.http_url, verify=tls) as anonymous,
        httpx.AsyncClient(base_url=server.http_url, verify=tls) as operator,
        httpx.AsyncClient(base_url=server.http_url, verify=tls) as physician,
    ):
        # no session: to the login page, nothing of the patient shown
        first = await anonymous.get("/summaries/")
        assert (first.status_code, first.headers["location"]) == (303, "/login")
        # the operator's role does not open them
        await login(operator, "op.berg")
        refused = await operator.get("/summaries/patient", params={"ref": "Patient/anna-k"})
        assert refused.status_code == 403
        assert "Patient/anna-k" not in refused.text
        # the physician reads the index and the day's summary, under the summaries' own CSP
        await login(physician, "dr.lang")
        index = await physician.get("/summaries/")
        assert index.status_code == 200
        assert "Patient/anna-k" in index.text
        page = await physician.get(
            "/summaries/patient", params={"ref": "Patient/anna-k", "day": "2026-11-26"}
        )
        assert page.status_code == 200
        assert "Daily summary 2026-11-26" in page.text
        assert "Weight gain" in page.text
        assert page.headers["cache-control"] == "no-store"
        entries = await hub.store.audit_entries()
    reads = [(e.actor, e.detail["patient"]) for e in entries if e.action.value == "summary_viewed"]
    assert reads == [("dr.lang", ""), ("dr.lang", "Patient/anna-k")]
    refusals = [e.detail for e in entries if e.action.value == "request_refused"]
    assert [(r["reason"], r["path"]) for r in refusals] == [
        ("no_session", "/summaries/"),
        ("forbidden_role", "/summaries/patient"),
    ]
