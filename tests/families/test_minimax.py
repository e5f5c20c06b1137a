"""The MiniMax Music 3 family (diffusers ``MiniMaxMusic3ModularPipeline``) on a tiny random
pipeline saved in the real modular layout and loaded back through ``MusicGenerator``: picked from
``modular_model_index.json``, sample for sample equal to the pipeline's own call, and refusing
what the pipeline cannot take by capability."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from music_gen import (
    GenerationFailed,
    InvalidInput,
    ModelNotAvailable,
    MusicGenerator,
    UnsupportedFeature,
)
from music_gen.families import family_for, inspect_model
from music_gen.families.licenses import allows_commercial, license_of

LYRICS = "[verse]\nwalking down the empty street\n[chorus]\nsing it loud"
CAPTION = "Genre: synth pop. Mood: bright. Vocals: warm female lead."


@pytest.fixture(scope="module")
def minimax(minimax_pipeline):
    return MusicGenerator(str(minimax_pipeline), device="cpu")


@pytest.fixture(scope="module")
def reference(minimax_pipeline):
    """The pipeline as diffusers' own documented path loads it (not through music-gen)."""
    from diffusers import ModularPipeline

    pipe = ModularPipeline.from_pretrained(str(minimax_pipeline))
    pipe.load_components(dtype=torch.float32)
    return pipe


def _pipeline_call(pipe, seed: int, **kwargs) -> np.ndarray:
    generator = torch.Generator("cpu").manual_seed(seed)
    return pipe(generator=generator, output="audios", **kwargs)[0]


def test_the_registry_picks_it_from_the_modular_index(minimax_pipeline):
    index = json.loads((minimax_pipeline / "modular_model_index.json").read_text())
    assert index["_class_name"] == "MiniMaxMusic3ModularPipeline"
    assert not (minimax_pipeline / "model_index.json").exists()
    cls, files = family_for(str(minimax_pipeline))
    assert cls.name == "minimax_music3" and files.class_name == index["_class_name"]
    card = inspect_model(str(minimax_pipeline))
    assert {c.value for c in card.capabilities} == {"text", "stereo", "lyrics", "steps", "guidance"}
    assert (card.sample_rate, card.channels, card.max_duration) == (44100, 2, 300.0)
    assert card.details == {"frame_rate": 25.0, "latent_hop": 512}  # the real rates
    assert card.license == "minimax-music3-community-license"  # its README's license_name
    # the published name's licence, with no card at hand: custom and conditional
    assert license_of("MiniMaxAI/MiniMax-Music3") == "minimax-music3-community-license"
    assert allows_commercial(card.license) is None


def test_the_published_name_has_a_card_before_its_download(tmp_path):
    """``MiniMaxAI/MiniMax-Music3`` is known by name: listed with the released checkpoint's
    card with nothing cached, and loading it offline says it is not in the cache."""
    card = inspect_model("MiniMaxAI/MiniMax-Music3")
    assert card.family == "minimax_music3" and card.can("lyrics")
    assert (card.sample_rate, card.channels, card.details["latent_hop"]) == (44100, 2, 512)
    assert card.size == "11.7B"  # 11,741,745,387 parameters (benchmarks/bench_minimax.py)
    with pytest.raises(ModelNotAvailable) as info:
        MusicGenerator("MiniMaxAI/MiniMax-Music3", device="cpu", cache_dir=tmp_path)
    assert "not in the local cache" in info.value.message


def test_generate_equals_the_pipelines_own_call(minimax, reference):
    out = minimax.generate(CAPTION, lyrics=LYRICS, duration=1.0, steps=3, seed=11)
    expected = _pipeline_call(reference, 11, prompt=CAPTION, lyrics=LYRICS, audio_duration=1.0,
                              num_inference_steps=3)  # fmt: skip
    assert out.samples.dtype == np.float32 and out.samples.shape == expected.shape
    np.testing.assert_array_equal(out.samples, expected)
    # 25 frames at 25 Hz -> int(25 * 44100/24000 * 960/512) = 86 latents of 512 samples
    assert (out.sample_rate, out.channels, out.num_samples) == (44100, 2, 86 * 512)
    meta = out.metadata
    assert meta["family"] == "minimax_music3" and meta["seed"] == 11 and meta["steps"] == 3
    assert meta["guidance_scale"] == pytest.approx(1.7)  # the pipeline's guider default
    assert meta["requested_duration"] == 1.0 and meta["duration"] == pytest.approx(86 * 512 / 44100)
    again = minimax.generate(CAPTION, lyrics=LYRICS, duration=1.0, steps=3, seed=12)
    assert not np.array_equal(again.samples, out.samples)


def test_a_long_song_is_cut_to_the_duration_asked(minimax, reference):
    """12 s = 300 frames in two overlapping windows: the pipeline stitches 529,408 samples,
    216 more than 12 s; ours is exactly its first 529,200."""
    out = minimax.generate(CAPTION, lyrics=LYRICS, duration=12.0, steps=1, seed=2)
    expected = _pipeline_call(reference, 2, prompt=CAPTION, lyrics=LYRICS, audio_duration=12.0,
                              num_inference_steps=1)  # fmt: skip
    assert expected.shape[-1] == 529_408 and out.num_samples == 12 * 44100
    np.testing.assert_array_equal(out.samples, expected[:, : 12 * 44100])
    assert out.metadata["duration"] == 12.0


def test_guidance_is_the_guiders_scale_for_that_call_only(minimax, reference):
    from diffusers import ClassifierFreeGuidance

    out = minimax.generate(CAPTION, lyrics=LYRICS, duration=0.5, steps=2, seed=4,
                           guidance_scale=3.0)  # fmt: skip
    own = reference.guider
    reference.update_components(guider=ClassifierFreeGuidance(guidance_scale=3.0))
    try:
        expected = _pipeline_call(reference, 4, prompt=CAPTION, lyrics=LYRICS,
                                  audio_duration=0.5, num_inference_steps=2)  # fmt: skip
    finally:
        reference.update_components(guider=own)
    np.testing.assert_array_equal(out.samples, expected)
    assert minimax.family_impl.pipe.guider.guidance_scale == pytest.approx(1.7)  # put back


def test_no_duration_is_the_pipelines_60_s_or_the_limit_where_shorter(minimax_pipeline):
    capped = MusicGenerator(str(minimax_pipeline), device="cpu", max_duration=0.4)
    out = capped.generate("pop", lyrics=LYRICS, steps=1, seed=0)
    assert out.metadata["requested_duration"] == 0.4 and out.num_samples == 34 * 512
    assert capped.family_impl.request(["pop"]).duration is None  # filled by the check
    assert capped.family_impl.default_duration == 60.0


def test_a_batch_is_each_prompt_with_its_own_seed(minimax):
    lyrics = [LYRICS, "[chorus]\nla la la"]
    a, b = minimax.generate_batch(["pop", "rock"], lyrics=lyrics, duration=0.5, steps=2,
                                  seed=[1, 2])  # fmt: skip
    alone = minimax.generate("rock", lyrics=lyrics[1], duration=0.5, steps=2, seed=2)
    np.testing.assert_array_equal(b.samples, alone.samples)
    assert a.metadata["batch_index"] == 0 and b.metadata["batch_index"] == 1


def test_a_moved_copy_loads_from_where_it_is(minimax_pipeline, minimax, tmp_path):
    """The saved index names the directory it was saved to; a copy elsewhere loads its own
    files (diffusers' local-copy rule), so the copy makes the same song."""
    copy = shutil.copytree(minimax_pipeline, tmp_path / "copied")
    moved = MusicGenerator(str(copy), device="cpu")
    a = moved.generate("pop", lyrics=LYRICS, duration=0.5, steps=2, seed=9)
    b = minimax.generate("pop", lyrics=LYRICS, duration=0.5, steps=2, seed=9)
    np.testing.assert_array_equal(a.samples, b.samples)


def test_progress_reaches_the_end_and_cancel_stops_between_steps(minimax):
    seen: list[tuple[int, int]] = []
    minimax.generate("pop", lyrics=LYRICS, duration=0.4, steps=2, seed=1,
                     progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and seen[-1] == (10 + 2, 10 + 2)  # 10 frames, then 2 steps
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(GenerationFailed) as info:
        minimax.generate("pop", lyrics=LYRICS, duration=0.4, steps=2, seed=1,
                         cancelled=cancelled)  # fmt: skip
    assert info.value.code == "CANCELLED"
    assert minimax.family_impl.pipe.language_model.model._forward_pre_hooks == {}  # hooks removed


@pytest.mark.parametrize(
    ("keywords", "capability"),
    [
        ({"reference": np.zeros((2, 44100), np.float32)}, "reference_audio"),
        ({"bpm": 120}, "bpm"),
        ({"key": "A minor"}, "key"),
        ({"time_signature": "4/4"}, "time_signature"),
        ({"vocal_language": "en"}, "language"),
    ],
)
def test_what_the_pipeline_cannot_take_is_refused_by_capability(minimax, keywords, capability):
    with pytest.raises(UnsupportedFeature) as info:
        minimax.generate("pop", lyrics=LYRICS, duration=0.5, **keywords)
    assert info.value.details["capability"] == capability
    assert f"'{capability}' capability" in str(info.value)


def test_no_lyrics_no_edits_no_loops(minimax, tmp_path):
    for lyrics in (None, "", "  \n"):
        with pytest.raises(InvalidInput) as info:
            minimax.generate("an instrumental", lyrics=lyrics, duration=0.5)
        assert info.value.code == "INVALID_LYRICS" and "instrumental" in info.value.message
    with pytest.raises(UnsupportedFeature) as edit:
        minimax.edit("repaint", np.zeros((2, 44100), np.float32), "pop", start=0.1, end=0.2)
    assert edit.value.details["capability"] == "edit"
    with pytest.raises(UnsupportedFeature) as loop:
        minimax.generate("drums", lyrics=LYRICS, loop=True, bpm=120, bars=1)
    assert "loop" in str(loop.value)
    with pytest.raises(InvalidInput) as long:
        minimax.generate("pop", lyrics=LYRICS, duration=301.0)
    assert long.value.code == "INVALID_DURATION"


def test_a_prompt_past_the_pipelines_5000_tokens_is_refused_before_it_runs(minimax):
    lyrics = "[verse]\n" + "夜" * 3000  # 9,000 bytes: one token each in the tiny vocabulary
    with pytest.raises(InvalidInput) as info:
        minimax.generate("pop", lyrics=lyrics, duration=0.5)
    assert info.value.code == "INVALID_LYRICS" and info.value.details["max_tokens"] == 5000
    assert info.value.details["tokens"] > 5000


def test_a_song_the_model_ends_at_once_fails_with_the_reason(minimax_pipeline):
    """The language model may end a song before its first frame (it picks the end-of-audio
    token): the pipeline's ValueError becomes GENERATION_FAILED saying so."""
    ends = MusicGenerator(str(minimax_pipeline), device="cpu")

    def end_first(module, args, logits):  # end-of-audio far above every audio code
        logits[..., 151_670] = 1e4
        return logits

    ends.family_impl.pipe.language_model.lm_head.register_forward_hook(end_first)
    with pytest.raises(GenerationFailed) as info:
        ends.generate("pop", lyrics=LYRICS, duration=0.5, steps=1, seed=0)
    assert info.value.code == "GENERATION_FAILED" and "first frame" in info.value.message
