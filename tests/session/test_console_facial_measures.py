"""The console's facial measurements in real headless Chromium: landmarks over each still, the
measures beside the Sunnybrook form, the trend across visits (a measurement aid, not a diagnosis).

The room is a real RoomPeer whose exam camera plays a real face (the astronaut photo of
tests/_face.py as a Motion-JPEG file); its detector is MediaPipe's face mesh. The earlier
visit's stills are the same face, its smile made by a warp that lifts the left mouth corner.
With TELEMEDROOM_UPDATE_DOCS_IMAGES=1 the test writes docs/images/facial-measurements.png.
"""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests import _face

from telemedroom.devices.media import MediaSource, Role
from telemedroom.exams import MEASURES, step_media
from telemedroom.session.peer import FacialExamContext, RoomPeer

from .conftest import Signaling, until

pytestmark = pytest.mark.requires_system

SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "facial-measurements.png"


def earlier_visit() -> list[Any]:
    """An earlier visit's rest and smile stills of the same face, as Media from the record."""
    np, cv2 = importlib.import_module("numpy"), importlib.import_module("cv2")
    rest = _face.face_rgb()
    h, w = rest.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = _face.detector().detect(rest).point("mouth-left")
    corner = (x + 8, y - 12)  # the left mouth corner (image right), moved out and up 14 px
    g = np.exp(-((xs - corner[0]) ** 2 + (ys - corner[1]) ** 2) / (2 * 45.0**2))
    smile = cv2.remap(rest, xs - 8 * g, ys + 12 * g, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    stills = []
    for code, image in (("rest", rest), ("smile-with-teeth", smile)):
        data = _face.face_png(image)
        still = SimpleNamespace(data=data, media_type="image/png", width=w, height=h,
                                captured_at=datetime(2026, 11, 4, 10, tzinfo=UTC))  # fmt: skip
        stills.append(step_media(code, still, patient="Patient/p1", encounter="Encounter/visit-1"))
    return stills


async def test_the_console_draws_the_landmarks_lists_the_measures_and_their_trend(
    signaling: Signaling, browser_page: Any, tmp_path: Path
) -> None:
    detector = _face.detector()
    camera = MediaSource.file(Role.EXAM_CAMERA, str(_face.face_video(tmp_path / "face.avi")))
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))

    async def record(bundle: dict[str, Any]) -> None:
        pass

    context = FacialExamContext(
        patient="Patient/p1",
        encounter="Encounter/visit-2",
        record=record,
        previous=earlier_visit(),
        detector=detector,
    )
    await page.goto(f"{signaling.server.http_url}/console/#token={signaling.token('physician')}")
    await until(page, "document.getElementById('status').textContent.startsWith('joined')")
    async with RoomPeer(
        signaling.url(), signaling.token("patient"), exam_camera=camera, exam=context, countdown_tick=0.02
    ) as room:
        await page.locator(f'#waiting-list li[data-participant="{room.participant_id}"] button.admit').click()
        await room.wait_connected(timeout=30)
        await until(page, "!document.getElementById('exam-start').disabled", timeout=30)
        await page.click("#exam-start")
        await until(
            page, "document.querySelectorAll('#exam-stills figure[data-measure]').length === 8", timeout=90
        )

        # every still measured, its landmarks drawn over it in the still's pixel space
        states = await page.eval_on_selector_all(
            "#exam-stills figure", "fs => fs.map(f => f.dataset.measure)"
        )
        assert states == ["ok"] * 8
        overlay = await page.eval_on_selector(
            "#exam-stills figure[data-step='smile-with-teeth'] svg.landmarks",
            "s => [s.getAttribute('viewBox'), s.querySelectorAll('circle').length,"
            " [...s.querySelectorAll('circle')].map(c => [c.dataset.name, +c.getAttribute('cx')])]",
        )
        assert overlay[0] == "0 0 600 600"
        assert overlay[1] == 16
        drawn = dict(overlay[2])
        assert drawn["iris-right"] < drawn["iris-left"]  # the patient's right on the image's left
        assert abs(drawn["iris-right"] - 237) < 10

        # the measures beside the Sunnybrook form, marked as an aid, not a diagnosis
        assert await page.is_visible("#exam-measures")
        assert "measurement aid, not a diagnosis" in await page.inner_text("#exam-measures-title")
        assert await page.is_visible("#sunnybrook")
        codes = await page.eval_on_selector_all(
            "#exam-measures-body tr", "rows => rows.map(r => r.dataset.code)"
        )
        assert codes == [spec.code for spec in MEASURES]
        # the same face in every still: no movement anywhere
        smile_row = await page.eval_on_selector(
            "#exam-measures-body tr[data-code='commissure-excursion']",
            "r => [...r.cells].map(c => c.textContent)",
        )
        left = float(smile_row[2].split()[0])
        assert left < 3  # % of the IPD: the same still as at rest

        # the trend: the earlier visit's smile moved the left corner, this one's did not
        await page.click("#exam-compare-button")
        await until(page, "document.querySelectorAll('#exam-trend tr[data-code]').length > 0", timeout=60)
        trend = await page.eval_on_selector_all(
            "#exam-trend tr[data-code]", "rows => rows.map(r => [r.dataset.code, +r.dataset.visits])"
        )
        assert ("commissure-excursion", 2) in [tuple(t) for t in trend]
        assert ("brow-height-rest", 2) in [tuple(t) for t in trend]
        assert "not a diagnosis" in await page.inner_text("#exam-trend caption")
        cells = await page.eval_on_selector(
            "#exam-trend tr[data-code='commissure-excursion']",
            "r => [...r.cells].slice(1).map(c => c.textContent)",
        )
        before_left = float(cells[0].split("/")[0])
        after_left = float(cells[1].split("/")[0])
        assert before_left > 8 > 3 > after_left

        await page.locator("#facial").scroll_into_view_if_needed()
        shot = await page.screenshot(full_page=True)
        if os.environ.get("TELEMEDROOM_UPDATE_DOCS_IMAGES"):
            SCREENSHOT.write_bytes(shot)
        assert len(shot) > 10_000
    assert not [text for text in violations if "Content Security Policy" in text]


async def test_a_room_without_a_detector_shows_no_measurements(
    signaling: Signaling, browser_page: Any
) -> None:
    page = browser_page

    async def record(bundle: dict[str, Any]) -> None:
        pass

    context = FacialExamContext(patient="Patient/p1", encounter="Encounter/visit-2", record=record)
    await page.goto(f"{signaling.server.http_url}/console/#token={signaling.token('physician')}")
    await until(page, "document.getElementById('status').textContent.startsWith('joined')")
    async with RoomPeer(
        signaling.url(), signaling.token("patient"), exam=context, countdown_tick=0.01
    ) as room:
        await page.locator(f'#waiting-list li[data-participant="{room.participant_id}"] button.admit').click()
        await room.wait_connected(timeout=30)
        await until(page, "!document.getElementById('exam-start').disabled", timeout=30)
        await page.click("#exam-start")
        await until(page, "document.getElementById('exam-current').dataset.phase === 'complete'", timeout=60)
        assert await page.is_hidden("#exam-measures")
        measured = await page.eval_on_selector_all("#exam-stills figure[data-measure]", "fs => fs.length")
        assert measured == 0
