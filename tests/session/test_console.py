"""The physician console in real headless Chromium (Debian's package, driven by Playwright).

The physician is the browser; the room is a real RoomPeer fed by a virtual
blood-pressure cuff (a bumble GATT server on an in-memory radio: a fake radio only).
The test takes the screenshot the session guide shows; with TELEMEDROOM_UPDATE_DOCS_IMAGES=1
it also writes it to docs/images/console.png (otherwise every run would change the tree).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.session.peer import RoomPeer
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff

from .conftest import Signaling, until

pytestmark = pytest.mark.requires_system

SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "console.png"


async def test_physician_admits_the_room_sees_video_and_the_cuff_reading(
    signaling: Signaling, radio: BumbleBackend, browser_page: Any
) -> None:
    page = browser_page
    reading = BloodPressure(
        systolic=128,
        diastolic=82,
        mean_arterial=97,
        pulse_rate=66,
        measured_at=datetime.now(UTC).replace(microsecond=0),
    )
    cuff = await radio.add(VirtualBloodPressureCuff([reading]))
    link = f"{signaling.server.http_url}/console/#token={signaling.token('physician', name='Dr. Weber')}"
    await page.goto(link)
    await until(page, "document.getElementById('status').textContent.startsWith('joined')")

    async with RoomPeer(signaling.url(), signaling.token("patient", name="Room Quarter 1")) as room:
        admit = page.locator(f'#waiting-list li[data-participant="{room.participant_id}"] button.admit')
        await admit.click(timeout=10_000)
        await room.wait_admitted(timeout=10)
        await room.wait_connected(timeout=30)

        # the remote video plays: it has a size and its time advances
        await until(page, "document.getElementById('remote').videoWidth > 0", timeout=30)
        width = await page.evaluate("document.getElementById('remote').videoWidth")
        assert width == 640
        start = await page.evaluate("document.getElementById('remote').currentTime")
        await until(page, f"document.getElementById('remote').currentTime > {start} + 0.5")

        # the cuff's reading appears in the vitals panel
        async with DeviceManager(backend=radio) as manager, await manager.connect(cuff.address) as connection:
            forwarding = asyncio.create_task(room.forward(connection.measurements()))
            vital = page.locator('#vitals-list li.vital[data-kind="blood_pressure"]')
            await vital.first.wait_for(timeout=15_000)
            forwarding.cancel()
        assert await vital.first.get_attribute("data-value") == "128/82"
        text = await vital.first.inner_text()
        assert "pulse 66 /min" in text
        assert "Acme Medical BP-7" in text

        # the DTLS fingerprint on screen is the room's
        assert await page.inner_text("#remote-fingerprint") == room.fingerprint

        # a snapshot from the exam camera lands in the gallery and in the room's record
        await page.click("#snapshot")
        image = page.locator("#snapshots img")
        await image.first.wait_for(timeout=15_000)
        await until(page, "document.querySelector('#snapshots img').naturalWidth === 1920")
        assert len(room.snapshots) == 1

        shot = await page.screenshot()
        assert len(shot) > 10_000
        if os.environ.get("TELEMEDROOM_UPDATE_DOCS_IMAGES"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            SCREENSHOT.write_bytes(shot)

        await page.click("#end")
        async with asyncio.timeout(10):
            await room.ended.wait()


async def test_the_page_runs_under_its_content_security_policy(
    signaling: Signaling, browser_page: Any
) -> None:
    violations: list[str] = []
    browser_page.on("console", lambda message: violations.append(message.text))
    await browser_page.goto(f"{signaling.server.http_url}/console/#token={signaling.token('physician')}")
    await until(browser_page, "document.getElementById('status').textContent.startsWith('joined')")
    assert not [text for text in violations if "Content Security Policy" in text]


async def test_the_console_without_a_token_says_what_to_do(signaling: Signaling, browser_page: Any) -> None:
    await browser_page.goto(f"{signaling.server.http_url}/console/")
    # the page sets its status once its texts are loaded (after "load"): wait for it
    await until(browser_page, "document.getElementById('status').textContent.includes('join token')")
    assert "join token" in await browser_page.inner_text("#status")
