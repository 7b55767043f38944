"""A multi-party visit through a real Janus, seen on the kiosk page in headless Chromium.

Real parts: Debian's Janus (LocalJanus on loopback, token auth), a Room with its embedded
signaling server and virtual media devices, the kiosk page in Chromium. The physician
and the interpreter are SfuParticipant peers (aiortc): the interpreter publishes a
440 Hz tone as its microphone, the physician a silent WAV file (looped). The page must
list both with their roles, mark the interpreter speaking, and unmark them once the tone
is replaced by silence; the physician is never marked. The accessibility checks of
tests/kiosk/test_kiosk_chromium.py run on the list.
"""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack
from tests._system import require_system
from tests.kiosk.test_kiosk_chromium import contrast_script, unlabelled_controls
from tests.room.conftest import data_dir, make_config  # noqa: F401 (data_dir is a fixture)
from tests.session.conftest import browser_page, until  # noqa: F401 (browser_page is a fixture)

from telemedroom._kiosk import TEXTS, close_kiosk, create_kiosk_app
from telemedroom.devices.media import MediaSource, Role
from telemedroom.room import ParticipantsChanged, Room, RoomEvent, SessionSettings
from telemedroom.session.participant import SfuParticipant
from telemedroom.testing import LocalJanus

pytestmark = pytest.mark.requires_system


@pytest.fixture
async def janus() -> AsyncIterator[LocalJanus]:
    async with LocalJanus(require_system("janus")) as running:
        yield running


def silent_wav(path: Path) -> Path:
    """One second of digital silence, 48 kHz mono 16-bit (the physician says nothing)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(bytes(2 * 48_000))
    return path


ROWS = "[...document.querySelectorAll('#participants-list li')]"
ROLES = "[...document.querySelectorAll('#participants-list .role')].map(e => e.textContent)"


def item(participant_id: str) -> str:
    return f"document.querySelector('#participants-list li[data-id={json.dumps(participant_id)}]')"


async def test_the_kiosk_shows_the_participants_and_who_speaks(
    data_dir: Path,  # noqa: F811
    tmp_path: Path,
    janus: LocalJanus,
    browser_page: Any,  # noqa: F811
) -> None:
    page = browser_page
    session = SessionSettings(
        embedded=True,
        sfu=janus.url,
        sfu_admin_url=janus.admin_url,
        sfu_admin_secret=janus.admin_secret,
        sfu_room_admin_key=janus.room_admin_key,
    )
    config = make_config(data_dir, (), language="en", session=session)
    events: list[RoomEvent] = []
    async with Room(config) as room:
        app = create_kiosk_app(room, language=config.language)

        async def collect() -> None:
            async for event in room.events():
                events.append(event)

        watcher = asyncio.ensure_future(collect())
        try:
            from telemedroom.session.signaling import LocalServer

            async with LocalServer(app) as server:
                await page.goto(f"{server.http_url}/kiosk/")
                await until(page, "document.body.dataset.state === 'idle'")
                appointment = await room.book_walk_in("pat-multi")
                await room.check_in(appointment.booking_code)
                await room.measure()
                url = room.visit_url(appointment.id)
                doctor_token = room.physician_token(appointment.id, subject="dr-weber", name="Dr. Weber")
                interpreter_token = room.physician_token(
                    appointment.id, subject="int-7", role="interpreter", name="A. Yilmaz"
                )
                quiet = MediaSource.file(Role.MICROPHONE, str(silent_wav(tmp_path / "quiet.wav")), loop=True)
                async with SfuParticipant(url, doctor_token, microphone=quiet, auto_admit=True) as doctor:
                    await room.wait_for_physician(timeout=60)
                    await until(page, "document.body.dataset.state === 'in_consultation'", timeout=30)
                    tone = MediaSource.synthetic(Role.MICROPHONE)  # 440 Hz at -12 dBFS
                    async with SfuParticipant(url, interpreter_token, microphone=tone) as interpreter:
                        await interpreter.wait_admitted()
                        media = await interpreter.wait_media()
                        doctor_id, interpreter_id = doctor.participant_id, interpreter.participant_id

                        # both listed, with their roles; the interpreter marked speaking
                        await until(page, f"{ROWS}.length === 2", 60)
                        await until(page, f"{item(interpreter_id)}.dataset.speaking === 'true'", 60)
                        rows = await page.evaluate(
                            f"{ROWS}.map(li => [li.querySelector('.name').textContent,"
                            " li.querySelector('.role').textContent, li.dataset.speaking, li.innerText])"
                        )
                        assert [row[:3] for row in rows] == [
                            ["Dr. Weber", "Physician", "false"],
                            ["A. Yilmaz", "Interpreter", "true"],
                        ]
                        assert "speaking" in rows[1][3]  # a word, not only a colour
                        assert "speaking" not in rows[0][3]
                        said = await page.inner_text("#announce")
                        assert "A. Yilmaz (Interpreter) is speaking." in said
                        # a kiosk page that reloads (or reconnects) gets the list at once
                        await page.reload()
                        await until(page, f"{item(interpreter_id)}.dataset.speaking === 'true'", 30)
                        assert await page.evaluate(f"{ROWS}.length") == 2

                        # the accessibility checks on the list as it is now (speaking shown)
                        checked = await page.evaluate(contrast_script())
                        on_list = [c for c in checked if c["text"] in {"Dr. Weber", "A. Yilmaz", "speaking"}]
                        assert len(on_list) == 3, checked
                        low = [c for c in checked if c["ratio"] < c["needed"]]
                        assert low == [], low
                        assert await unlabelled_controls(page) == []
                        word = f"{item(interpreter_id)}.querySelector('.speaking')"
                        mark = f"getComputedStyle({word}, '::before')"
                        assert await page.evaluate(f"{mark}.animationName") == "pulse"
                        await page.emulate_media(reduced_motion="reduce")
                        assert await page.evaluate(f"{mark}.animationName") == "none"
                        # German role names (the patient's language button)
                        await page.click("#language")
                        await until(page, f"{item(interpreter_id)}.innerText.includes('spricht')")
                        roles = await page.evaluate(ROLES)
                        assert roles == [TEXTS["de"]["role_physician"], "Dolmetscher/in"]
                        assert await page.inner_text("#participants-title") == "In diesem Gespräch"

                        # the tone stops (the microphone now sends silence): the mark goes
                        sender = media.sender("main", 0)
                        assert sender is not None
                        assert sender.track is not None
                        sender.replaceTrack(AudioStreamTrack())
                        await until(page, f"{item(interpreter_id)}.dataset.speaking === 'false'", 60)
                        assert "spricht" not in await page.evaluate(f"{item(interpreter_id)}.innerText")
                        assert await page.evaluate(f"{item(doctor_id)}.dataset.speaking") == "false"
                    await room.end_consultation()
                await room.wait_idle()
                await until(page, "document.getElementById('participants').hidden", 30)
        finally:
            watcher.cancel()
            await close_kiosk(app)

    shown = [e for e in events if isinstance(e, ParticipantsChanged)]
    assert shown, "no ParticipantsChanged event"
    # the physician's silence never counted as speech; the interpreter's tone did
    assert not any(q.speaking for e in shown for q in e.participants if q.role == "physician")
    assert any(q.speaking for e in shown for q in e.participants if q.role == "interpreter")
    # no flicker: a few changes (two joins, speaking on, speaking off), not one per frame
    assert len(shown) <= 8, [[(q.role, q.speaking) for q in e.participants] for e in shown]
    # no health data in them: names and roles only
    fields = {"id", "role", "name", "speaking"}
    assert all(set(q.model_dump()) == fields for e in shown for q in e.participants)
