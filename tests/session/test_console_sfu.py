"""The console in a multi-party visit: Chromium as the physician, Firefox as the interpreter.

Everything is real: Debian's Janus (the ``janus`` fixture), headless Chromium driven by
Playwright, headless Firefox driven over WebDriver BiDi (the fixture of
``tests/_firefox.py``), the room a RoomPeer with synthetic devices. Both browsers
publish their fake camera and microphone through Janus.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests._firefox import Bidi, firefox  # noqa: F401 (the Firefox fixture)
from tests._system import require_system

from telemedroom import HeartRate
from telemedroom.session.peer import RoomPeer
from telemedroom.session.sfu import SfuConfig

from .conftest import CHROMIUM_FLAGS, Signaling, until

pytestmark = pytest.mark.requires_system

GRID = "#participants-grid figure"


@pytest.fixture
async def chromium_page(tmp_path: Path) -> AsyncIterator[Any]:
    """A page in a fresh headless Chromium profile of its own (Firefox's profile is ``profile``)."""
    chromium = require_system("chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": 1280, "height": 800},
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


async def test_physician_in_chromium_and_interpreter_in_firefox_share_a_visit(
    signaling_factory: Any,
    sfu_config: SfuConfig,
    chromium_page: Any,
    firefox: Bidi,  # noqa: F811
) -> None:
    page = chromium_page
    async with signaling_factory(sfu=sfu_config) as sig:
        sig: Signaling
        await page.goto(f"{sig.server.http_url}/console/#token={sig.token('physician', name='Dr. Weber')}")
        await until(page, "document.getElementById('status').textContent.startsWith('joined')")

        async with RoomPeer(sig.url(), sig.token("patient", name="Room Quarter 1")) as room:
            await page.locator(
                f'#waiting-list li[data-participant="{room.participant_id}"] button.admit'
            ).click(timeout=10_000)
            await room.wait_admitted(timeout=10)

            link = (
                f"{sig.server.http_url}/console/#token={sig.token('interpreter', 'int-7', name='Ayşe (TR)')}"
            )
            await firefox.command(
                "browsingContext.navigate", context=firefox.context, url=link, wait="complete"
            )
            await firefox.until("document.getElementById('status').textContent.startsWith('joined')")
            assert "Firefox" in await firefox.evaluate("navigator.userAgent")
            interpreter = page.locator('#waiting-list li:has-text("interpreter") button.admit')
            await interpreter.click(timeout=15_000)

            # Both see the room camera through Janus, as the main video.
            await until(page, "document.getElementById('remote').videoWidth === 640", timeout=60)
            await firefox.until("document.getElementById('remote').videoWidth === 640", timeout=60)
            # ...and each other: the physician's tile plays Firefox's camera, and the other way round.
            await until(
                page,
                f"[...document.querySelectorAll('{GRID}[data-role=\"interpreter\"] video')]"
                ".some(v => v.videoWidth > 0)",
                timeout=60,
            )
            await firefox.until(
                f"[...document.querySelectorAll('{GRID}[data-role=\"physician\"] video')]"
                ".some(v => v.videoWidth > 0)",
                timeout=60,
            )
            # The physician has the clinical room too (exam camera, stethoscope); the interpreter not.
            await until(page, f"document.querySelector('{GRID}[data-room=\"clinical\"]')", timeout=30)
            assert (
                await firefox.evaluate(f"document.querySelectorAll('{GRID}[data-room=\"clinical\"]').length")
                == 0
            )

            # The interpreter's view: no vitals, no exam controls.
            for section in ("vitals", "controls", "facial", "gallery"):
                shown = await firefox.evaluate(
                    f"getComputedStyle(document.getElementById('{section}')).display"
                )
                assert shown == "none", section
            assert (
                await page.evaluate("getComputedStyle(document.getElementById('vitals')).display") != "none"
            )

            # Vitals reach the physician's console, not the interpreter's.
            await room.send_measurement(HeartRate(bpm=77))
            await until(page, "document.querySelector('#vitals-list li.vital[data-kind=\"heart_rate\"]')")
            assert await firefox.evaluate("document.querySelectorAll('#vitals-list li').length") == 0

            # The owner's exam controls still work (control channel on a data-only link).
            await until(page, "!document.getElementById('stethoscope').disabled", timeout=30)
            await page.click("#stethoscope")
            async with asyncio.timeout(30):
                while not room.stethoscope_on:
                    await asyncio.sleep(0.05)  # the room's state has no event to await

            # The physician removes the interpreter: Firefox is told, Janus drops its feed.
            removed = page.locator('#participants-list li[data-role="interpreter"] button.remove')
            await removed.click(timeout=10_000)
            await firefox.until("document.getElementById('status').textContent.startsWith('removed')")
            await until(page, f"!document.querySelector('{GRID}[data-role=\"interpreter\"]')", timeout=60)
            # The visit goes on for the physician.

            start = await page.evaluate("document.getElementById('remote').currentTime")
            await until(page, f"document.getElementById('remote').currentTime > {start} + 0.5", timeout=30)
