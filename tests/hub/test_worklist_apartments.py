"""A health apartment on the physicians' worklist, end to end through the hub.

Everything is real: the hub over TLS with PostgreSQL, the physician's login through
Glewlwyd in headless Chromium, and a real ``telemedroom.apartment.Apartment`` (care
plan, journal, outbox; the virtual devices of ``tests/apartment``) that reports to the
hub with its own heartbeat key and waits in standby at the hub's own signaling with
join tokens it signs with the clinic key. The patient presses "call the ward" on the
screen's endpoint: the apartment is on the worklist page and ``/api/worklist`` as
calling, with the care plan's high alert after a reading, and in ``/metrics`` (read with
Prometheus' own parser). The physician clicks Join on the row, admits the call in the
console; the apartment leaves the "calling" rank, and once its alert is acknowledged
it leaves the worklist. Silent past the offline threshold, it is back as offline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families
from tests.apartment.conftest import make_config
from tests.apartment.test_ward import press

from telemedroom import BloodPressure
from telemedroom.apartment import Apartment
from telemedroom.hub import Hub, HubConfig
from telemedroom.session.signaling import LocalServer

from ._glewlwyd import Glewlwyd
from .conftest import PHYSICIAN, Keys, MovableClock, RunningHub, hub_toml, until
from .test_login import sso_login

pytestmark = pytest.mark.requires_system

APARTMENT = "apartment-2"


@asynccontextmanager
async def hub_with_an_apartment(
    keys: Keys, port: int, dsn: str, issuer: str, apartment_key: Ed25519PrivateKey
) -> AsyncIterator[RunningHub]:
    """The test hub (rooms, [tokens], Glewlwyd) with ``[[apartments]]`` for apartment-2."""
    (keys.folder / f"{APARTMENT}.pub.pem").write_bytes(
        apartment_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config_file = keys.folder / f"hub-apartments-{port}.toml"
    config_file.write_text(
        hub_toml(port=port, dsn=dsn, keys=keys, issuer=issuer)
        + f'[[apartments]]\nid = "{APARTMENT}"\nname = "Gesundheitswohnung 2"\n'
        f'public_key_file = "{APARTMENT}.pub.pem"\n'
    )
    clock = MovableClock()
    async with (
        Hub(HubConfig.from_toml(config_file), clock=clock) as hub,
        LocalServer(hub.app, port=port, ssl_certfile=str(keys.cert), ssl_keyfile=str(keys.key)) as server,
    ):
        yield RunningHub(hub, server, clock, config_file, {"cert": keys.cert})


async def api_row(
    page: Any, url: str, wanted: Callable[[dict[str, Any] | None], bool]
) -> dict[str, Any] | None:
    """The apartment's row of ``/api/worklist`` (the browser's session) once ``wanted`` holds."""
    async with asyncio.timeout(60):
        while True:
            answer = await page.context.request.get(f"{url}/api/worklist")
            assert answer.status == 200, await answer.text()
            rows = (await answer.json())["worklist"]
            row = next((r for r in rows if r["kind"] == "apartment" and r["apartment"] == APARTMENT), None)
            if wanted(row):
                return row
            await asyncio.sleep(0.1)  # poll: the hub has no push to its API


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_calling_apartment_is_on_the_worklist_the_physician_joins_and_it_leaves(
    idp: Glewlwyd,
    browser: Any,
    keys: Keys,
    hub_port: int,
    postgres_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the apartment's WebSocket client trusts the hub's test certificate as any system CA
    monkeypatch.setenv("SSL_CERT_FILE", str(keys.cert))
    heartbeat_key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "apartment-heartbeat.pem"
    key_file.write_bytes(
        heartbeat_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    config = make_config(
        tmp_path / "apartment",
        hub={
            "url": f"https://127.0.0.1:{hub_port}",
            "key_file": key_file,
            "ca_file": keys.cert,
            "interval_s": 0.5,
        },
        ward={
            "signaling_url": f"wss://127.0.0.1:{hub_port}",
            "token_signing_key_file": str(keys.folder / "join-token.pem"),
            "token_key_id": "clinic-1",
        },
    )
    async with hub_with_an_apartment(keys, hub_port, postgres_dsn, idp.issuer, heartbeat_key) as hub:
        async with Apartment(config) as apartment:
            assert apartment.hub is not None
            await sso_login(browser, hub, PHYSICIAN)
            assert browser.url == f"{hub.url}/worklist"
            # watching, no alert: not on the worklist
            async with asyncio.timeout(60):
                await apartment.hub.wait(delivered=1)
            assert await api_row(browser, hub.url, lambda row: True) is None

            # the patient calls the ward
            assert await press(apartment, "call") == 204
            row = await api_row(browser, hub.url, lambda row: row is not None)
            assert row is not None
            assert row["reasons"] == ["calling"]
            assert row["state"] == "calling"
            assert row["calling_since"] == apartment.call_state.at.isoformat()
            assert row["last_contact"] is not None
            assert row["link"] == f"/ward/apartments#apartment-{APARTMENT}"
            assert row["name"] == "Gesundheitswohnung 2"

            # a reading the care plan calls high, taken while the patient waits
            assert await apartment.accept(
                BloodPressure(systolic=186, diastolic=101, measured_at=datetime.now(UTC))
            )
            row = await api_row(browser, hub.url, lambda row: row is not None and row["open_alerts"] >= 1)
            assert row is not None
            assert row["reasons"] == ["calling", "alert"]
            assert row["highest_severity"] == "high"
            assert {"rule": "systolic", "severity": "high"} in [
                {k: a[k] for k in ("rule", "severity")} for a in row["alerts"]
            ]
            assert "186" not in json.dumps(row)  # the value stays in the clinic's record

            # the page: the row, first (nothing else waits), with why, the alert and a Join
            await browser.reload()
            line = browser.locator(f'#worklist tr[data-apartment="{APARTMENT}"]')
            assert await line.get_attribute("data-reasons") == "calling alert"
            assert (
                await browser.locator("#worklist tbody tr").first.get_attribute("data-apartment") == APARTMENT
            )
            live = await line.locator(".live").text_content()
            assert live is not None
            assert "calling the ward since" in live
            assert "open alert(s), highest high" in live
            assert "last contact" in live
            assert "systolic (high)" in (await line.locator(".readings").text_content() or "")
            link = line.locator("a.open")
            assert await link.get_attribute("href") == f"/ward/apartments#apartment-{APARTMENT}"

            # /metrics, as Prometheus reads it
            async with hub.client() as http:
                scraped = metrics((await http.get("/metrics")).text)
            assert scraped[("telemedroom_hub_apartments_calling", ())] == 1
            assert scraped[("telemedroom_hub_apartments", (("state", "online"),))] == 1
            high = (
                "telemedroom_hub_apartment_open_alerts",
                (("acknowledged", "false"), ("severity", "high")),
            )
            assert scraped[high] >= 1
            contact = ("telemedroom_hub_apartment_last_contact_seconds", (("apartment", APARTMENT),))
            assert 0 <= scraped[contact] < 60
            assert ("telemedroom_hub_apartment_outbox_backlog", (("apartment", APARTMENT),)) in scraped

            # Join without the CSRF token, or for an apartment the hub does not know: refused
            csrf = await line.locator('input[name="csrf"]').get_attribute("value")
            assert csrf
            bare = await browser.context.request.post(f"{hub.url}/worklist/apartments/{APARTMENT}/join")
            assert bare.status == 403
            unknown = await browser.context.request.post(
                f"{hub.url}/worklist/apartments/apartment-9/join",
                headers={"x-csrf-token": csrf},
                max_redirects=0,
            )
            assert unknown.status == 403
            assert "no apartment of this hub has this id" in await unknown.text()

            # Join: the hub issues the physician's token for the apartment's ward visit
            await line.locator("button.join").click()
            await browser.wait_for_url(lambda url: "/console/#token=" in url)
            await until(browser, "document.getElementById('status').textContent.startsWith('joined')", 30)
            await browser.locator("#waiting-list button.admit").first.click(timeout=30_000)
            async with asyncio.timeout(90):
                while apartment.call_state.state != "in_call":
                    await asyncio.sleep(0.05)
            # in the call: no longer calling, still on the worklist for its alert
            row = await api_row(
                browser, hub.url, lambda row: row is not None and "calling" not in row["reasons"]
            )
            assert row is not None
            assert row["reasons"] == ["alert"]
            assert row["state"] == "in_call"
            assert row["calling_since"] is None

            # the physician acknowledges the alert on the apartment's entry: off the worklist
            await browser.goto(f"{hub.url}/ward/apartments")
            for button in await browser.locator(f"#apartment-{APARTMENT} button.acknowledge").all():
                await button.click()
                await browser.wait_for_url(f"{hub.url}/ward/apartments")
            assert await api_row(browser, hub.url, lambda row: row is None) is None
            last = (await hub.hub.store.rooms())[APARTMENT].received_at

        # the apartment is gone (switched off): past the offline threshold it is back, offline
        hub.clock.advance(timedelta(seconds=31))
        row = await api_row(browser, hub.url, lambda row: row is not None)
        assert row is not None
        assert row["reasons"] == ["offline"]
        assert row["offline_since"] == (await hub.hub.store.rooms())[APARTMENT].received_at.isoformat()
        assert datetime.fromisoformat(row["offline_since"]) >= last
        async with hub.client() as http:
            scraped = metrics((await http.get("/metrics")).text)
        assert scraped[("telemedroom_hub_apartments", (("state", "offline"),))] == 1
        assert scraped[("telemedroom_hub_apartments_calling", ())] == 0
        entries = await hub.hub.store.audit_entries()

    issued = [e for e in entries if e.action.value == "token_issued" and e.room == APARTMENT]
    assert [(e.actor, e.appointment, e.detail) for e in issued] == [
        (issued[0].actor, "ward", {"via": "worklist"})
    ]
