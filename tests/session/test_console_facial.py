"""The console's facial exam panel in real headless Chromium (Debian's package, driven by Playwright).

The physician is the browser; the room is a real RoomPeer whose exam camera is synthetic
(colour bars at 1280x960, so the stills' size is the source's, not the 640x360 of the
main video). Its FHIR sink is a list (the outbox is tested on its own). With
TELEMEDROOM_UPDATE_DOCS_IMAGES=1 the test writes the screenshot the facial-exam guide
shows to docs/images/facial-exam.png.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from telemedroom.devices.media import MediaDevice, MediaSource, Role
from telemedroom.exams import EXPRESSIONS, PROTOCOL, RESTING_ITEMS, SunnybrookGrading, step_media
from telemedroom.session.peer import FacialExamContext, RoomPeer

from .conftest import Signaling, until

pytestmark = pytest.mark.requires_system

SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "facial-exam.png"
EXAM_CAMERA = MediaSource.synthetic(Role.EXAM_CAMERA, width=1280, height=960)

# The worked example: resting 10, voluntary 60, synkinesis 5, composite 45.
WORKED = SunnybrookGrading(
    eye="narrow",
    cheek="less-pronounced",
    mouth="normal",
    voluntary={"brow-lift": 3, "gentle-eye-closure": 4, "open-mouth-smile": 2, "snarl": 3, "lip-pucker": 3},
    synkinesis={"brow-lift": 1, "gentle-eye-closure": 1, "open-mouth-smile": 2, "snarl": 0, "lip-pucker": 1},
)
VOLUNTARY = {1: "unable", 2: "slight", 3: "mild-excursion", 4: "almost-complete", 5: "complete"}
SYNKINESIS = {0: "none", 1: "mild", 2: "moderate", 3: "severe"}

# Records every state the panel's current-step box shows (a MutationObserver, so no
# countdown tick is missed between two polls).
WATCH_STEPS = """
window.examSeen = [];
const box = document.getElementById('exam-current');
new MutationObserver(() => {
  const d = box.dataset;
  const last = window.examSeen[window.examSeen.length - 1];
  const now = [d.step, d.phase, Number(d.countdown),
               document.getElementById('exam-countdown').textContent];
  if (d.step && (!last || last.join() !== now.join())) window.examSeen.push(now);
}).observe(box, { attributes: true, childList: true, subtree: true });
"""


class Kiosk:
    """Records what the room asks the kiosk to show (``on_exam_step``)."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, int, int, int, str]] = []

    async def __call__(self, step: str, index: int, total: int, countdown: int, phase: str) -> None:
        self.shown.append((step, index, total, countdown, phase))


async def grade(page: Any, grading: SunnybrookGrading) -> None:
    """Choose the answers in the console's Sunnybrook form, as the physician would."""
    for item in RESTING_ITEMS:
        await page.select_option(f'select[name="sunnybrook.resting.{item}"]', getattr(grading, item))
    for expression in EXPRESSIONS:
        await page.select_option(
            f'select[name="sunnybrook.voluntary.{expression}"]',
            f"voluntary-{VOLUNTARY[grading.voluntary[expression]]}",  # type: ignore[index]
        )
        await page.select_option(
            f'select[name="sunnybrook.synkinesis.{expression}"]',
            f"synkinesis-{SYNKINESIS[grading.synkinesis[expression]]}",  # type: ignore[index]
        )


async def shown_scores(page: Any) -> tuple[int, int, int, int]:
    texts = [
        await page.inner_text(f"#sb-{part}") for part in ("resting", "voluntary", "synkinesis", "composite")
    ]
    return tuple(int(t) for t in texts)  # type: ignore[return-value]


async def previous_visit() -> list[Any]:
    """Stills of an earlier visit (a 640x480 camera), as Media from the FHIR server."""
    async with MediaDevice(MediaSource.synthetic(Role.EXAM_CAMERA, width=640, height=480)) as camera:
        return [
            step_media(
                code, await camera.snapshot("jpeg"), patient="Patient/p1", encounter="Encounter/visit-1"
            )
            for code in ("rest", "raise-eyebrows", "smile-with-teeth")
        ]


async def test_the_physician_runs_the_protocol_grades_saves_and_compares(
    signaling: Signaling, browser_page: Any
) -> None:
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    kiosk, written = Kiosk(), []

    async def record(bundle: dict[str, Any]) -> None:
        written.append(bundle)

    context = FacialExamContext(
        patient="Patient/p1",
        encounter="Encounter/visit-2",
        record=record,
        author="Practitioner/dr-weber",
        previous=await previous_visit(),
    )
    await page.goto(f"{signaling.server.http_url}/console/#token={signaling.token('physician')}")
    await until(page, "document.getElementById('status').textContent.startsWith('joined')")

    async with RoomPeer(
        signaling.url(),
        signaling.token("patient"),
        exam_camera=EXAM_CAMERA,
        on_exam_step=kiosk,
        exam=context,
        countdown_tick=0.03,
    ) as room:
        await page.locator(f'#waiting-list li[data-participant="{room.participant_id}"] button.admit').click()
        await room.wait_connected(timeout=30)
        await until(page, "!document.getElementById('exam-start').disabled", timeout=30)

        # the protocol: eight steps, each counted down on screen, each still at full resolution
        await page.evaluate(WATCH_STEPS)
        await page.click("#exam-start")
        await until(page, "document.querySelectorAll('#exam-stills img').length === 8", timeout=60)
        await until(
            page,
            "[...document.querySelectorAll('#exam-stills img')].every(i => i.complete && i.naturalWidth > 0)",
        )
        sizes = await page.eval_on_selector_all(
            "#exam-stills figure",
            "figs => figs.map(f => [f.dataset.step, f.querySelector('img').naturalWidth,"
            " f.querySelector('img').naturalHeight])",
        )
        assert sizes == [[s.code, 1280, 960] for s in PROTOCOL]
        assert [s.snapshot.width for s in room.exam_stills] == [1280] * 8
        seen = await page.evaluate("window.examSeen")
        for s in PROTOCOL:
            assert [s.code, "instruct", 3, "3"] in seen
            assert [s.code, "done", 0, "✓"] in seen
        assert [x[3] for x in seen if x[0] == "rest"][:3] == ["3", "2", "1"]
        assert [(code, phase) for code, _i, _t, _c, phase in kiosk.shown if phase != "instruct"] == [
            (s.code, phase) for s in PROTOCOL for phase in ("capture", "done")
        ]
        assert await page.is_visible("#exam-grading")

        # the Sunnybrook composite is computed live, exactly as SunnybrookGrading.score does
        await grade(page, WORKED)
        assert await shown_scores(page) == (10, 60, 5, 45)
        rng = random.Random(9)
        for _ in range(4):
            other = SunnybrookGrading(
                eye=rng.choice(list(RESTING_ITEMS["eye"])),  # type: ignore[arg-type]
                cheek=rng.choice(list(RESTING_ITEMS["cheek"])),  # type: ignore[arg-type]
                mouth=rng.choice(list(RESTING_ITEMS["mouth"])),  # type: ignore[arg-type]
                voluntary={e: rng.randint(1, 5) for e in EXPRESSIONS},  # type: ignore[misc]
                synkinesis={e: rng.randint(0, 3) for e in EXPRESSIONS},  # type: ignore[misc]
            )
            await grade(page, other)
            score = other.score()
            assert await shown_scores(page) == (
                score.resting,
                score.voluntary,
                score.synkinesis,
                score.composite,
            )

        # an incomplete form shows no composite, and the room refuses it, naming the item
        await page.select_option('select[name="sunnybrook.voluntary.snarl"]', "")
        assert await page.inner_text("#sb-composite") == "\N{EN DASH}"
        await page.click("#exam-save")
        await until(page, "document.getElementById('exam-saved').dataset.error === '1'")
        refusal = await page.inner_text("#exam-saved")
        assert "grading item sunnybrook.voluntary" in refusal
        assert "missing ['snarl']" in refusal
        assert written == []

        # saving: the room writes stills, answers and scores as one transaction
        await grade(page, WORKED)
        await page.select_option("#hb-grade", "III")
        await page.click("#exam-save")
        await until(page, "document.getElementById('exam-saved').dataset.composite === '45'")
        [bundle] = written
        Bundle.model_validate(bundle)
        kinds = [entry["request"]["url"].split("/")[0] for entry in bundle["entry"]]
        assert kinds == ["Media"] * 8 + ["QuestionnaireResponse", "Observation"] * 2
        assert {e["resource"]["encounter"]["reference"] for e in bundle["entry"]} == {"Encounter/visit-2"}
        assert "8 Media, 2 QuestionnaireResponse, 2 Observation" in await page.inner_text("#exam-saved")

        # the previous visit's stills next to this one's, step by step
        await page.click("#exam-compare-button")
        await until(page, "document.querySelectorAll('#exam-compare .pair').length === 8")
        await until(
            page,
            "[...document.querySelectorAll('#exam-compare img')]"
            ".every(i => i.complete && i.naturalWidth > 0)",
        )
        pairs = await page.eval_on_selector_all(
            "#exam-compare .pair",
            "rows => rows.map(r => [r.dataset.step,"
            " r.querySelector('figure.before img')?.naturalWidth ?? null,"
            " r.querySelector('figure.after img').naturalWidth])",
        )
        before = {"rest", "raise-eyebrows", "smile-with-teeth"}
        assert pairs == [[s.code, 640 if s.code in before else None, 1280] for s in PROTOCOL]

        await page.locator("#facial").scroll_into_view_if_needed()
        shot = await page.screenshot(full_page=True)
        assert len(shot) > 10_000
        if os.environ.get("TELEMEDROOM_UPDATE_DOCS_IMAGES"):
            SCREENSHOT.write_bytes(shot)
    assert not [text for text in violations if "Content Security Policy" in text]


async def test_clips_play_from_blob_urls_and_the_forms_speak_german(
    signaling: Signaling, browser_page: Any
) -> None:
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    await page.goto(f"{signaling.server.http_url}/console/#token={signaling.token('physician')}&lang=de")
    await until(page, "document.body.dataset.joined === 'physician'")
    assert (await page.inner_text("#status")).startswith("angemeldet als")  # the whole console speaks German
    async with RoomPeer(
        signaling.url(),
        signaling.token("patient"),
        exam_camera=MediaSource.synthetic(Role.EXAM_CAMERA, width=640, height=480),
        countdown_tick=0.01,
        clip_seconds=0.3,
    ) as room:
        await page.locator(f'#waiting-list li[data-participant="{room.participant_id}"] button.admit').click()
        await room.wait_connected(timeout=30)
        await until(page, "!document.getElementById('exam-start').disabled", timeout=30)
        await page.check("#exam-clip")
        await page.click("#exam-start")
        await until(page, "document.querySelectorAll('#exam-stills video.clip').length === 8", timeout=90)
        # the browser decodes the WebM (VP8) clip: its metadata gives the camera's size
        await until(
            page, "[...document.querySelectorAll('#exam-stills video')].every(v => v.videoWidth === 640)"
        )
    assert all(still.clip is not None for still in room.exam_stills)
    assert not [text for text in violations if "Content Security Policy" in text]
