"""The kiosk page in real headless Chromium (Debian's package, driven by Playwright).

The room behind the page is ``ScriptedRoom`` (see conftest: real event models, real
``CheckInRefused``, real synthetic cameras over loopback WebRTC); the test publishes a
visit's events and checks what the patient sees and hears (the live region). With
TELEMEDROOM_UPDATE_DOCS_IMAGES=1 it writes the screenshots of docs/kiosk.md to
docs/images/kiosk-*.png (otherwise every run would change the tree).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.session.conftest import browser_page, until  # noqa: F401 (browser_page is a fixture)

from telemedroom._kiosk import TEXTS
from telemedroom.devices.media import MediaDevice, MediaSource, Role
from telemedroom.exams import step as protocol_step
from telemedroom.room import (
    Admitted,
    CleaningStarted,
    DeviceStep,
    ExamStep,
    ReadingTaken,
    RoomErrorEvent,
    RoomState,
    VisitWrappedUp,
    WaitingRoom,
)

from .conftest import BOOKING_CODE, Kiosk

pytestmark = pytest.mark.requires_system

IMAGES = Path(__file__).parents[2] / "docs" / "images"
# The screenshots docs/kiosk.md shows: (stage, language).
DOCS_SHOTS = {
    ("check-in", "de"),
    ("measuring", "de"),
    ("measuring", "en"),
    ("waiting", "de"),
    ("exam", "en"),
    ("exam", "de"),
    ("thank-you", "en"),
    ("cleaning", "de"),
}

# What the patient must read, literally, per language (not looked up in the table under test).
EXPECTED = {
    "de": {
        "welcome": "Willkommen",
        "unknown_code": "Diesen Buchungscode haben wir nicht gefunden.",
        "cuff": "Legen Sie die Manschette an",
        "attempt": "Versuch 2",
        "oximeter": "Stecken Sie den Sensor auf Ihren Finger",
        "measuring": "misst",
        "done": "fertig",
        "position": "Sie sind an Position 2.",
        "joined": "Dr. Weber ist jetzt für Sie da.",
        "smile": "Lächeln Sie bitte breit mit geöffnetem Mund, sodass man die Zähne sieht.",
        "capture": "Bitte stillhalten \N{EN DASH} Foto",
        "thanks": "Vielen Dank!",
        "counts": "Gespeicherte Messwerte: 3. Gespeicherte Fotos: 1.",
        "cleaning": "Wieder frei um 11:30 Uhr.",
        "error": "Etwas ist schiefgelaufen",
    },
    "en": {
        "welcome": "Willkommen",  # before check-in the page speaks the room's language (de)
        "unknown_code": "Diesen Buchungscode haben wir nicht gefunden.",
        "cuff": "Put on the cuff",
        "attempt": "Attempt 2",
        "oximeter": "Clip the sensor onto your finger",
        "measuring": "measuring",
        "done": "done",
        "position": "You are number 2 in line.",
        "joined": "Dr. Weber has joined.",
        "smile": "Smile broadly with your mouth open, showing your teeth.",
        "capture": "Hold still \N{EN DASH} photo now",
        "thanks": "Thank you!",
        "counts": "Readings saved: 3. Photos saved: 1.",
        "cleaning": "Available again at 11:30 AM.",
        "error": "Something went wrong",
    },
}


async def text(page: Any, selector: str) -> str:
    return str(await page.inner_text(selector))


async def shot(page: Any, stage: str, language: str) -> None:
    image = await page.screenshot()
    assert len(image) > 10_000
    if (stage, language) in DOCS_SHOTS and os.environ.get("TELEMEDROOM_UPDATE_DOCS_IMAGES"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        (IMAGES / f"kiosk-{stage}-{language}.png").write_bytes(image)


async def announced(page: Any, fragment: str) -> str:
    """Wait until the aria-live region says ``fragment``; return what it says."""
    return str(
        await until(
            page,
            f"document.getElementById('announce').textContent.includes({json.dumps(fragment)})"
            " && document.getElementById('announce').textContent",
        )
    )


async def shows(page: Any, selector: str, fragment: str) -> None:
    condition = (
        f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent"
        f"?.includes({json.dumps(fragment)})"
    )
    await until(page, condition)


async def plays(page: Any, video: str, width: int) -> None:
    """The video has frames of ``width`` and its time advances."""
    await until(page, f"document.getElementById('{video}').videoWidth === {width}", timeout=30)
    start = await page.evaluate(f"document.getElementById('{video}').currentTime")
    await until(page, f"document.getElementById('{video}').currentTime > {start} + 0.3", timeout=15)


@pytest.mark.parametrize("language", ["de", "en"])
async def test_a_visit_on_the_kiosk(kiosk: Kiosk, browser_page: Any, language: str) -> None:  # noqa: F811
    page, room, expect = browser_page, kiosk.room, EXPECTED[language]
    room.language = language
    # still screens for the screenshots (the animations are tested on their own below)
    await page.emulate_media(reduced_motion="reduce")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    await page.goto(kiosk.url)
    await until(page, "document.body.dataset.state === 'idle'")
    assert await text(page, "#welcome-title") == expect["welcome"]
    assert await page.get_attribute("html", "lang") == "de"
    await shot(page, "check-in", "de")

    # keyboard only: Tab reaches the code field, Enter checks in
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "language"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "code"
    await page.keyboard.type("WRONG-CODE")
    await page.keyboard.press("Enter")
    await shows(page, "#alert", expect["unknown_code"])
    assert await page.get_attribute("#code", "aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "code"
    await page.fill("#code", BOOKING_CODE)
    await page.keyboard.press("Enter")
    await until(page, "document.body.dataset.state === 'checked_in'")
    assert await page.get_attribute("html", "lang") == language  # the visit's language (CheckedIn)
    assert await page.input_value("#code") == ""  # the code does not stay on screen
    assert await page.locator("#devices li").count() == 2

    # measuring: the step, the live region and the progress of each device
    room.move(RoomState.MEASURING)
    cuff = {"device": "blood_pressure", "instruction": "put_on_cuff", "index": 0, "total": 2}
    room.publish(DeviceStep(status="measuring", attempt=1, **cuff))
    await shows(page, "#step-title", expect["cuff"])
    assert expect["cuff"] in await announced(page, expect["cuff"])
    assert await page.get_attribute("#devices li[data-device='blood_pressure']", "data-status") == "measuring"
    assert await text(page, "#devices li[data-device='blood_pressure'] .status") == expect["measuring"]
    assert await page.get_attribute("#devices li[data-device='blood_pressure']", "aria-current") == "step"
    room.publish(DeviceStep(status="failed", attempt=1, **cuff))
    await until(
        page,
        "document.querySelector(\"#devices li[data-device='blood_pressure']\").dataset.status === 'failed'",
    )
    room.publish(DeviceStep(status="measuring", attempt=2, **cuff))
    await shows(page, "#step-meta", expect["attempt"])
    room.publish(ReadingTaken(device="blood_pressure", measurement={"systolic": 128}, summary="128/82 mmHg"))
    room.publish(DeviceStep(status="done", attempt=2, **cuff))
    await shows(page, "#devices li[data-device='blood_pressure'] .summary", "128/82 mmHg")
    await shows(page, "#devices li[data-device='blood_pressure'] .status", expect["done"])
    oximeter = {"device": "pulse_oximeter", "instruction": "clip_oximeter", "index": 1, "total": 2}
    room.publish(DeviceStep(status="measuring", attempt=1, **oximeter))
    await shows(page, "#step-title", expect["oximeter"])
    await announced(page, expect["oximeter"])
    room.publish(ReadingTaken(device="pulse_oximeter", measurement={"spo2": 97}, summary="SpO₂ 97 %"))
    await shows(page, "#devices li[data-device='pulse_oximeter'] .summary", "SpO₂ 97 %")
    await shot(page, "measuring", language)
    room.publish(DeviceStep(status="done", attempt=1, **oximeter))

    # the waiting room: the position, and the self-view plays (loopback WebRTC)
    room.move(RoomState.WAITING)
    room.publish(WaitingRoom(position=2))
    await shows(page, "#video-text", expect["position"])
    await announced(page, expect["position"])
    await plays(page, "self-view", 640)
    assert await page.is_hidden("#physician-figure")
    await shot(page, "waiting", language)

    # admitted: the physician's video arrives too
    async with MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=320, height=240)) as doctor:
        room.physician_camera = doctor
        room.publish(Admitted(physician="Dr. Weber"))
        room.move(RoomState.IN_CONSULTATION)
        await announced(page, expect["joined"])
        await plays(page, "physician-video", 320)
        await plays(page, "self-view", 640)

        # the facial protocol: instruction, pictogram, countdown
        code = "smile-with-teeth"
        room.publish(ExamStep(step=code, index=5, total=8, countdown=3, phase="instruct"))
        await shows(page, "#exam-instruction", expect["smile"])
        await announced(page, expect["smile"])
        assert await page.get_attribute("#exam-pictogram-use", "href") == f"#face-{code}"
        assert await text(page, "#exam-step-title") == protocol_step(code).title[language]
        countdown = int(await text(page, "#exam-countdown"))
        assert 0 <= countdown <= 3
        assert (await text(page, "#exam-meta")).endswith(("6 von 8", "6 of 8"))
        # the pictogram renders (the <use> resolves to a drawing, not an empty box)
        box = await page.evaluate("document.getElementById('exam-pictogram-use').getBBox().width")
        assert box > 50
        await shot(page, "exam", language)
        room.publish(ExamStep(step=code, index=5, total=8, countdown=0, phase="capture"))
        await shows(page, "#exam-phase", expect["capture"])
        assert await text(page, "#exam-countdown") == ""

        # an error is said at once (role=alert), without details
        room.publish(RoomErrorEvent(state=RoomState.IN_CONSULTATION, message="exam camera lost"))
        await shows(page, "#alert", expect["error"])
        assert "exam camera" not in await text(page, "#alert")

        room.move(RoomState.WRAP_UP)
    await until(page, "document.getElementById('self-view').srcObject === null")  # video off after the visit
    room.publish(
        VisitWrappedUp(visit_id="visit-1", encounter_id="enc-1", observations=3, media=1, outbox_ids=[1])
    )
    await shows(page, "#wrap-counts", expect["counts"])
    assert await text(page, "#wrap-title") == expect["thanks"]
    assert await text(page, "#alert") == ""  # a new state clears the error
    await shot(page, "thank-you", language)

    local_until = datetime.now().astimezone().replace(hour=11, minute=30, second=0, microsecond=0)
    room.publish(CleaningStarted(until=local_until.astimezone(UTC)))
    room.move(RoomState.CLEANING)
    await shows(page, "#cleaning-text", expect["cleaning"])
    await announced(page, expect["cleaning"])
    assert await page.is_visible("#wrap-title")  # the thank-you stays while the room is cleaned
    await shot(page, "cleaning", language)

    # back to idle: the next patient starts in the room's language with an empty form
    room.visit_id = None
    room.move(RoomState.IDLE)
    await until(page, "document.body.dataset.state === 'idle'")
    assert await page.get_attribute("html", "lang") == "de"
    assert await page.locator("#devices li").count() == 0
    assert not [v for v in violations if "Content Security Policy" in v]


async def test_the_patient_can_switch_the_language(kiosk: Kiosk, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    await page.goto(kiosk.url)
    await until(page, "document.body.dataset.state === 'idle'")
    assert await text(page, "#language") == "English"
    await page.click("#language")
    await shows(page, "#welcome-title", "Welcome")
    assert await page.get_attribute("html", "lang") == "en"
    assert await text(page, "label[for=code]") == "Booking code"
    assert await text(page, "#language") == "Deutsch"
    # the patient's choice wins over the visit's language
    kiosk.room.language = "de"
    await page.fill("#code", BOOKING_CODE)
    await page.click("#check-in")
    await until(page, "document.body.dataset.state === 'checked_in'")
    assert await page.get_attribute("html", "lang") == "en"
    assert "You are checked in" in await text(page, "#step-title")


async def test_lang_in_the_address_picks_the_language(kiosk: Kiosk, browser_page: Any) -> None:  # noqa: F811
    await browser_page.goto(f"{kiosk.url}?lang=en")
    await shows(browser_page, "#welcome-title", "Welcome")
    await browser_page.goto(f"{kiosk.url}?lang=fr")  # not a language of the kiosk: the room's
    await shows(browser_page, "#welcome-title", "Willkommen")


async def test_a_dropped_connection_is_shown_and_resumed(kiosk: Kiosk, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    await page.goto(kiosk.url)
    await until(page, "document.body.dataset.state === 'idle'")
    assert await page.is_hidden("#connection")
    kiosk.room.unsubscribed.clear()
    kiosk.room.end_streams()  # the room's event stream ends: the socket closes (1001)
    await until(page, "!document.getElementById('connection').hidden")
    assert "Verbindung zum Raum unterbrochen" in await text(page, "#connection")
    await until(page, "document.getElementById('connection').hidden")  # the page reconnected
    assert kiosk.room.subscribers == 1


def contrast_script() -> str:
    """JavaScript: every visible text's contrast ratio against its effective background (WCAG 2.1 §1.4.3)."""
    return """
    (() => {
      const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
      const lum = ([r, g, b]) => {
        const lin = (v) => {
          v /= 255;
          return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        };
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
        if (!node.textContent.trim() || !el.checkVisibility() || el.closest('.visually-hidden')) continue;
        const style = getComputedStyle(el);
        const fg = parse(style.color).slice(0, 3);
        const [a, b] = [lum(fg), lum(background(el))];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
        results.push({ text: node.textContent.trim().slice(0, 40), ratio, needed: large ? 3 : 4.5 });
      }
      return results;
    })()
    """


async def accessible_names(page: Any) -> list[tuple[str, str]]:
    """(role, accessible name) of every node Chromium exposes, as it computes them."""
    session = await page.context.new_cdp_session(page)
    tree = await session.send("Accessibility.getFullAXTree")
    return [
        (node.get("role", {}).get("value", ""), str(node.get("name", {}).get("value", "")).strip())
        for node in tree["nodes"]
        if not node.get("ignored")
    ]


async def unlabelled_controls(page: Any) -> list[str]:
    """Controls (and images) whose accessible name is empty."""
    named = {"button", "textbox", "link", "combobox", "checkbox", "radio", "image"}  # Chromium's role names
    nodes = await accessible_names(page)
    assert {"button", "textbox"} & {role for role, _ in nodes}, "the tree has no controls: wrong role names?"
    return [role for role, name in nodes if role in named and not name]


@pytest.mark.parametrize("language", ["de", "en"])
async def test_every_screen_meets_contrast_and_every_control_is_labelled(
    kiosk: Kiosk,
    browser_page: Any,  # noqa: F811
    language: str,
) -> None:
    page, room = browser_page, kiosk.room
    room.language = language
    await page.goto(f"{kiosk.url}?lang={language}")
    await until(page, "document.body.dataset.state === 'idle'")
    room.refuse_next = "not_now"
    await page.fill("#code", "SOMETHING")
    await page.click("#check-in")
    await shows(page, "#alert", TEXTS[language]["rejected_not_now"])
    screens = ["idle with an alert"]
    checked: list[dict[str, Any]] = list(await page.evaluate(contrast_script()))
    assert await unlabelled_controls(page) == []
    room.refuse_next = None
    await page.fill("#code", BOOKING_CODE)
    await page.click("#check-in")
    await until(page, "document.body.dataset.state === 'checked_in'")
    room.move(RoomState.MEASURING)
    # every device status on screen at once
    room.devices.extend(["thermometer", "scale"])
    for index, (device, status) in enumerate(
        [
            ("blood_pressure", "done"),
            ("pulse_oximeter", "failed"),
            ("thermometer", "measuring"),
            ("scale", "skipped"),
        ]
    ):
        room.publish(
            DeviceStep(
                device=device, status=status, attempt=1, instruction="put_on_cuff", index=index, total=4
            )
        )  # type: ignore[arg-type]
    room.publish(ReadingTaken(device="blood_pressure", measurement={}, summary="128/82 mmHg"))
    await shows(page, "#devices li[data-device='blood_pressure'] .summary", "128/82 mmHg")
    await until(page, "document.querySelectorAll('#devices li').length === 4")
    screens.append("measuring")
    checked += await page.evaluate(contrast_script())
    assert await unlabelled_controls(page) == []
    assert await page.get_attribute("#devices", "aria-label") == TEXTS[language]["progress_label"]
    room.move(RoomState.IN_CONSULTATION)
    room.publish(ExamStep(step="puff-cheeks", index=7, total=8, countdown=2, phase="instruct"))
    await shows(page, "#exam-instruction", TEXTS[language]["exam_puff-cheeks"])
    screens.append("exam")
    checked += await page.evaluate(contrast_script())
    assert await unlabelled_controls(page) == []
    # the pictogram is an image named by its step's title
    assert ("image", TEXTS[language]["exam_puff-cheeks_title"]) in await accessible_names(page)

    # step changes are said by a polite live region that keeps each message (a log)
    assert await page.get_attribute("#announce", "aria-live") == "polite"
    assert await page.get_attribute("#announce", "role") == "log"
    assert await page.get_attribute("#alert", "role") == "alert"

    low = [c for c in checked if c["ratio"] < c["needed"]]
    assert low == [], f"too little contrast on {screens}: {low}"
    assert len(checked) > 20  # the walk really saw the texts

    # big touch targets: every control at least 44 x 44 CSS pixels (WCAG 2.1 §2.5.5)
    await page.evaluate("document.body.dataset.state = 'idle'")
    room.move(RoomState.IDLE)
    await until(page, "!document.getElementById('screen-idle').hidden")
    sizes = await page.evaluate(
        "[...document.querySelectorAll('button, input')].filter(e => e.checkVisibility())"
        ".map(e => { const r = e.getBoundingClientRect(); return [e.id, r.width, r.height]; })"
    )
    assert {s[0] for s in sizes} == {"language", "code", "check-in"}
    assert all(width >= 44 and height >= 44 for _, width, height in sizes), sizes


async def test_reduced_motion_turns_the_animations_off(kiosk: Kiosk, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    style = (
        "[getComputedStyle(document.getElementById('screen-idle')).animationName,"
        " getComputedStyle(document.getElementById('check-in')).transitionDuration]"
    )
    await page.goto(kiosk.url)
    await until(page, "document.body.dataset.state === 'idle'")
    animation, transition = await page.evaluate(style)
    assert animation == "appear"
    assert transition != "0s"
    await page.emulate_media(reduced_motion="reduce")
    assert await page.evaluate(style) == ["none", "0s"]


@pytest.mark.parametrize(("width", "height"), [(800, 1280), (360, 640)])
async def test_the_page_reflows_on_a_portrait_or_small_screen(
    kiosk: Kiosk,
    browser_page: Any,  # noqa: F811
    width: int,
    height: int,
) -> None:
    """No horizontal scrolling on a portrait kiosk or a phone-sized window (WCAG 2.1 SC 1.4.10)."""
    page, room = browser_page, kiosk.room
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(kiosk.url)
    await until(page, "document.body.dataset.state === 'idle'")
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    # what overflows, for the failure message (the visually hidden live region is 1 px wide)
    wide = (
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 1)"
        ".map(e => [e.id || e.className || e.tagName, e.scrollWidth, e.clientWidth])"
    )
    assert await page.evaluate(overflow) <= 0, await page.evaluate(wide)
    await page.fill("#code", BOOKING_CODE)
    await page.click("#check-in")
    await until(page, "document.body.dataset.state === 'checked_in'")
    room.move(RoomState.MEASURING)
    room.publish(
        DeviceStep(
            device="pulse_oximeter",
            status="measuring",
            attempt=2,
            instruction="clip_oximeter",
            index=1,
            total=2,
        )
    )
    await shows(page, "#step-title", "Stecken Sie den Sensor auf Ihren Finger")
    assert await page.evaluate(overflow) <= 0, await page.evaluate(wide)
    room.move(RoomState.IN_CONSULTATION)
    room.publish(ExamStep(step="close-eyes-tightly", index=3, total=8, countdown=3, phase="instruct"))
    await shows(page, "#exam-instruction", "Kneifen Sie bitte die Augen so fest wie möglich zu.")
    assert await page.evaluate(overflow) <= 0, await page.evaluate(wide)
