"""One period of the synthetic audio signals, as native-endian signed 16-bit mono PCM.

A synthetic audio track plays its period in a loop, so a frame costs one slice of bytes.
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Final, NamedTuple

FULL_SCALE: Final = 32767


class HeartSound(NamedTuple):
    """One heart sound: a Hann-windowed sine burst."""

    onset_s: float
    duration_s: float
    frequency_hz: float
    amplitude: float


def systole_s(period_s: float) -> float:
    """Time from the first heart sound (S1, "lub") to the second (S2, "dub").

    Systole shortens less than the whole cycle as the heart speeds up; a Bazett-like
    square-root law (0.33 s at 60/min) keeps S2 inside the cycle from 20 to 300/min.
    """
    return min(0.33 * math.sqrt(period_s), 0.45 * period_s)


def heart_sounds(heart_rate_bpm: float) -> tuple[HeartSound, HeartSound]:
    """S1 and S2 of one cardiac cycle at ``heart_rate_bpm``.

    S1 (closure of the mitral and tricuspid valves) is longer, lower and louder than S2
    (aortic and pulmonary valves); both lie in the 20-150 Hz band a stethoscope's bell
    picks up. Durations shrink with short cycles so S2 always ends before the next S1.
    """
    period = 60.0 / heart_rate_bpm
    scale = min(1.0, period / 0.8)
    s1 = HeartSound(0.0, 0.12 * scale, 50.0, 1.0)
    s2 = HeartSound(systole_s(period), 0.09 * scale, 70.0, 0.7)
    return s1, s2


def heartbeat_period(sample_rate: int, heart_rate_bpm: float, *, level: float = 0.8) -> bytes:
    """One cardiac cycle ("lub-dub" then silence), rounded to a whole number of samples.

    Examples:
        >>> pcm = heartbeat_period(8000, 60)
        >>> len(pcm) // 2  # samples in one second
        8000
    """
    samples = round(sample_rate * 60.0 / heart_rate_bpm)
    signal = [0.0] * samples
    for sound in heart_sounds(heart_rate_bpm):
        first = round(sound.onset_s * sample_rate)
        length = round(sound.duration_s * sample_rate)
        for n in range(length):
            window = math.sin(math.pi * n / length) ** 2
            t = n / sample_rate
            signal[first + n] += sound.amplitude * window * math.sin(2 * math.pi * sound.frequency_hz * t)
    return array("h", (round(level * FULL_SCALE * value) for value in signal)).tobytes()


@functools.cache
def tone_period(sample_rate: int, frequency_hz: int = 440, *, level: float = 0.25) -> bytes:
    """One second of a sine tone (a whole number of cycles for an integer frequency).

    The samples repeat every ``sample_rate / gcd(sample_rate, frequency_hz)`` samples, so
    only that stretch is computed and the rest repeated (440 Hz at 48 kHz: 1,200 sines
    instead of 48,000, which kept the event loop busy for ~12 ms when a room opened its
    microphone); the result is cached, since a room reopens the same tone every visit.

    Examples:
        >>> len(tone_period(8000)) // 2
        8000
    """
    cycle = sample_rate // math.gcd(sample_rate, frequency_hz)
    step = 2 * math.pi / sample_rate  # the phase is reduced exactly, in integers, before the sine
    amplitude = level * FULL_SCALE
    phases = (frequency_hz * n % sample_rate for n in range(cycle))
    stretch = array("h", (round(amplitude * math.sin(step * phase)) for phase in phases)).tobytes()
    return stretch * (sample_rate // cycle)
