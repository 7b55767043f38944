"""The booking page in real headless Chromium (Debian's package, driven by Playwright).

The whole journey (tests/booking/_flow.py) with the e-mail from the real SMTP server and
the check-in at a real Room's kiosk with the code read from the QR code (decoded by
zbarimg from a screenshot); then the kiosk's accessibility bar on every screen: WCAG 2.1
AA contrast computed, accessible names from Chromium's accessibility tree, keyboard only,
44 px targets, reflow to 320 px, and the browser's text size at 200 %.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests._system import require_system
from tests.kiosk.test_kiosk_chromium import accessible_names, contrast_script
from tests.session.conftest import browser_page, until  # noqa: F401 (browser_page is a fixture)

from . import _flow
from .conftest import Mailbox

pytestmark = pytest.mark.requires_system


# Chromium's role names for what a resident operates (the kiosk's list, with the booking page's links)
OPERABLE = {"button", "textbox", "link", "combobox", "checkbox", "radio", "image"}


async def unnamed(page: Any) -> list[str]:
    """Controls, links and images without an accessible name (the kiosk's check; pages of links too)."""
    nodes = await accessible_names(page)
    assert {"link", "button"} & {role for role, _ in nodes}, "the tree has no controls: wrong role names?"
    return [role for role, name in nodes if role in OPERABLE and not name]


class Chromium:
    """The flow's driver over a Playwright page."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def goto(self, url: str) -> None:
        await self.page.goto(url)

    async def evaluate(self, script: str) -> Any:
        return await self.page.evaluate(script)

    async def until(self, condition: str, timeout: float = 15) -> Any:
        return await until(self.page, condition, timeout=timeout)


async def qr_code_text(page: Any, tmp_path: Path) -> str:
    """What a camera reads from the QR code on screen (zbarimg on a screenshot)."""
    zbarimg = require_system("zbarimg")
    image = tmp_path / "qr.png"
    image.write_bytes(await page.locator("#qr svg").screenshot())
    process = await asyncio.create_subprocess_exec(
        zbarimg, "--quiet", "--raw", str(image), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, "zbarimg found no QR code"
    return out.decode().strip()


async def test_the_whole_journey_in_chromium(tmp_path: Path, mailbox: Mailbox, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    async with _flow.world(tmp_path, mailbox) as world:
        driver = Chromium(page)
        code = await _flow.whole_journey(driver, world)
        # the QR code on the manage page holds exactly the booking code
        assert await qr_code_text(page, tmp_path) == code
        # the calendar file downloads
        async with page.expect_download() as download:
            await page.click("#calendar")
        ics = Path(await (await download.value).path()).read_text()
        assert code in ics
        assert "BEGIN:VEVENT" in ics
        await _flow.check_in_at_the_kiosk(driver, world, code)
    # no CSP violation and no script error (the booking page has no script at all)
    assert not [v for v in violations if "Content Security Policy" in v or "Uncaught" in v], violations


# -- accessibility -------------------------------------------------------------------------


async def screens(page: Any, world: _flow.World, language: str) -> list[str]:
    """Visit every screen of a booking (with a form error on the way); returns the paths visited."""
    driver = Chromium(page)
    seen: list[str] = []

    async def note() -> None:
        seen.append(await page.evaluate("location.pathname"))
        yield_results.append(await page.evaluate(contrast_script()))
        assert await unnamed(page) == [], seen[-1]

    yield_results: list[Any] = []
    base = world.booking_url.replace("lang=de", f"lang={language}")
    await page.goto(base)
    await note()
    await _flow.click(driver, "#services a")
    await _flow.on_page(driver, "/booking/service/", ".times button")
    await note()
    await _flow.click(driver, ".times button")
    await _flow.on_page(driver, "/booking/hold/", "#details")
    await note()
    await _flow.fill(driver, {"name": "", "birth_date": "31.02.1950"})
    await _flow.click(driver, "#confirm")
    await _flow.on_page(driver, "/booking/hold/", "#problems")
    await note()
    await _flow.fill(
        driver, {"name": "Erika Mustermann", "birth_date": "01.04.1950", "email": "e@example.org"}
    )
    await page.evaluate("document.getElementById('consent').checked = true")
    await _flow.click(driver, "#confirm")
    await _flow.on_page(driver, "/booking/manage/", "#qr")
    await note()
    await _flow.click(driver, "#cancel")
    await _flow.on_page(driver, "/cancel", "#cancel-confirm")
    await note()
    for path in ("find", "privacy"):
        await page.goto(base.replace("/booking/?", f"/booking/{path}?"))
        await note()
    screens_checked.extend(item for result in yield_results for item in result)
    return seen


screens_checked: list[dict[str, Any]] = []


@pytest.mark.parametrize("language", ["de", "en"])
async def test_every_screen_meets_contrast_and_every_control_is_named(
    tmp_path: Path,
    mailbox: Mailbox,
    browser_page: Any,  # noqa: F811
    language: str,
) -> None:
    page = browser_page
    screens_checked.clear()
    async with _flow.world(tmp_path, mailbox) as world:
        seen = await screens(page, world, language)
        assert await page.get_attribute("html", "lang") == language
        # the QR code is an image named by its code; the error summary is an alert
    low = [c for c in screens_checked if c["ratio"] < c["needed"]]
    assert low == [], f"too little contrast on {seen}: {low}"
    assert len(screens_checked) > 60  # the walk really saw the texts
    assert len(seen) == 8


async def test_the_qr_code_and_the_form_errors_have_names(
    tmp_path: Path,
    mailbox: Mailbox,
    browser_page: Any,  # noqa: F811
) -> None:
    page = browser_page
    async with _flow.world(tmp_path, mailbox) as world:
        driver = Chromium(page)
        await page.goto(world.booking_url)
        await _flow.click(driver, "#services a")
        await _flow.on_page(driver, "/booking/service/", ".times button")
        await _flow.click(driver, ".times button")
        await _flow.on_page(driver, "/booking/hold/", "#details")
        await _flow.fill(driver, {"birth_date": "gestern"})
        await _flow.click(driver, "#confirm")
        await _flow.on_page(driver, "/booking/hold/", "#problems")
        names = await accessible_names(page)
        assert ("alert", "") in names or any(role == "alert" for role, _ in names)
        # each invalid field says so and says why (aria-describedby -> the error text)
        described = await page.evaluate(
            "[...document.querySelectorAll('[aria-invalid=true]')].map(e => [e.id,"
            " (e.getAttribute('aria-describedby') || '').split(' ').filter(Boolean)"
            ".map(id => document.getElementById(id).textContent).join(' ')])"
        )
        assert dict(described)["birth_date"].endswith("Bitte als Datum angeben, zum Beispiel 01.04.1950.")
        assert "name" in dict(described)
        await _flow.fill(driver, {"name": "Erika", "birth_date": "01.04.1950", "email": "e@example.org"})
        await page.evaluate("document.getElementById('consent').checked = true")
        await _flow.click(driver, "#confirm")
        await _flow.on_page(driver, "/booking/manage/", "#qr")
        code = await _flow.code_on(driver)
        assert ("image", f"QR-Code mit Ihrem Buchungscode {code}") in await accessible_names(page)


async def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the focus is on ``selector`` (keyboard only)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"document.activeElement.matches({_flow.js(selector)})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_a_resident_books_with_the_keyboard_only(
    tmp_path: Path,
    mailbox: Mailbox,
    browser_page: Any,  # noqa: F811
) -> None:
    page = browser_page
    async with _flow.world(tmp_path, mailbox) as world:
        await page.goto(world.booking_url)
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"  # skip link first
        await tab_to(page, "#services a")
        await page.keyboard.press("Enter")
        await _flow.on_page(Chromium(page), "/booking/service/", ".times button")
        await tab_to(page, ".times button")
        await page.keyboard.press("Enter")
        await _flow.on_page(Chromium(page), "/booking/hold/", "#details")
        await tab_to(page, "#name")
        await page.keyboard.type("Erika Mustermann")
        await tab_to(page, "#birth_date")
        await page.keyboard.type("01.04.1950")
        await tab_to(page, "#email")
        await page.keyboard.type("erika@example.org")
        await tab_to(page, "#consent")
        assert await page.evaluate("document.activeElement.id") == "consent"  # the honeypot is skipped
        await page.keyboard.press("Space")
        await tab_to(page, "#confirm")
        await page.keyboard.press("Enter")
        await _flow.on_page(Chromium(page), "/booking/manage/", "#code")
        # the focus is always visible: an outline on the focused control
        await tab_to(page, "#calendar")
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
        await mailbox.next()


TARGETS = (
    "[...document.querySelectorAll('a, button, input:not([type=hidden])')]"
    ".filter(e => e.checkVisibility() && !e.closest('.hp') && !e.closest('label')"
    " && e.getBoundingClientRect().right > 0)"
    ".map(e => { const r = e.getBoundingClientRect();"
    " return [e.id || e.textContent.trim().slice(0, 20), r.width, r.height]; })"
)
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


async def walk(page: Any, world: _flow.World, check: Any) -> int:
    """Run ``check`` on each screen of a booking; returns how many screens."""
    driver = Chromium(page)
    count = 0

    async def each() -> None:
        nonlocal count
        await check()
        count += 1

    await page.goto(world.booking_url)
    await each()
    await _flow.click(driver, "#services a")
    await _flow.on_page(driver, "/booking/service/", ".times button")
    await each()
    await _flow.click(driver, ".times button")
    await _flow.on_page(driver, "/booking/hold/", "#details")
    await each()
    await _flow.fill(
        driver, {"name": "Erika Mustermann", "birth_date": "01.04.1950", "email": "e@example.org"}
    )
    await page.evaluate("document.getElementById('consent').checked = true")
    await _flow.click(driver, "#confirm")
    await _flow.on_page(driver, "/booking/manage/", "#qr")
    await each()
    await world.mailbox.next()
    return count


async def test_every_target_is_at_least_44_px(tmp_path: Path, mailbox: Mailbox, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    small: list[Any] = []

    async def check() -> None:
        sizes = await page.evaluate(TARGETS)
        assert sizes
        small.extend(s for s in sizes if s[1] < 44 or s[2] < 44)

    async with _flow.world(tmp_path, mailbox) as world:
        assert await walk(page, world, check) == 4
    assert small == []


@pytest.mark.parametrize(("width", "height"), [(320, 640), (360, 800)])
async def test_the_page_reflows_to_a_narrow_phone(
    tmp_path: Path,
    mailbox: Mailbox,
    browser_page: Any,  # noqa: F811
    width: int,
    height: int,
) -> None:
    """No horizontal scrolling at 320 CSS px (WCAG 2.1 SC 1.4.10)."""
    page = browser_page
    await page.set_viewport_size({"width": width, "height": height})

    async def check() -> None:
        assert await page.evaluate(OVERFLOW) <= 0, await page.evaluate("location.pathname")

    async with _flow.world(tmp_path, mailbox) as world:
        assert await walk(page, world, check) == 4


async def test_the_browser_s_text_size_at_200_percent(
    tmp_path: Path,
    mailbox: Mailbox,
    browser_page: Any,  # noqa: F811
) -> None:
    """The browser's own text size (Chromium's default font size, as its settings set it) doubled.

    Every size on the page is in rem, so all text doubles; nothing may overflow
    sideways or be cut off at a tablet's width (WCAG 2.1 SC 1.4.4).
    """
    page = browser_page
    await page.set_viewport_size({"width": 768, "height": 1024})
    session = await page.context.new_cdp_session(page)
    await session.send("Page.enable")
    await session.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})

    async def check() -> None:
        size = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        assert size == pytest.approx(36)  # 1.125 rem of a 32 px default: twice the usual 18 px
        assert await page.evaluate(OVERFLOW) <= 0
        clipped = await page.evaluate(
            "[...document.querySelectorAll('main *')].filter(e => e.checkVisibility()"
            " && getComputedStyle(e).overflow !== 'visible' && e.scrollHeight > e.clientHeight + 1"
            " && !e.closest('.hp')).map(e => e.id || e.tagName)"
        )
        assert clipped == []

    async with _flow.world(tmp_path, mailbox) as world:
        assert await walk(page, world, check) == 4
