"""The diffusers text-to-audio family on Stable Audio Open (``StableAudioPipeline``): a tiny
random pipeline saved in the real layout and loaded back through ``MusicGenerator``; its output
equals the pipeline's own call for the same seed."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

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
    assert card.family == "diffusers_audio"
    assert card.details["pipeline"] == "StableAudioPipeline"
    assert (card.sample_rate, card.channels) == (8000, 2)
    assert card.max_duration == pytest.approx(256 * 64 / 8000)  # sample_size × hop / rate
    assert {c.value for c in card.capabilities} == {
        "text", "batch", "loop", "stereo", "negative_prompt", "steps", "guidance"}  # fmt: skip
    assert card.details["defaults"] == {"steps": 100, "guidance_scale": 7.0}
    assert card.license == "stabilityai-ai-community"  # its README's license_name


def test_generate_exact_length_and_seeded(gen):
    assert gen.family == "diffusers_audio"
    a = gen.generate("rain on a tin roof", duration=0.5, seed=3, steps=2)
    assert (a.sample_rate, a.channels, a.num_samples) == (8000, 2, 4000)
    assert np.isfinite(a.samples).all() and np.abs(a.samples).max() > 0
    b = gen.generate("rain on a tin roof", duration=0.5, seed=3, steps=2)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.metadata["seed"] == 3 and a.metadata["family"] == "diffusers_audio"
    [c, d] = gen.generate_batch(["rain", "wind"], duration=0.25, seed=[1, 2], steps=2)
    assert c.num_samples == d.num_samples == 2000


def test_equals_the_pipelines_own_call(gen):
    """Same prompt, negative prompt, guidance, steps and seed: the pipeline's own samples."""
    from diffusers import StableAudioPipeline

    pipe = gen.family_impl.pipe
    assert type(pipe) is StableAudioPipeline
    ours = gen.generate("rain", duration=0.5, seed=4, steps=3, guidance_scale=4.0,
                        negative_prompt="thunder")  # fmt: skip
    ref = pipe(prompt="rain", negative_prompt="thunder", audio_end_in_s=0.5,
               num_inference_steps=3, guidance_scale=4.0,
               generator=torch.Generator("cpu").manual_seed(4)).audios  # fmt: skip
    np.testing.assert_array_equal(ours.samples, ref[0, :, :4000].float().numpy())
    assert ours.metadata["negative_prompt"] == "thunder"
    # the defaults are the call's own (100 steps would be slow here: guidance only)
    call = inspect.signature(type(pipe).__call__).parameters
    assert gen.family_impl.default_guidance == call["guidance_scale"].default
    assert gen.family_impl.default_steps == call["num_inference_steps"].default


def test_what_it_refuses(gen):
    with pytest.raises(UnsupportedFeature) as refused:
        gen.generate("song", lyrics="la la")
    assert refused.value.details["capability"] == "lyrics"
    with pytest.raises(UnsupportedFeature):  # not a sampled model
        gen.generate("song", temperature=0.5)
    with pytest.raises(InvalidInput) as info:  # guidance off: a negative prompt does nothing
        gen.generate("song", negative_prompt="noise", guidance_scale=1.0, duration=0.5)
    assert info.value.code == "INVALID_NEGATIVE_PROMPT"
    with pytest.raises(InvalidInput) as info:
        gen.generate("too long", duration=5.0, steps=2)
    assert info.value.code == "INVALID_DURATION"


def test_a_stable_audio_loop(gen):
    loop = gen.generate("drum loop", loop=True, bpm=300, bars=1, seed=1, steps=2)
    assert loop.num_samples == round(0.8 * 8000)  # 4 beats at 300 BPM
    assert "300 bpm" in loop.metadata["prompt"]
    assert wrap_jump(loop.samples) <= music_step(loop.samples)
