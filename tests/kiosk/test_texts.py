"""The kiosk's strings: both languages complete, every key the page uses exists, and the
room's device kinds, instruction keys and facial protocol steps all have their text and
pictogram."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from telemedroom._kiosk import LANGUAGES, TEXTS
from telemedroom.exams import PROTOCOL
from telemedroom.room import DEVICE_GUIDE, DeviceKind, DeviceStep, RoomState

STATIC = Path(__file__).parents[2] / "src" / "telemedroom" / "_kiosk" / "static"
SCRIPT = (STATIC / "kiosk.js").read_text()
PAGE = (STATIC / "index.html").read_text()


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    assert set(LANGUAGES) == set(TEXTS) == {"de", "en"}
    assert TEXTS["de"].keys() == TEXTS["en"].keys()
    for language, table in TEXTS.items():
        assert all(text.strip() for text in table.values()), language


def test_the_two_languages_really_differ() -> None:
    same = {key for key in TEXTS["de"] if TEXTS["de"][key] == TEXTS["en"][key]}
    assert same == set(), same


def test_placeholders_match_between_languages() -> None:
    for key, english in TEXTS["en"].items():
        assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"\{(\w+)\}", TEXTS["de"][key])), key


def test_every_literal_key_of_the_page_and_its_script_exists() -> None:
    used = set(re.findall(r'\bt\("(\w+)"', SCRIPT)) | set(re.findall(r'data-(?:text|label)="(\w+)"', PAGE))
    assert used, "the pattern found nothing: the page changed shape"
    assert used <= TEXTS["en"].keys(), used - TEXTS["en"].keys()


def test_every_state_has_a_screen() -> None:
    screens = {state for match in re.findall(r'data-for="([\w ]+)"', PAGE) for state in match.split()}
    assert screens == {state.value for state in RoomState}


def test_every_device_kind_and_status_has_a_name() -> None:
    statuses = get_args(DeviceStep.model_fields["status"].annotation)
    for table in TEXTS.values():
        for kind in get_args(DeviceKind):
            assert f"device_{kind}" in table
        for status in statuses:
            assert f"status_{status}" in table


def test_every_instruction_the_room_sends_has_a_text_and_a_hint() -> None:
    for table in TEXTS.values():
        for guide in DEVICE_GUIDE.values():
            assert guide.instruction in table
            assert f"{guide.instruction}_hint" in table
    assert TEXTS["de"]["put_on_cuff"] == "Legen Sie die Manschette an"
    assert TEXTS["en"]["put_on_cuff"] == "Put on the cuff"


def test_every_refusal_reason_has_a_text() -> None:
    for reason in ("unknown_code", "too_many_attempts", "not_now", "busy", "invalid_code", "other"):
        assert f"rejected_{reason}" in TEXTS["en"]


def test_every_facial_protocol_step_has_its_instruction_and_a_pictogram() -> None:
    symbols = set(re.findall(r'<symbol id="face-([\w-]+)"', PAGE))
    for step in PROTOCOL:
        assert step.code in symbols
        for language in LANGUAGES:
            assert TEXTS[language][f"exam_{step.code}"] == step.instruction[language]
            assert TEXTS[language][f"exam_{step.code}_title"] == step.title[language]
    # each pictogram draws something of its own, not just the shared face
    bodies = dict(re.findall(r'<symbol id="face-([\w-]+)"[^>]*>(.*?)</symbol>', PAGE, re.S))
    assert len({body.strip() for body in bodies.values()}) == len(bodies)
