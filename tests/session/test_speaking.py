"""The speaking detector (hysteresis), the mixer's speaking marks and the throttled board.

The frames are synthetic (a 440 Hz tone at -12 dBFS, digital silence, a level between the
two thresholds): the same 48 kHz 16-bit stereo frames Opus decodes into in aiortc.
"""

from __future__ import annotations

import asyncio
import fractions
import math
from array import array

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.session import protocol as p
from telemedroom.session._mixer import SAMPLES, AudioMix
from telemedroom.session._speaking import Speaker, SpeakerBoard, SpeakingDetector, peak_dbfs


def tone(dbfs: float = -12.0) -> array[int]:
    """20 ms of a 440 Hz tone at ``dbfs`` peak, interleaved stereo."""
    amplitude = 32768 * 10 ** (dbfs / 20)
    mono = [round(amplitude * math.sin(2 * math.pi * 440 * i / 48_000)) for i in range(SAMPLES)]
    return array("h", [v for v in mono for _ in range(2)])


SILENCE = array("h", bytes(SAMPLES * 4))
LOUD = tone()
BETWEEN = tone(-44.0)  # below on_dbfs (-40), above off_dbfs (-48)


def test_peak_level_of_the_synthetic_frames() -> None:
    assert peak_dbfs(LOUD) == pytest.approx(-12.0, abs=0.1)
    assert peak_dbfs(BETWEEN) == pytest.approx(-44.0, abs=0.2)
    assert peak_dbfs(SILENCE) == -120.0


def test_a_tone_starts_after_the_attack_and_stops_after_the_release() -> None:
    detector = SpeakingDetector(attack=3, release=10)
    changes = [detector.feed("in", LOUD) for _ in range(5)]
    assert changes == [False, False, True, False, False]
    assert detector.speaking == {"in"}
    # a short pause between words (shorter than the release) keeps the mark
    assert not any(detector.feed("in", SILENCE) for _ in range(9))
    assert not detector.feed("in", LOUD)
    assert detector.speaking == {"in"}
    # a level between the thresholds neither starts nor stops speech
    assert not any(detector.feed("in", BETWEEN) for _ in range(50))
    assert detector.speaking == {"in"}
    # missing frames count as quiet: the mark goes after exactly `release` of them
    assert [detector.feed("in", None) for _ in range(10)][-2:] == [False, True]
    assert detector.speaking == frozenset()
    assert not any(detector.feed("in", BETWEEN) for _ in range(50))
    assert detector.speaking == frozenset()


def test_a_click_does_not_mark_anyone_and_inputs_are_apart() -> None:
    detector = SpeakingDetector(attack=3, release=10)
    for frame in (LOUD, LOUD, SILENCE, LOUD, SILENCE):  # never 3 loud frames in a row
        assert not detector.feed("physician", frame)
        assert not detector.feed("interpreter", LOUD if frame is SILENCE else SILENCE)
    assert detector.speaking == frozenset()
    for _ in range(3):
        detector.feed("interpreter", LOUD)
        detector.feed("physician", SILENCE)
    assert detector.speaking == {"interpreter"}
    assert detector.forget("interpreter") is True
    assert detector.forget("physician") is False


def test_thresholds_must_leave_a_gap() -> None:
    with pytest.raises(ValueError, match="off_dbfs <= on_dbfs"):
        SpeakingDetector(on_dbfs=-50, off_dbfs=-40)


@given(st.lists(st.sampled_from(["loud", "quiet", "between", "none"]), max_size=300))
def test_the_mark_never_flickers(levels: list[str]) -> None:
    """Between two changes there are at least `attack` (to start) or `release` (to stop) frames."""
    frames = {"loud": LOUD, "quiet": SILENCE, "between": BETWEEN, "none": None}
    detector = SpeakingDetector(attack=3, release=10)
    last_change = -math.inf
    for index, level in enumerate(levels):
        if detector.feed("x", frames[level]):
            gap = detector.attack if detector.speaking else detector.release
            assert index - last_change >= gap
            last_change = index


class FrameTrack(MediaStreamTrack):
    """An audio track that plays the given sample arrays, then ends (frames as Opus decodes them)."""

    kind = "audio"

    def __init__(self, frames: list[array[int]]) -> None:
        super().__init__()
        self._frames = list(frames)
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if not self._frames:
            self.stop()
            raise MediaStreamError
        await asyncio.sleep(0.02)
        frame = AudioFrame(format="s16", layout="stereo", samples=SAMPLES)
        frame.planes[0].update(self._frames.pop(0).tobytes())
        frame.sample_rate, frame.pts, frame.time_base = 48_000, self._pts, fractions.Fraction(1, 48_000)
        self._pts += SAMPLES
        return frame


async def test_the_mixer_marks_the_speaking_input_by_its_key() -> None:
    mix = AudioMix()
    marks: list[frozenset[object]] = []
    mix.on_speaking = marks.append
    mix.add(FrameTrack([LOUD] * 30), key=7)  # the interpreter's feed
    mix.add(FrameTrack([SILENCE] * 30), key=3)  # the physician's
    try:
        async with asyncio.timeout(30):
            while not marks:
                await mix.recv()
            assert marks == [frozenset({7})]
            while len(marks) < 2:  # the tone track ends: no frames come, the mark goes
                await mix.recv()
        assert marks[-1] == frozenset()
    finally:
        await mix.aclose()


async def test_the_board_lists_admitted_participants_and_throttles() -> None:
    board = SpeakerBoard(interval=0.2)
    sent: list[list[Speaker]] = []
    got = asyncio.Event()

    def take(speakers: list[Speaker]) -> None:
        sent.append(speakers)
        got.set()

    board.on_change = take
    roster = [
        p.ParticipantInfo(id="room", role="patient", name="", state="admitted", feed=1),
        p.ParticipantInfo(id="ph-1", role="physician", name="Dr. Weber", state="admitted", feed=3),
        p.ParticipantInfo(id="in-2", role="interpreter", name="A. Yilmaz", state="admitted", feed=7),
        p.ParticipantInfo(id="co-3", role="companion", name="B. Lang", state="waiting"),
    ]
    board.roster(roster)
    assert [(q.name, q.speaking) for q in sent[0]] == [("Dr. Weber", False), ("A. Yilmaz", False)]
    got.clear()
    # three changes inside the interval: one message, with the last state
    board.speaking(frozenset({7}))
    board.speaking(frozenset({3, 7}))
    board.speaking(frozenset({3}))
    assert len(sent) == 1
    async with asyncio.timeout(10):
        await got.wait()
    assert len(sent) == 2
    assert [(q.id, q.speaking) for q in sent[1]] == [("ph-1", True), ("in-2", False)]
    board.speaking(frozenset({7}))  # due after the interval, but the board is closed first
    board.close()
    assert board.on_change is None
    assert len(sent) == 2
