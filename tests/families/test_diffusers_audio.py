"""The Stable Audio family (diffusers ``StableAudioPipeline``) on a tiny random pipeline saved
in the real layout and loaded back through ``MusicGenerator``."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen import MusicGenerator
from music_gen.audio.loop import music_step, wrap_jump
from music_gen.errors import InvalidInput, UnsupportedFeature
from music_gen.families import inspect_model


@pytest.fixture(scope="module")
def audio_pipeline(tmp_path_factory):
    from music_gen.testing import make_tiny_audio_pipeline

    return make_tiny_audio_pipeline(tmp_path_factory.mktemp("sa") / "tiny-stable-audio")


@pytest.fixture(scope="module")
def gen(audio_pipeline):
    return MusicGenerator(str(audio_pipeline), device="cpu")


def test_the_card_comes_from_the_files(audio_pipeline):
    card = inspect_model(str(audio_pipeline))
    assert card.family == "stable_audio"
    assert (card.sample_rate, card.channels) == (8000, 2)
    assert card.max_duration == pytest.approx(256 * 64 / 8000)  # sample_size × hop / rate
    assert {c.value for c in card.capabilities} == {"text", "batch", "loop", "stereo"}
    assert card.license == "stabilityai-ai-community"  # its README's license_name


def test_generate_exact_length_and_seeded(gen):
    assert gen.family == "stable_audio"
    a = gen.generate("rain on a tin roof", duration=0.5, seed=3, steps=2)
    assert (a.sample_rate, a.channels, a.num_samples) == (8000, 2, 4000)
    assert np.isfinite(a.samples).all() and np.abs(a.samples).max() > 0
    b = gen.generate("rain on a tin roof", duration=0.5, seed=3, steps=2)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.metadata["seed"] == 3 and a.metadata["family"] == "stable_audio"
    # with the sampling values a service job carries for every model (validated, not applied)
    [c, d] = gen.generate_batch(["rain", "wind"], duration=0.25, seed=[1, 2], steps=2,
                                temperature=1.0, top_k=250, top_p=0.0)  # fmt: skip
    assert c.num_samples == d.num_samples == 2000


def test_what_it_refuses(gen):
    with pytest.raises(UnsupportedFeature):
        gen.generate("song", lyrics="la la")
    with pytest.raises(InvalidInput) as info:
        gen.generate("too long", duration=5.0, steps=2)
    assert info.value.code == "INVALID_DURATION"


def test_a_stable_audio_loop(gen):
    loop = gen.generate("drum loop", loop=True, bpm=300, bars=1, seed=1, steps=2)
    assert loop.num_samples == round(0.8 * 8000)  # 4 beats at 300 BPM
    assert "300 bpm" in loop.metadata["prompt"]
    assert wrap_jump(loop.samples) <= music_step(loop.samples)
