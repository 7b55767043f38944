"""The daily summaries next to the console, in real headless Chromium, under their CSP.

The summary app is mounted on the signaling server's app (as docs/health-apartment.md
shows); the staff sign-on is a header, as a clinic's single-sign-on proxy would set it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from telemedroom import BloodPressure, BodyWeight
from telemedroom.monitoring import CarePlan, Monitor, summary_app
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app

from .conftest import until

pytestmark = pytest.mark.requires_system

PLAN = CarePlan.parse(
    {
        "patient": "Patient/heart-failure-4711",
        "timezone": "Europe/Berlin",
        "care_team": "CareTeam/c",
        "rules": [
            {"type": "threshold", "id": "systolic", "measurement": "blood_pressure", "field": "systolic",
             "above": 180},
        ],
    }
)  # fmt: skip
NOW = datetime(2026, 11, 26, 12, tzinfo=PLAN.zone)


async def staff(request: Any) -> str | None:
    return "nurse-anna" if request.headers.get("x-staff") == "nurse-anna" else None


async def test_the_console_links_the_summaries_and_they_render_under_their_csp(browser_page: Any) -> None:
    page = browser_page
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    monitor = Monitor(PLAN, clock=lambda: NOW)
    for day, kg in ((24, 80.0), (25, 81.0), (26, 81.4)):
        await monitor.ingest(BodyWeight(value=kg, measured_at=datetime(2026, 11, day, 7, tzinfo=PLAN.zone)))
    await monitor.ingest(BloodPressure(systolic=191, diastolic=99, measured_at=NOW))
    issuer = TokenIssuer.generate("k1")
    app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    app.mount("/summary", summary_app([monitor], authorize=staff))
    async with LocalServer(app) as server:
        await page.goto(f"{server.http_url}/console/")
        await until(page, "!document.getElementById('summaries').hidden")

        refused = await page.goto(f"{server.http_url}/summary/")
        assert refused is not None
        assert refused.status == 401

        await page.set_extra_http_headers({"x-staff": "nurse-anna"})
        await page.goto(f"{server.http_url}/summary/")
        await page.click("text=Patient/heart-failure-4711")
        await page.wait_for_selector("h1")
        assert "Daily summary 2026-11-26" in await page.inner_text("h1")
        assert "systolic blood pressure 191" in await page.inner_text("body")
        # the inline style applies (its hash is in the CSP), and the sparklines are drawn
        collapse = await page.evaluate("getComputedStyle(document.querySelector('table')).borderCollapse")
        assert collapse == "collapse"
        assert await page.locator("svg polyline").count() == 3  # weight, systolic, diastolic
    assert not [text for text in messages if "Content Security Policy" in text]
