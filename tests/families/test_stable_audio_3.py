"""Stable Audio 3 through the diffusers text-to-audio family: a tiny random
``StableAudio3Pipeline`` (real SAME hop of 4096 samples, T5Gemma with a Gemma tokenizer trained
here) saved in its diffusers layout and loaded back through ``MusicGenerator``. Our output is
the pipeline's own call for the same seed, sample for sample; edits run the inpaint and
audio-to-audio pipelines on the same components."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from music_gen.errors import InvalidInput, UnsupportedFeature
from music_gen.families import inspect_model

RATE = 44100


def _gen(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def test_the_card_comes_from_the_files(sa3_pipeline):
    card = inspect_model(str(sa3_pipeline))
    assert (card.family, card.details["pipeline"]) == ("diffusers_audio", "StableAudio3Pipeline")
    assert (card.sample_rate, card.channels) == (RATE, 2)
    assert card.max_duration == 380.0  # a medium checkpoint's; "small" names get 120 s
    assert {"edit", "negative_prompt", "steps", "guidance", "loop", "stereo"} <= {
        c.value for c in card.capabilities}  # fmt: skip
    assert card.details["defaults"] == {"steps": 8, "guidance_scale": 1.0}  # distilled: 8 steps
    assert card.details["edit_tasks"] == ["repaint", "cover"]
    assert card.license == "stabilityai-community"


def test_defaults_and_samples_are_the_pipelines_own(sa3):
    from diffusers import StableAudio3Pipeline

    pipe = sa3.family_impl.pipe
    assert type(pipe) is StableAudio3Pipeline
    call = inspect.signature(StableAudio3Pipeline.__call__).parameters
    assert sa3.family_impl.default_guidance == call["guidance_scale"].default
    ours = sa3.generate("rain on a tin roof", duration=0.5, seed=3)  # the call's 8 steps
    ref = pipe("rain on a tin roof", duration=0.5, generator=_gen(3)).audios
    assert ours.num_samples == round(0.5 * RATE)
    np.testing.assert_array_equal(ours.samples, ref[0].numpy())
    assert (ours.metadata["steps"], ours.metadata["guidance_scale"]) == (8, 1.0)


def test_guidance_and_negative_prompt_and_a_batch(sa3):
    pipe = sa3.family_impl.pipe
    ours = sa3.generate_batch(["warm pads", "deep bass"], duration=0.3, seed=[1, 2], steps=2,
                              guidance_scale=3.0, negative_prompt="vocals")  # fmt: skip
    ref = pipe(["warm pads", "deep bass"], duration=0.3, num_inference_steps=2, guidance_scale=3.0,
               negative_prompt="vocals", generator=[_gen(1), _gen(2)]).audios  # fmt: skip
    for i, out in enumerate(ours):
        np.testing.assert_array_equal(out.samples, ref[i, :, : round(0.3 * RATE)].numpy())
        assert out.metadata["negative_prompt"] == "vocals"
    plain = sa3.generate("warm pads", duration=0.3, seed=1, steps=2, guidance_scale=3.0)
    assert not np.array_equal(plain.samples, ours[0].samples)  # the negative prompt steers


def test_what_it_refuses(sa3):
    with pytest.raises(InvalidInput) as info:  # the distilled default: guidance off
        sa3.generate("rain", duration=0.3, negative_prompt="vocals")
    assert info.value.code == "INVALID_NEGATIVE_PROMPT"
    with pytest.raises(UnsupportedFeature) as refused:
        sa3.generate("rain", duration=0.3, lyrics="la")
    assert refused.value.details["capability"] == "lyrics"
    source = np.zeros((2, RATE // 2), dtype=np.float32)
    with pytest.raises(InvalidInput) as info:
        sa3.edit("extract", source, track="drums")
    assert info.value.code == "UNSUPPORTED_TASK"
    with pytest.raises(InvalidInput) as info:
        sa3.edit("cover", source, strength=1.0)
    assert info.value.code == "INVALID_STRENGTH"


@pytest.fixture(scope="module")
def source(sa3):
    return sa3.generate("funk groove with slap bass", duration=1.0, seed=11, steps=2)


def test_repaint_keeps_the_outside_exactly(sa3, source):
    from diffusers import StableAudio3InpaintPipeline

    out = sa3.edit("repaint", source, "glitchy percussion", start=0.3, end=0.7, seed=5, steps=2)
    lo, hi = round(0.3 * RATE), round(0.7 * RATE)
    assert out.samples.shape == source.samples.shape
    np.testing.assert_array_equal(out.samples[:, :lo], source.samples[:, :lo])
    np.testing.assert_array_equal(out.samples[:, hi:], source.samples[:, hi:])
    assert not np.allclose(out.samples[:, lo:hi], source.samples[:, lo:hi])
    # inside the range (past the 10 ms fades) it is the inpaint pipeline's own output
    pipe = StableAudio3InpaintPipeline(**sa3.family_impl.pipe.components)
    ref = pipe("glitchy percussion", duration=1.0, audio=torch.from_numpy(source.samples[None]),
               mask_start_seconds=0.3, mask_end_seconds=0.7, num_inference_steps=2,
               generator=_gen(5)).audios[0].numpy()  # fmt: skip
    fade = round(0.01 * RATE)
    np.testing.assert_array_equal(
        out.samples[:, lo + fade : hi - fade], ref[:, lo + fade : hi - fade]
    )


def test_cover_differs_and_is_reproducible(sa3, source):
    from diffusers import StableAudio3AudioToAudioPipeline

    a = sa3.edit("cover", source, "orchestral swell", strength=0.6, seed=2, steps=2)
    b = sa3.edit("cover", source, "orchestral swell", strength=0.6, seed=2, steps=2)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, source.samples)
    assert a.metadata["init_noise_level"] == pytest.approx(0.4)
    pipe = StableAudio3AudioToAudioPipeline(**sa3.family_impl.pipe.components)
    ref = pipe(
        "orchestral swell",
        duration=1.0,
        audio=torch.from_numpy(source.samples[None]),
        init_noise_level=1.0 - 0.6,
        num_inference_steps=2,
        generator=_gen(2),
    ).audios
    np.testing.assert_array_equal(a.samples, ref[0].numpy())
