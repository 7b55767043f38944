"""The patient's screen in headless Chromium: the day's plan, a reading arriving live, an
alert, the ward calling and the patient answering; contrast, names, targets, motion.

The apartment, the clinic's signaling server and the nurse (a scripted PhysicianPeer)
are real (see ``test_ward.py``); the page is served on loopback as ``apartment serve`` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.apartment.test_ward import the_call, ward_and_apartment
from tests.kiosk.test_kiosk_chromium import contrast_script, plays, shows, unlabelled_controls
from tests.kiosk.test_kiosk_room_chromium import hears, kiosk_browser
from tests.session.conftest import browser_page, until  # noqa: F401 (browser_page is a fixture)

from telemedroom import BloodPressure, BodyWeight
from telemedroom.apartment._screen import close_screen, screen_app
from telemedroom.apartment._texts import TEXTS
from telemedroom.devices.media import MediaSource, Role
from telemedroom.session.peer import PhysicianPeer
from telemedroom.session.signaling import LocalServer


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[LocalServer]:
    """The screen on loopback (LocalServer runs no lifespan: its video connections are closed here)."""
    try:
        async with LocalServer(app) as server:
            yield server
    finally:
        await close_screen(app)


@pytest.mark.parametrize("language", ["de", "en"])
async def test_a_day_on_the_screen(tmp_path: Path, browser_page: Any, language: str) -> None:  # noqa: F811
    page, texts = browser_page, TEXTS[language]
    checked: list[dict[str, Any]] = []
    async with (
        ward_and_apartment(tmp_path) as (apartment, url, token),
        served(screen_app(apartment)) as server,
    ):
        await page.emulate_media(reduced_motion="reduce")
        await page.goto(f"{server.http_url}/screen/?lang={language}")
        await shows(page, "#today", texts["plan_body_weight"])
        await shows(page, "#today", texts["plan_open"])
        await shows(page, "#readings", texts["readings_empty"])
        assert await page.evaluate("document.documentElement.lang") == language
        checked += await page.evaluate(contrast_script())
        assert await unlabelled_controls(page) == []

        # the patient steps on the scale: the reading appears live, the plan is done
        assert await apartment.accept(BodyWeight(value=81.2, measured_at=datetime.now(UTC)))
        await shows(page, "#readings", "81.2 kg" if language == "en" else "81,2 kg")
        await shows(page, "#today", texts["plan_done"])
        await shows(page, "#announce", texts["announce_reading"].format(kind=texts["kind_body_weight"]))

        # a blood pressure the care plan says to call about: a large warning
        assert await apartment.accept(
            BloodPressure(systolic=186, diastolic=101, measured_at=datetime.now(UTC))
        )
        await shows(page, "#warnings", texts["warning_call"])
        assert await page.is_visible("#warnings")
        assert await page.is_visible("#call-ward")
        checked += await page.evaluate(contrast_script())

        # the ward calls: the screen rings, the patient answers, then hangs up
        async with PhysicianPeer(url, token) as nurse:
            await nurse.admit((await nurse.next_waiting()).id)
            await shows(page, "#call-status", texts["call_ringing"])
            await until(page, "document.activeElement && document.activeElement.id === 'call-accept'")
            assert (
                await page.evaluate("getComputedStyle(document.getElementById('call')).animationName")
                == "none"
            )
            checked += await page.evaluate(contrast_script())
            assert await unlabelled_controls(page) == []
            sizes = await page.evaluate(
                "[...document.querySelectorAll('button')].filter(e => e.checkVisibility())"
                ".map(e => { const r = e.getBoundingClientRect(); return [e.id, r.width, r.height]; })"
            )
            assert {s[0] for s in sizes} == {"language", "call-accept", "call-decline"}
            assert all(width >= 44 and height >= 44 for _, width, height in sizes), sizes
            await page.click("#call-accept")
            await shows(page, "#call-status", texts["call_calling"])
            await nurse.admit(await the_call(nurse))
            await shows(page, "#call-status", texts["call_in_call"])
            await page.click("#call-hang-up")
            await shows(page, "#call-status", texts["call_idle"])
        # the other language, by the button
        await page.click("#language")
        other = TEXTS["en" if language == "de" else "de"]
        await shows(page, "h1", other["title"])
    low = [c for c in checked if c["ratio"] < c["needed"]]
    assert low == [], low
    assert len(checked) > 15  # the walk really saw the texts


async def test_a_call_shows_the_ward_and_plays_its_voice(tmp_path: Path) -> None:
    """The nurse (a scripted PhysicianPeer, headless aiortc) sends a 320x240 camera and a tone.

    The page is the patient's screen in headless Chromium started with autoplay allowed, as
    the tablet's kiosk browser is (docs/apartment.md); the apartment's own camera is the
    synthetic 640x480 test pattern of ``[ward] camera = "synthetic"``.
    """
    nurse_camera = MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240)
    nurse_voice = MediaSource.synthetic(Role.MICROPHONE)
    async with (
        kiosk_browser(tmp_path, "no-user-gesture-required") as page,
        ward_and_apartment(tmp_path) as (apartment, url, token),
        served(screen_app(apartment)) as server,
        PhysicianPeer(url, token, camera=nurse_camera, microphone=nurse_voice) as nurse,
    ):
        await page.goto(f"{server.http_url}/screen/?lang=en")
        await shows(page, "#call-status", TEXTS["en"]["call_idle"])
        assert await page.is_hidden("#videos")  # no camera in standby
        await page.click("#call-ward")
        await shows(page, "#call-status", TEXTS["en"]["call_calling"])
        await plays(page, "self-view", 640)  # the patient sees themself while the ward answers
        await nurse.admit(await the_call(nurse))
        await shows(page, "#call-status", TEXTS["en"]["call_in_call"])
        assert (await nurse.first_video_frame(timeout=60)).width == 640  # the ward sees the patient
        await plays(page, "ward-video", 320)  # ... and the patient the ward
        await hears(page, "ward-audio")
        assert await page.is_hidden("#hear-ward")  # autoplay allowed: no tap needed
        assert await unlabelled_controls(page) == []
        assert apartment.ward is not None
        camera = apartment.ward._media["room"]
        await page.click("#call-hang-up")
        await shows(page, "#call-status", TEXTS["en"]["call_idle"])
        await until(page, "document.getElementById('videos').hidden")
        await until(page, "document.getElementById('ward-video').srcObject === null")
        assert camera.closed  # the tablet's camera is open only during a call
