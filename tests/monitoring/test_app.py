"""The daily-summary pages for clinic staff (summary_app), through httpx's ASGI transport."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from telemedroom import BodyWeight
from telemedroom.monitoring import SUMMARY_HEADERS, CarePlan, Monitor, summary_app

PLAN = CarePlan.parse(
    {
        "patient": "Patient/<script>alert(1)</script>",
        "timezone": "Europe/Berlin",
        "care_team": "CareTeam/c",
        "rules": [
            {"type": "trend", "id": "weight-gain", "measurement": "body_weight", "field": "value",
             "rise": 2.0, "within": "P3D", "message": "Weight <b>gain</b> > 2 kg"},
        ],
    }
)  # fmt: skip
NOW = datetime(2026, 11, 26, 12, tzinfo=PLAN.zone)


async def staff(request: Any) -> str | None:
    """The deployment's sign-on, here a header (a proxy's single sign-on sets such a header)."""
    return "nurse-anna" if request.headers.get("x-staff") == "nurse-anna" else None


@pytest.fixture
async def web() -> AsyncIterator[httpx.AsyncClient]:
    monitor = Monitor(PLAN, clock=lambda: NOW)
    for day, kg in ((23, 80.0), (24, 81.0), (25, 82.5)):
        await monitor.ingest(BodyWeight(value=kg, measured_at=datetime(2026, 11, day, 7, tzinfo=PLAN.zone)))
    app = summary_app(lambda: [monitor], authorize=staff)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://clinic", headers={"x-staff": "nurse-anna"}
    ) as client:
        yield client


async def test_the_index_links_each_patient_to_todays_summary(web: httpx.AsyncClient) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "Patient/&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    [link] = re.findall(r'href="([^"]+)"', page.text)
    assert "day=2026-11-26" in link
    summary = await web.get("/" + link.replace("&amp;", "&"))
    assert summary.status_code == 200
    assert "Daily summary 2026-11-26" in summary.text
    assert "<td>1</td><td>1</td>" in page.text  # one active alert, not acknowledged


async def test_a_summary_page_is_escaped_and_allows_only_its_own_style(web: httpx.AsyncClient) -> None:
    page = await web.get("/patient", params={"ref": PLAN.patient, "day": "2026-11-25"})
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "<b>gain</b>" not in page.text
    assert "Weight &lt;b&gt;gain&lt;/b&gt; &gt; 2 kg" in page.text
    assert "<svg" in page.text  # the sparkline
    for name, value in SUMMARY_HEADERS.items():
        assert page.headers[name] == value
    [style] = re.findall(r"<style>(.*?)</style>", page.text)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers it
    assert page.headers["cache-control"] == "no-store"


async def test_refusals(web: httpx.AsyncClient) -> None:
    assert (
        await web.get("/patient", params={"ref": PLAN.patient}, headers={"x-staff": "x"})
    ).status_code == 401
    assert (await web.get("/", headers={"x-staff": ""})).status_code == 401
    unknown = await web.get("/patient", params={"ref": "Patient/<i>nobody</i>"})
    assert unknown.status_code == 404
    assert "Patient/&lt;i&gt;nobody&lt;/i&gt;" in unknown.text
    bad = await web.get("/patient", params={"ref": PLAN.patient, "day": "25.11.2026<b>"})
    assert bad.status_code == 400
    assert "25.11.2026&lt;b&gt;" in bad.text
    assert (await web.get("/patient", params={"ref": PLAN.patient})).status_code == 200  # today by default
