"""Offline tempo and key estimation, measured on the composer's output (tempo, key known)."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen import MusicGenerator
from music_gen.train.estimate import estimate_bpm, estimate_key, parse_key

CASES = [
    ("rock band with distorted guitars", 0),
    ("jazz trio with walking bass", 0),
    ("edm dance track", 0),
    ("happy pop song", 0),
    ("sad folk song with acoustic guitar", 0),
    ("calm piano ballad", 0),
]


@pytest.fixture(scope="module")
def rendered():
    composer = MusicGenerator("composer")
    out = []
    for prompt, seed in CASES:
        audio = composer.generate(prompt, duration=10.0, seed=seed)
        plan = audio.metadata["plan"]
        out.append((audio, plan["tempo"], f"{plan['key']} {plan['mode']}"))
    return out


def test_tempo_is_found_on_the_composers_output(rendered):
    hits = [
        abs(estimate_bpm(a.samples, a.sample_rate) - tempo) / tempo < 0.03
        for a, tempo, _ in rendered
    ]
    assert sum(hits) >= 5, hits


def test_key_is_found_on_the_composers_output(rendered):
    hits = [
        parse_key(estimate_key(a.samples, a.sample_rate) or "") == parse_key(key)
        for a, _, key in rendered
    ]
    assert sum(hits) >= 5, hits


def test_estimates_work_at_the_models_rate_and_in_mono(rendered):
    import soxr

    audio, tempo, key = rendered[0]
    mono = soxr.resample(audio.samples.mean(axis=0), audio.sample_rate, 32000)
    assert abs(estimate_bpm(mono, 32000) - tempo) / tempo < 0.03
    assert parse_key(estimate_key(mono, 32000) or "") == parse_key(key)


def test_silence_and_tiny_clips_give_none():
    assert estimate_bpm(np.zeros((2, 44100 * 6), np.float32), 44100) is None
    assert estimate_key(np.zeros(44100 * 6, np.float32), 44100) is None
    assert estimate_bpm(np.random.default_rng(0).normal(size=1000), 44100) is None


def test_parse_key():
    assert parse_key("E minor") == (4, "minor")
    assert parse_key("Bb") == (10, "major")
    assert parse_key("f# major") == (6, "major")
    assert parse_key("H dorian") is None
