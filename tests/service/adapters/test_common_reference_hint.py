"""Tempo and key of a reference clip, as the composer's prompt words."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen.audio import AudioOutput
from music_gen.compose.plan import plan_music
from music_gen.service.adapters.common import analyse_reference, reference_hint

SR = 32000


def _loop(bpm: float, tonic_midi: int, minor: bool, seconds: float = 12.0) -> AudioOutput:
    """Clicks on every beat over a sustained triad with its root an octave down."""
    t = np.arange(int(seconds * SR)) / SR
    x = np.zeros_like(t)
    rng = np.random.default_rng(1)
    for start in np.arange(0, seconds, 60 / bpm):
        i = int(start * SR)
        n = min(int(0.05 * SR), len(x) - i)
        x[i : i + n] += 0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / 400)
    for interval in (0, 3 if minor else 4, 7, -12):
        x += 0.12 * np.sin(2 * np.pi * 440 * 2 ** ((tonic_midi + interval - 69) / 12) * t)
    return AudioOutput(x[None].astype(np.float32), SR)


@pytest.mark.parametrize(
    ("bpm", "tonic", "minor", "key", "mode"),
    [(96, 57, True, "A", "minor"), (128, 62, False, "D", "major"),
     (75, 60, False, "C", "major"), (140, 64, True, "E", "minor")],
)  # fmt: skip
def test_tempo_and_key_of_a_loop(bpm, tonic, minor, key, mode):
    found = analyse_reference(_loop(bpm, tonic, minor))
    assert (found.key, found.mode) == (key, mode)
    assert abs(found.tempo - bpm) / bpm < 0.04


def test_the_words_steer_the_composers_plan():
    words = reference_hint(_loop(96, 57, True))
    assert words == "in A minor, 96 bpm"
    plan = plan_music(f"calm music, {words}", duration=10.0, seed=3)
    assert (plan.tempo, plan.key, plan.mode) == (96.0, "A", "minor")


def test_silence_and_stereo_give_an_answer_not_an_error():
    quiet = analyse_reference(AudioOutput(np.zeros((2, SR * 3), dtype=np.float32), SR))
    assert quiet.tempo == 120.0 and (quiet.key, quiet.mode) == ("C", "major")
