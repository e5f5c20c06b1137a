"""``generate(loop=True, bpm=, bars=)`` through ``MusicGenerator`` on the families that loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from music_gen import MusicGenerator
from music_gen.audio.loop import beat_phase, music_step, wrap_jump
from music_gen.errors import InvalidInput, UnsupportedFeature
from music_gen.families import Capability
from music_gen.looping import prompt_with_tempo


@pytest.fixture(scope="module")
def composer() -> MusicGenerator:
    return MusicGenerator(model="composer")


def test_a_composer_loop_is_eight_seconds_seamless_and_on_the_beat_grid(composer) -> None:
    loop = composer.generate("rock band with drums", loop=True, bpm=120, bars=4, seed=3)
    rate = loop.sample_rate
    assert loop.num_samples == 8 * rate
    assert loop.metadata["plan"]["tempo"] == 120.0  # the composer played at the loop's tempo
    assert "120 bpm" in loop.metadata["prompt"]
    assert wrap_jump(loop.samples) <= music_step(loop.samples)
    info = loop.metadata["loop"]
    assert (info["bpm"], info["bars"], info["beats"]) == (120.0, 4, 16)
    # it starts on a beat of the composer's grid (its first beat is at 0; <= 1 ms nudge) …
    assert info["start_s"] <= 0.001
    # … and its notes land on that grid: the onsets fold onto the 16th-note grid (0.125 s)
    phase = beat_phase(loop.samples, rate, 480)
    assert min(phase, 0.125 - phase) < 0.006


def test_a_loop_prompt_already_naming_the_tempo_is_kept() -> None:
    assert prompt_with_tempo("house at 120 BPM", 120) == "house at 120 BPM"
    assert prompt_with_tempo("house", 124.5) == "house, 124.5 bpm"
    with pytest.raises(InvalidInput) as info:
        prompt_with_tempo("house at 90 bpm", 120)
    assert info.value.code == "INVALID_BPM"


def test_loops_are_instrumental_and_exact(composer) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        composer.generate("pop", loop=True, bpm=120, bars=2, lyrics="la la")
    assert info.value.code == "LOOP_NOT_INSTRUMENTAL"
    with pytest.raises(InvalidInput) as info:
        composer.generate("pop", loop=True, bpm=120, bars=2, duration=5.0)
    assert info.value.code == "INVALID_DURATION"
    with pytest.raises(InvalidInput) as info:
        composer.generate("pop", loop=True, bars=2)
    assert info.value.code == "INVALID_BPM"


def test_a_family_without_the_loop_capability_is_refused(composer) -> None:
    impl = composer.family_impl
    card = dataclasses.replace(impl.card, capabilities=impl.card.capabilities - {Capability.LOOP})
    other = MusicGenerator.from_family(impl)
    other.family_impl = type(impl).__new__(type(impl))
    other.family_impl.__dict__.update(impl.__dict__, card=card)
    with pytest.raises(UnsupportedFeature) as info:
        other.generate("pop", loop=True, bpm=120, bars=1)
    assert info.value.details["capability"] == "loop"


def test_a_musicgen_loop(mono) -> None:
    """MusicGen (a tiny random checkpoint) is told the tempo in its prompt; the loop is exact
    and wraps without a jump beyond its own steps."""
    assert mono.can("loop")
    loop = mono.generate("lofi hip hop beat", loop=True, bpm=300, bars=1, beats_per_bar=2,
                         seed=5)  # fmt: skip
    assert loop.sample_rate == 32000 and loop.num_samples == 0.4 * 32000  # 2 beats at 300
    assert loop.metadata["loop"]["beats"] == 2
    assert "300 bpm" in loop.metadata["prompt"]
    assert wrap_jump(loop.samples) <= music_step(loop.samples)
    assert np.isfinite(loop.samples).all()


def test_an_acestep_loop_is_instrumental_and_told_the_tempo(songs, monkeypatch) -> None:
    """ACE-Step has the bpm capability: the loop's tempo and meter go to the pipeline as its
    bpm and time signature, and the prompt is left as it is."""
    calls: list[dict] = []
    pipe = songs.family_impl.pipe

    class Spy:
        def __call__(self, **kwargs):
            calls.append(kwargs)
            return pipe(**kwargs)

        def __getattr__(self, name):
            return getattr(pipe, name)

    monkeypatch.setattr(songs.family_impl, "pipe", Spy())
    loop = songs.generate("synth funk", loop=True, bpm=240, bars=1, seed=1, steps=2)
    assert loop.num_samples == round(1.0 * loop.sample_rate)  # 4 beats at 240 BPM
    assert wrap_jump(loop.samples) <= music_step(loop.samples)
    [call] = calls
    assert (call["prompt"], call["bpm"], call["timesignature"]) == ("synth funk", 240, "4")
    assert call["audio_duration"] == 2.0  # the loop and one more bar
    with pytest.raises(UnsupportedFeature) as info:
        songs.generate("synth funk", loop=True, bpm=240, bars=1, lyrics="[verse]\nla la")
    assert info.value.code == "LOOP_NOT_INSTRUMENTAL"
