"""The physician console in German and English, with units as people write them.

Real headless Chromium (Debian's package, driven by Playwright) in a browser whose
language is German, English or neither; the room is a real RoomPeer that sends
readings over the data channel (no Bluetooth: the readings are made here).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests._system import require_system

from telemedroom import BloodGlucose, BloodPressure, BodyTemperature, BodyWeight, HeartRate, OxygenSaturation
from telemedroom._chromium import CHROMIUM_FLAGS
from telemedroom._units import DISPLAY_UNITS
from telemedroom.session.peer import RoomPeer

from .conftest import Signaling, until

TEXTS_JSON = Path(__file__).parents[2] / "src" / "telemedroom" / "session" / "console" / "texts.json"
TEXTS = json.loads(TEXTS_JSON.read_text())
AT = datetime.now(UTC).replace(microsecond=0)
# one reading of every kind, in units whose UCUM code is not what a person writes
READINGS = [
    BloodPressure(systolic=128, diastolic=82, pulse_rate=66, measured_at=AT),
    BodyTemperature(value=36.8, measured_at=AT),
    BodyTemperature(value=98.2, unit="[degF]", measured_at=AT),
    BodyWeight(value=159.6, unit="[lb_av]", bmi=22.9, measured_at=AT),
    BloodGlucose(value=5.8, unit="mmol/L", sequence_number=1, measured_at=AT),
    HeartRate(bpm=61, measured_at=AT),
    OxygenSaturation(spo2_percent=97, pulse_rate=65, measured_at=AT),
]


def test_the_console_has_every_text_in_both_languages_and_the_python_unit_table() -> None:
    assert set(TEXTS["languages"]) == set(TEXTS["texts"]) == {"de", "en"}
    assert sorted(TEXTS["texts"]["de"]) == sorted(TEXTS["texts"]["en"])
    assert TEXTS["units"] == dict(DISPLAY_UNITS)  # the console and Python write units alike
    # every key the page and the script use is in the table
    index = (TEXTS_JSON.parent / "index.html").read_text()
    script = (TEXTS_JSON.parent / "console.js").read_text()
    used = set(re.findall(r'data-t(?:-aria-label)?="([a-z_]+)"', index))
    used |= set(re.findall(r'\bt\("([a-z_]+)"', script))
    assert used, "no keys found: wrong patterns?"
    assert used <= set(TEXTS["texts"]["en"]), used - set(TEXTS["texts"]["en"])


@pytest.fixture
def chromium(tmp_path: Path) -> Callable[[str], AbstractAsyncContextManager[Any]]:
    """``chromium(locale)``: a page in a fresh headless Chromium whose language is ``locale``."""
    executable = require_system("chromium")

    @asynccontextmanager
    async def open_page(locale: str) -> AsyncIterator[Any]:
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / f"profile-{locale}"),
                executable_path=executable,
                headless=True,
                args=list(CHROMIUM_FLAGS),
                viewport={"width": 1280, "height": 900},
                locale=locale,
            )
            try:
                yield context.pages[0] if context.pages else await context.new_page()
            finally:
                await context.close()

    return open_page


CONTRAST = """
(() => {
  // WCAG 2.1 §1.4.3: every visible text against its effective background; disabled
  // controls are exempt ("part of an inactive user interface component").
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const results = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el.checkVisibility() || el.closest(":disabled")) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(parse(style.color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    results.push({ text: node.textContent.trim().slice(0, 40), ratio, needed: large ? 3 : 4.5 });
  }
  return results;
})()
"""


async def accessibility_problems(page: Any) -> list[str]:
    """Texts with too little contrast and controls (or images) without an accessible name."""
    checked = await page.evaluate(CONTRAST)
    assert len(checked) > 15  # the walk really saw the texts
    problems = [
        f"contrast {c['ratio']:.2f} < {c['needed']}: {c['text']!r}"
        for c in checked
        if c["ratio"] < c["needed"]
    ]
    session = await page.context.new_cdp_session(page)
    tree = await session.send("Accessibility.getFullAXTree")
    named = {"button", "textbox", "link", "combobox", "checkbox", "radio", "image"}  # Chromium's role names
    for node in tree["nodes"]:
        role = node.get("role", {}).get("value", "")
        if (
            not node.get("ignored")
            and role in named
            and not str(node.get("name", {}).get("value", "")).strip()
        ):
            problems.append(f"a {role} without a name")
    return problems


@pytest.mark.requires_system
@pytest.mark.parametrize(("locale", "language"), [("de-DE", "de"), ("en-GB", "en"), ("fr-FR", "en")])
async def test_the_console_speaks_the_browsers_language_with_units_for_people(
    signaling: Signaling,
    chromium: Callable[[str], AbstractAsyncContextManager[Any]],
    locale: str,
    language: str,
) -> None:
    texts, other = TEXTS["texts"][language], TEXTS["texts"]["en" if language == "de" else "de"]
    async with chromium(locale) as page:
        await page.goto(
            f"{signaling.server.http_url}/console/#token={signaling.token('physician', name='Dr. Weber')}"
        )
        await until(page, "document.body.dataset.joined === 'physician'")
        assert await page.get_attribute("html", "lang") == language
        assert await page.title() == texts["page_title"]
        assert await page.inner_text("#end") == texts["end_visit"]
        assert await page.text_content("#vitals-title") == texts["live_vitals"]  # CSS sets its case
        assert await page.get_attribute("#video-area", "aria-label") == texts["video"]
        assert (await page.inner_text("#status")).startswith(texts["joined"].split("{")[0])

        async with RoomPeer(signaling.url(), signaling.token("patient", name="Room Quarter 1")) as room:
            entry = page.locator(f'#waiting-list li[data-participant="{room.participant_id}"]')
            await entry.locator("button.admit").wait_for(timeout=15_000)
            assert await entry.locator("button.admit").inner_text() == texts["admit"]
            assert await entry.locator("button.deny").inner_text() == texts["deny"]
            waiting_problems = await accessibility_problems(page)
            await entry.locator("button.admit").click()
            await room.wait_admitted(timeout=10)
            await room.wait_connected(timeout=30)
            await until(page, "!document.getElementById('snapshot').disabled", timeout=30)
            for reading in READINGS:
                await room.send_measurement(reading)
            await until(
                page, f"document.querySelectorAll('#vitals-list li.vital').length === {len(READINGS)}"
            )
            shown = await page.evaluate(
                "[...document.querySelectorAll('#vitals-list li.vital')].reverse().map(li => ["
                "li.children[0].textContent, li.querySelector('.value').textContent,"
                " li.querySelector('.unit').textContent, li.querySelector('.meta').textContent])"
            )
            consultation_problems = await accessibility_problems(page)
            body = await page.evaluate("document.body.textContent")  # hidden parts too
            await page.click("#end")
            async with asyncio.timeout(10):
                await room.ended.wait()

    comma = "," if language == "de" else "."
    assert [(title, value, unit) for title, value, unit, _ in shown] == [
        (texts["kind_blood_pressure"], "128/82", "mmHg"),
        (texts["kind_body_temperature"], f"36{comma}8", "°C"),
        (texts["kind_body_temperature"], f"98{comma}2", "°F"),
        (texts["kind_body_weight"], f"159{comma}6", "lb"),
        (texts["kind_blood_glucose"], f"5{comma}8", "mmol/L"),
        (texts["kind_heart_rate"], "61", "/min"),
        (texts["kind_oxygen_saturation"], "97", "%"),
    ]
    assert shown[0][3].startswith(texts["pulse"].format(value="66"))
    assert shown[3][3].startswith(texts["bmi"].format(value=f"22{comma}9"))
    # UCUM codes are for machines: none is on the screen
    for code in DISPLAY_UNITS:
        assert code not in body
    # nothing of the other language is left on the screen (texts that differ between the two)
    leftovers = [
        text
        for key, text in other.items()
        if text != texts[key] and len(text) > 4 and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", body)
    ]
    assert leftovers == []
    assert waiting_problems == []
    assert consultation_problems == []
