"""The apartment in the clinic hub: its row in the fleet view, catching up after the hub was away,
and the ward's acknowledgements and notes reaching the patient's screen.

The hub (``telemedroom.hub.Hub`` over TLS on loopback), its PostgreSQL and the apartment
are real; staff log in with local accounts (argon2), as on a hub without an IdP. The
physician's page and the patient's screen are two tabs of one headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.apartment.conftest import CUFF, make_config
from tests.hub._glewlwyd import free_port
from tests.hub.conftest import Keys, MovableClock, browser, keys  # noqa: F401 (fixtures)
from tests.kiosk.test_kiosk_chromium import shows
from tests.scheduling.conftest import postgres_dsn, postgres_server  # noqa: F401 (fixtures)

from telemedroom import BloodPressure, BodyWeight
from telemedroom.apartment import Apartment
from telemedroom.apartment._screen import screen_app
from telemedroom.apartment._texts import TEXTS
from telemedroom.hub import Hub, HubConfig, hash_password
from telemedroom.session import AuditLog
from telemedroom.session.signaling import LocalServer

pytestmark = pytest.mark.requires_system

APARTMENT = "apartment-2"
PASSWORD = "ward-Passw0rd"


@dataclass
class ClinicHub:
    folder: Path
    port: int
    config: HubConfig
    cert: Path
    tls_key: Path
    key: Ed25519PrivateKey  # the apartment's heartbeat key

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        async with (
            Hub(self.config, clock=MovableClock()) as hub,
            LocalServer(hub.app, port=self.port, ssl_certfile=str(self.cert), ssl_keyfile=str(self.tls_key)),
        ):
            yield hub

    @asynccontextmanager
    async def staff(self, username: str) -> AsyncIterator[httpx.AsyncClient]:
        """A logged-in HTTPS client of ``username`` (``ward.doc`` physician, ``ward.op`` operator)."""
        import ssl

        verify = ssl.create_default_context(cafile=str(self.cert))
        async with httpx.AsyncClient(base_url=self.url, verify=verify) as http:
            page = await http.get("/login")
            token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
            assert token is not None
            answer = await http.post(
                "/auth/local", data={"login_csrf": token.group(1), "username": username, "password": PASSWORD}
            )
            assert answer.status_code == 303, answer.text
            yield http


@pytest.fixture
def clinic(tmp_path: Path, keys: Keys, postgres_dsn: str) -> ClinicHub:  # noqa: F811
    """A hub configuration with one apartment (its own key) and a physician and an operator."""
    folder = tmp_path / "hub"
    folder.mkdir()
    key = Ed25519PrivateKey.generate()
    (folder / "apartment-2.pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    hashed = hash_password(PASSWORD)
    (folder / "accounts.toml").write_text(
        f'[accounts."ward.doc"]\nname = "Dr. Lena Brandt"\nroles = ["physician"]\n'
        f'password_hash = "{hashed}"\n'
        f'[accounts."ward.op"]\nname = "Ward Operator"\nroles = ["operator"]\npassword_hash = "{hashed}"\n',
        encoding="utf-8",
    )
    port = free_port()
    (folder / "hub.toml").write_text(
        f'public_url = "https://127.0.0.1:{port}"\ndatabase_url = "{postgres_dsn}"\n'
        'accounts_file = "accounts.toml"\n'
        "[alerts]\noffline_after_s = 30\nbattery_low_percent = 20\n"
        '[[apartments]]\nid = "apartment-2"\nname = "Gesundheitswohnung 2"\n'
        'public_key_file = "apartment-2.pub.pem"\n',
        encoding="utf-8",
    )
    return ClinicHub(folder, port, HubConfig.from_toml(folder / "hub.toml"), keys.cert, keys.key, key)


def apartment_config(tmp_path: Path, clinic: ClinicHub) -> Any:
    key_file = tmp_path / "apartment-2-heartbeat.pem"
    if not key_file.exists():
        key_file.write_bytes(
            clinic.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    hub = {"url": clinic.url, "key_file": key_file, "ca_file": clinic.cert, "interval_s": 0.5}
    return make_config(tmp_path / "apartment", hub=hub)


async def fleet_row(http: httpx.AsyncClient, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The apartment's row in ``/api/fleet`` once ``wanted`` holds (the apartment reports every 0.5 s)."""
    row: dict[str, Any] = {}
    async with asyncio.timeout(60):
        while True:
            answer = await http.get("/api/fleet")
            assert answer.status_code == 200, answer.text
            row = next(r for r in answer.json()["apartments"] if r["id"] == APARTMENT)
            if wanted(row):
                return row
            await asyncio.sleep(0.1)  # poll: the hub has no push to its API


async def test_the_fleet_shows_the_apartment_and_it_catches_up_after_the_hub_was_away(
    tmp_path: Path, clinic: ClinicHub
) -> None:
    config = apartment_config(tmp_path, clinic)
    async with (
        clinic.running() as hub,
        clinic.staff("ward.op") as operator,
        Apartment(config) as apartment,
    ):
        assert apartment.hub is not None
        row = await fleet_row(operator, lambda r: r["state"] == "watching")
        assert row["online"]
        assert row["open_alerts"] == 0
        assert row["last_contact"] is not None
        assert row["highest_severity"] is None

        # a cuff with a weak battery, and a blood pressure the care plan calls high
        await apartment.device_seen(CUFF, battery=12)
        assert await apartment.accept(
            BloodPressure(systolic=186, diastolic=101, measured_at=datetime.now(UTC))
        )
        row = await fleet_row(operator, lambda r: r["open_alerts"] == 2)
        assert row["highest_severity"] == "high"
        assert row["outbox_backlog"] >= 1
        cuff = next(d for d in row["devices"] if d["kind"] == "blood_pressure")
        assert cuff["battery"] == 12
        assert cuff["name"] == "Blutdruckmessgerät"
        assert "Blutdruckmessgerät battery 12 %" in row["alerts"]
        # what the hub holds of the apartment: rules and severities, no values
        history = await hub.store.history(APARTMENT, limit=500)
        stored = json.dumps([beat.model_dump(mode="json") for beat in history])
        # as numbers, not as digits inside a timestamp's microseconds or an id
        assert re.findall(r"(?<![\w.:-])(?:186|101)(?:\.0+)?(?![\w.:-])", stored) == []
        assert {a.rule for a in history[0].alerts} == {"systolic", "battery-low"}
        assert history[0].kind == "apartment"
        page = await operator.get("/fleet")
        assert 'data-apartment="apartment-2"' in page.text
        assert "2 (high)" in page.text
        assert "Acknowledge" not in page.text  # the operator sees, the ward acts
        before = apartment.hub.delivered

    # the hub is away: the apartment keeps taking readings, its heartbeats wait in the queue
    async with Apartment(config) as apartment:
        link = apartment.hub
        assert link is not None
        assert await apartment.accept(BodyWeight(value=84.5, measured_at=datetime.now(UTC)))
        assert await apartment.accept(
            BodyWeight(value=84.6, measured_at=datetime.now(UTC) + timedelta(minutes=1))
        )
        async with asyncio.timeout(30):
            while link.queued < 3:  # the first report, and one per reading at least
                await asyncio.sleep(0.05)
        assert link.delivered == 0
        queued = link.queued
        async with clinic.running() as hub, clinic.staff("ward.op") as operator:
            async with asyncio.timeout(60):
                await link.wait(delivered=queued)
            history = await hub.store.history(APARTMENT, limit=500)
            assert len(history) >= before + queued
            row = await fleet_row(operator, lambda r: r["online"])
            assert row["outbox_backlog"] >= 3
        assert await apartment.journal.count() == 3  # nothing lost, nothing taken twice


async def test_the_wards_acknowledgement_and_note_reach_the_patients_screen(
    tmp_path: Path,
    clinic: ClinicHub,
    browser: Any,  # noqa: F811  (Chromium that accepts the hub's test certificate)
) -> None:
    page, texts = browser, TEXTS["en"]
    config = apartment_config(tmp_path, clinic).model_copy(update={"language": "en"})
    async with (
        clinic.running() as hub,
        clinic.staff("ward.doc") as physician,
        Apartment(config) as apartment,
        LocalServer(screen_app(apartment)) as screen,
    ):
        link = apartment.hub
        assert link is not None
        await page.goto(f"{screen.http_url}/screen/?lang=en")
        await shows(page, "#messages", texts["messages_empty"])
        assert await apartment.accept(
            BloodPressure(systolic=186, diastolic=101, measured_at=datetime.now(UTC))
        )
        await shows(page, "#warnings", texts["warning_call"])
        alert = next(a for a in apartment.open_alerts() if a.rule_id == "systolic")

        # the physician logs in (Chromium), sees the alert on /ward/apartments, acknowledges
        # it and writes a note there
        ward = await page.context.new_page()
        await ward.goto(f"{clinic.url}/login")
        await ward.fill('input[name="username"]', "ward.doc")
        await ward.fill('input[name="password"]', PASSWORD)
        async with ward.expect_response(lambda r: r.url.endswith("/auth/local")) as login:
            await ward.click('#local-login button[type="submit"]')
        assert (await login.value).status == 303
        await ward.goto(f"{clinic.url}/ward/apartments")
        async with asyncio.timeout(60):
            while await ward.locator(f'li[data-alert="{alert.id}"]').count() == 0:
                await ward.reload()
        async with ward.expect_response(lambda r: r.url.endswith("/acknowledge")) as acknowledged:
            await ward.click(f'li[data-alert="{alert.id}"] button.acknowledge')
        assert (await acknowledged.value).status == 303
        await ward.fill(
            f'tr[data-apartment="{APARTMENT}"] input[name="text"]', "Bitte morgen früh noch einmal messen."
        )
        async with ward.expect_response(lambda r: r.url.endswith("/notes")) as noted:
            await ward.click(f'tr[data-apartment="{APARTMENT}"] form.note button')
        assert (await noted.value).status == 303
        listing = (await physician.get("/ward/apartments")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', listing)
        assert csrf is not None
        # without the CSRF token, or for an alert the apartment never reported: refused
        assert (
            await physician.post(f"/ward/apartments/{APARTMENT}/notes", data={"text": "x"})
        ).status_code == 403
        unknown = await physician.post(
            f"/ward/apartments/{APARTMENT}/alerts/not-an-alert/acknowledge",
            headers={"x-csrf-token": csrf.group(1)},
        )
        assert unknown.status_code == 404

        # both reach the apartment with its next heartbeat's answer, and the screen shows them
        async with asyncio.timeout(60):
            await link.wait(applied=2)
        await shows(page, "#messages", "Bitte morgen früh noch einmal messen.")
        await shows(page, "#messages", texts["message_acknowledged"])
        await shows(page, "#messages", "Dr. Lena Brandt")
        await until_gone(page, "#warnings", texts["warning_call"])
        assert apartment.monitor.alert(alert.id).acknowledged_by == "Dr. Lena Brandt"
        state = await apartment.state()
        assert [m["kind"] for m in state["messages"]] == ["note", "acknowledged"]

        # the hub sees them arrive (the apartment reports its cursor) and audited who sent them
        async with asyncio.timeout(60):
            while True:
                row = next(r for r in (await hub_fleet(hub)) if r.id == APARTMENT)
                if row.waiting == 0 and row.status is not None and row.status.report.ward_cursor == 2:
                    break
                await asyncio.sleep(0.1)
        entries = await hub.store.audit_entries()
        AuditLog.from_entries(entries).verify()
        actions = [(e.action.value, e.actor) for e in entries if e.room == APARTMENT]
        assert ("alert_acknowledged", "ward.doc") in actions
        assert ("note_added", "ward.doc") in actions

    # after a restart the note is still there (sealed in the journal) and nothing is applied twice
    async with clinic.running(), Apartment(config) as apartment:
        link = apartment.hub
        assert link is not None
        assert link.cursor == 2
        async with asyncio.timeout(60):
            await link.wait(delivered=1)
        assert link.applied == 0
        notes = [m for m in (await apartment.state())["messages"] if m["kind"] == "note"]
        assert [n["text"] for n in notes] == ["Bitte morgen früh noch einmal messen."]
    raw = (config.data_dir / "apartment.sqlite").read_bytes()
    assert b"morgen" not in raw


async def hub_fleet(hub: Hub) -> list[Any]:
    return await hub.apartments()


async def until_gone(page: Any, selector: str, fragment: str) -> None:
    from tests.session.conftest import until

    condition = (
        f"!((document.querySelector({json.dumps(selector)}) || {{}}).textContent || '')"
        f".includes({json.dumps(fragment)})"
    )
    await until(page, condition)
