"""The kiosk page in headless Chromium in front of a real Room.

Everything is real but the edges: the Bluetooth radio is BumbleBackend (bumble virtual
controllers, real GATT bytes: a fake radio), the physician is the scripted PhysicianPeer
(a headless aiortc client that sends no camera, so the page shows no physician video
here; tests/kiosk/test_kiosk_chromium.py covers it), the FHIR record goes to NDJSON files.
The patient types the booking code into the page; the room measures, waits, consults,
wraps up and cleans, and the page follows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests._system import require_system
from tests.room.conftest import data_dir, devices_for, make_config  # noqa: F401 (data_dir is a fixture)
from tests.session.conftest import CHROMIUM_FLAGS, browser_page, until  # noqa: F401 (browser_page is a fixture)

from telemedroom._kiosk import close_kiosk, create_kiosk_app
from telemedroom.devices.media import MediaSource, Role
from telemedroom.room import Room, RoomState
from telemedroom.session.peer import PhysicianPeer
from telemedroom.session.signaling import LocalServer
from telemedroom.testing import BumbleBackend

pytestmark = pytest.mark.requires_system

KINDS = ("blood_pressure", "pulse_oximeter")


async def shows(page: Any, selector: str, fragment: str, timeout: float = 15) -> None:
    condition = (
        f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent"
        f"?.includes({json.dumps(fragment)})"
    )
    await until(page, condition, timeout=timeout)


async def test_a_real_room_drives_the_kiosk_page(data_dir: Path, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    await page.emulate_media(reduced_motion="reduce")
    async with BumbleBackend() as radio:
        for device in devices_for(KINDS):
            await radio.add(device)
        config = make_config(data_dir, KINDS, language="en")
        async with Room(config, ble_backend=radio) as room:
            app = create_kiosk_app(room, language=config.language)
            try:
                async with LocalServer(app) as server:
                    await page.goto(f"{server.http_url}/kiosk/")
                    await until(page, "document.body.dataset.state === 'idle'")
                    assert await page.inner_text("#welcome-title") == "Welcome"

                    appointment = await room.book_walk_in("pat-kiosk")
                    await page.fill("#code", "NOT-A-CODE")
                    await page.click("#check-in")
                    await shows(page, "#alert", "We could not find this booking code.")
                    await page.fill("#code", appointment.booking_code)
                    await page.click("#check-in")
                    await until(page, "document.body.dataset.state === 'checked_in'")
                    assert room.state is RoomState.CHECKED_IN
                    assert await page.locator("#devices li").count() == 2

                    readings = await room.measure()
                    await until(page, "document.body.dataset.state === 'waiting'")
                    await shows(page, "#devices li[data-device='blood_pressure'] .summary", "128/82")
                    statuses = await page.evaluate(
                        "[...document.querySelectorAll('#devices li')].map(li => li.dataset.status)"
                    )
                    assert statuses == ["done", "done"]
                    assert len(readings) == 2
                    # the self-view: the room camera's subscription, over loopback WebRTC
                    await until(page, "document.getElementById('self-view').videoWidth === 640", timeout=30)

                    url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
                    async with PhysicianPeer(url, token, auto_admit=True):
                        await room.wait_for_physician(timeout=30)
                        await until(page, "document.body.dataset.state === 'in_consultation'")
                        await shows(page, "#announce", "has joined")
                        await room.take_snapshot("exam", step="rest")
                        summary = await room.end_consultation()
                    await room.wait_idle()
                    await until(page, "document.body.dataset.state === 'idle'", timeout=30)
                    # wrap-up and cleaning passed in an instant here (no cleaning buffer): the
                    # live region still said them
                    said = await page.inner_text("#announce")
                    assert f"Readings saved: {summary.observations}. Photos saved: {summary.media}." in said
                    assert "Welcome" in said
                    assert await page.input_value("#code") == ""
            finally:
                await close_kiosk(app)
    assert app.state.kiosk.peers.open == 0


@asynccontextmanager
async def kiosk_browser(tmp_path: Path, autoplay_policy: str) -> AsyncIterator[Any]:
    """A page in headless Chromium with the given ``--autoplay-policy`` (the kiosk's: docs/kiosk.md)."""
    chromium = require_system("chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--autoplay-policy={autoplay_policy}"],
            viewport={"width": 1280, "height": 800},
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


async def hears(page: Any, audio_id: str) -> None:
    """The page plays the ``<audio>`` element's remote voice: not paused, time advancing, track live."""
    audio = f"document.getElementById('{audio_id}')"
    await until(page, f"{audio}.srcObject && !{audio}.paused", timeout=30)
    start = await page.evaluate(f"{audio}.currentTime")
    await until(page, f"{audio}.currentTime > {start} + 0.5", timeout=15)
    assert await page.evaluate(f"{audio}.srcObject.getAudioTracks()[0].readyState") == "live"


async def test_the_page_plays_the_physicians_voice(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    """The physician is the scripted PhysicianPeer (headless aiortc) sending a 440 Hz tone."""
    config = make_config(data_dir, [], language="en")
    async with kiosk_browser(tmp_path, "no-user-gesture-required") as page, Room(config) as room:
        app = create_kiosk_app(room, language=config.language)
        try:
            async with LocalServer(app) as server:
                await page.goto(f"{server.http_url}/kiosk/")
                await until(page, "document.body.dataset.state === 'idle'")
                appointment = await room.book_walk_in("pat-voice")
                await page.fill("#code", appointment.booking_code)
                await page.click("#check-in")
                await until(page, "document.body.dataset.state === 'checked_in'")
                await room.measure()
                url, token = room.visit_url(appointment.id), room.physician_token(appointment.id)
                microphone = MediaSource.synthetic(Role.MICROPHONE)
                async with PhysicianPeer(url, token, auto_admit=True, microphone=microphone):
                    await room.wait_for_physician(timeout=30)
                    await until(page, "document.body.dataset.state === 'in_consultation'")
                    await hears(page, "physician-audio")
                    assert await page.is_hidden("#hear-physician")  # autoplay allowed: no tap needed
                    await room.end_consultation()
                await room.wait_idle()
        finally:
            await close_kiosk(app)
