"""LongCat-Audio-DiT through the diffusers text-to-audio family: a tiny random
``LongCatAudioDiTPipeline`` (the real 2048-sample hop at 24 kHz) saved in its diffusers layout
and loaded back through ``MusicGenerator``; our output is the pipeline's own call."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from music_gen import MusicGenerator
from music_gen.errors import UnsupportedFeature
from music_gen.families import inspect_model


@pytest.fixture(scope="module")
def longcat_pipeline(tmp_path_factory):
    from music_gen.testing import make_tiny_longcat_pipeline

    return make_tiny_longcat_pipeline(tmp_path_factory.mktemp("longcat") / "tiny-longcat")


@pytest.fixture(scope="module")
def longcat(longcat_pipeline):
    return MusicGenerator(str(longcat_pipeline), device="cpu")


def test_the_card(longcat_pipeline, longcat):
    card = inspect_model(str(longcat_pipeline))
    assert (card.details["pipeline"], card.sample_rate, card.channels) == (
        "LongCatAudioDiTPipeline", 24000, 1)  # fmt: skip
    assert card.max_duration == 30.0 and card.license == "mit"
    assert "loop" not in {c.value for c in card.capabilities}
    assert longcat.family_impl.card.capabilities == card.capabilities
    call = inspect.signature(type(longcat.family_impl.pipe).__call__).parameters
    assert longcat.family_impl.default_steps == call["num_inference_steps"].default


def test_whole_frames_and_the_pipelines_own_samples(longcat):
    """The call makes ``int(seconds × rate / hop)`` frames (0.5 s: 5 frames, 10240 samples);
    we ask for the frames 0.5 s needs (6) and cut to exactly 12000 samples."""
    ours = longcat.generate("rain", duration=0.5, seed=1, steps=2, negative_prompt="speech")
    assert ours.samples.shape == (1, 12000)
    pipe = longcat.family_impl.pipe
    seed = torch.Generator().manual_seed(1)
    ref = pipe("rain", negative_prompt="speech", audio_duration_s=6.5 * 2048 / 24000,
               num_inference_steps=2, generator=seed).audios  # fmt: skip
    assert ref.shape == (1, 1, 6 * 2048)
    np.testing.assert_array_equal(ours.samples, ref[0][:, :12000])
    other = longcat.generate("rain", duration=0.5, seed=2, steps=2)
    assert not np.array_equal(other.samples, ours.samples)
    with pytest.raises(UnsupportedFeature) as info:
        longcat.generate("rain", duration=1.0, loop=True, bpm=120, bars=1)
    assert info.value.details["capability"] == "loop"
