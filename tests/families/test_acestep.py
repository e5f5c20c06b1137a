"""The ACE-Step family on a tiny random pipeline: what it promises, checked against diffusers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from music_gen import InvalidInput, MusicGenerator, UnsupportedFeature
from music_gen.families import Capability, detect_family, inspect_model
from music_gen.params import SongParams

LYRICS = "[verse]\nwalking down the empty street\n\n[chorus]\nsing it loud"


def song(songs, **kwargs):
    args = {"duration": 1.0, "seed": 3, "steps": 3, **kwargs}
    return songs.generate("upbeat pop song with bright vocals", **args)


def test_the_loader_picks_the_family_from_the_files(song_pipeline, checkpoints):
    assert detect_family(str(song_pipeline)) == "acestep"
    assert detect_family(str(checkpoints["mono"])) == "musicgen"
    assert detect_family("composer") == "composer"
    card = inspect_model(str(song_pipeline))
    assert card.family == "acestep" and card.sample_rate == 48000 and card.channels == 2
    assert {Capability.LYRICS, Capability.EDIT, Capability.BPM} <= card.capabilities
    assert Capability.LYRICS not in inspect_model(str(checkpoints["mono"])).capabilities


def test_a_song_has_the_exact_length_rate_and_channels(songs):
    out = song(songs, duration=1.3, lyrics=LYRICS)
    assert songs.family == "acestep" and songs.can("lyrics")
    assert (out.sample_rate, out.channels, out.num_samples) == (48000, 2, round(1.3 * 48000))
    assert out.samples.dtype == np.float32 and np.isfinite(out.samples).all()
    assert out.metadata["family"] == "acestep" and out.metadata["lyrics"] == LYRICS
    assert out.metadata["steps"] == 3 and out.metadata["seed"] == 3


def test_same_seed_same_song_other_seed_other_song(songs):
    a, b, c = song(songs), song(songs), song(songs, seed=4)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)


def test_lyrics_and_metadata_change_the_song(songs):
    plain = song(songs)
    sung = song(songs, lyrics=LYRICS)
    keyed = song(songs, bpm=90, key="F# minor", time_signature="3/4")
    assert not np.allclose(plain.samples, sung.samples)
    assert not np.allclose(plain.samples, keyed.samples)
    assert keyed.metadata["key"] == "F# minor" and keyed.metadata["time_signature"] == "3"


def test_generate_equals_diffusers_own_pipeline(songs, song_pipeline):
    from diffusers import AceStepPipeline

    pipe = AceStepPipeline.from_pretrained(str(song_pipeline), dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    for duration, seed, steps, guidance in ((1.0, 11, 4, 1.0), (1.7, 12, 2, 1.0)):
        ours = songs.generate(
            "lofi hip hop beat", lyrics=LYRICS, duration=duration, seed=seed, steps=steps,
            guidance_scale=guidance,
        )  # fmt: skip
        theirs = pipe(
            prompt="lofi hip hop beat",
            lyrics=LYRICS,
            audio_duration=duration,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator("cpu").manual_seed(seed),
        ).audios[0]
        assert theirs.shape[-1] >= ours.num_samples  # the pipeline makes whole latent frames
        np.testing.assert_array_equal(ours.samples, theirs[:, : ours.num_samples].numpy())


def test_defaults_are_the_checkpoints_own(songs):
    out = songs.generate("ambient pad", duration=0.5, seed=1)
    assert out.metadata["steps"] == 8  # turbo checkpoints: 8 steps
    assert out.metadata["guidance_scale"] == 1.0  # guidance is distilled into turbo weights
    assert out.num_samples == 24000


def test_a_batch_equals_each_single_run(songs):
    # two rows of equal token lengths share a call; the third has its own
    prompts = ["upbeat pop song", "upbeat pop song", "slow sad ballad with piano and strings"]
    lyrics = [LYRICS, LYRICS, "[verse]\nhold me close"]
    batch = songs.generate_batch(prompts, lyrics=lyrics, duration=1.0, seed=[5, 6, 7], steps=2)
    rows = [SongParams.validate(duration=1.0, max_duration=600, lyrics=x, steps=2) for x in lyrics]
    assert len(songs.family_impl._groups(prompts, rows)) == 2
    for i, out in enumerate(batch):
        alone = songs.generate(prompts[i], lyrics=lyrics[i], duration=1.0, seed=5 + i, steps=2)
        np.testing.assert_allclose(out.samples, alone.samples, atol=1e-5)
        assert out.metadata["batch_index"] == i and out.metadata["prompt"] == prompts[i]


def test_progress_is_reported_per_denoising_step(songs):
    seen = []
    song(songs, steps=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_repaint_keeps_the_source_outside_its_range(songs):
    source = song(songs, duration=2.0, seed=21)
    out = songs.edit("repaint", source, "guitar solo", start=0.6, end=1.4, seed=2, steps=2)
    lo, hi = round(0.6 * 48000), round(1.4 * 48000)
    assert out.num_samples == source.num_samples
    np.testing.assert_array_equal(out.samples[:, :lo], source.samples[:, :lo])
    np.testing.assert_array_equal(out.samples[:, hi:], source.samples[:, hi:])
    assert not np.allclose(out.samples[:, lo:hi], source.samples[:, lo:hi])
    assert out.metadata["task"] == "repaint" and out.metadata["repainting_start"] == 0.6


@pytest.mark.parametrize(
    ("task", "kwargs"),
    [
        ("cover", {"strength": 0.5}),
        ("extract", {"track": "vocals"}),
        ("lego", {"track": "drums"}),
        ("complete", {"tracks": ["bass", "drums"]}),
    ],
)
def test_every_edit_task_returns_audio_of_the_sources_length(songs, task, kwargs):
    source = song(songs, duration=1.0, seed=22)
    out = songs.edit(task, source, "funk", seed=1, steps=2, **kwargs)
    assert (out.num_samples, out.channels, out.sample_rate) == (48000, 2, 48000)
    assert np.isfinite(out.samples).all() and not np.allclose(out.samples, source.samples)
    assert out.metadata["task"] == task


def test_edit_refusals(songs, mono):
    source = song(songs, duration=1.0)
    with pytest.raises(InvalidInput) as err:
        songs.edit("remix", source)
    assert err.value.code == "INVALID_TASK"
    with pytest.raises(InvalidInput) as err:
        songs.edit("extract", source, track="kazoo")
    assert err.value.code == "INVALID_TRACK"
    with pytest.raises(InvalidInput) as err:
        songs.edit("repaint", source, start=0.5, end=3.0)
    assert err.value.code == "INVALID_RANGE"
    with pytest.raises(UnsupportedFeature) as unsupported:
        mono.edit("repaint", source)
    assert unsupported.value.details["capability"] == "edit"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"lyrics": "la " * 3000}, "INVALID_LYRICS"),
        ({"vocal_language": "klingon"}, "INVALID_LANGUAGE"),
        ({"key": "H major"}, "INVALID_KEY"),
        ({"bpm": 20}, "INVALID_BPM"),
        ({"bpm": 301}, "INVALID_BPM"),
        ({"time_signature": "5/4"}, "INVALID_TIME_SIGNATURE"),
        ({"duration": 601.0}, "INVALID_DURATION"),
        ({"steps": 0}, "INVALID_STEPS"),
    ],
)
def test_bad_song_input_is_refused_with_a_code(songs, kwargs, code):
    with pytest.raises(InvalidInput) as err:
        songs.generate("pop", **{"duration": 1.0, **kwargs})
    assert err.value.code == code


@pytest.mark.parametrize(
    ("model", "feature", "value", "capability"),
    [
        ("mono", "lyrics", "la la", "lyrics"),
        ("mono", "bpm", 120, "bpm"),
        ("composer", "key", "C major", "key"),
        ("composer", "melody", np.zeros(32000, np.float32), "melody"),
    ],
)
def test_features_a_family_lacks_name_the_capability(generators, model, feature, value, capability):
    gen = MusicGenerator("composer") if model == "composer" else generators(model)
    with pytest.raises(UnsupportedFeature) as err:
        gen.generate("pop", duration=1.0, **{feature: value})
    assert err.value.details["capability"] == capability
    assert capability in str(err.value)


def test_musicgen_options_are_refused_for_other_families(song_pipeline):
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(song_pipeline), device="cpu", quantize="int8")
    assert err.value.code == "INVALID_OPTION"
