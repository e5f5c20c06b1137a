"""Each text-to-audio pipeline's spec (``families._t2a``) against the installed diffusers: the
call's own defaults and argument names, the auto-pipeline mapping, and the card a directory's
configs give (AudioLDM2 and LongCat-Audio-DiT from their configs alone)."""

from __future__ import annotations

import inspect
import json

import diffusers
import pytest
from diffusers.pipelines.auto_pipeline import AUTO_TEXT2AUDIO_PIPELINES_MAPPING

from music_gen.families import family_for, inspect_model
from music_gen.families._t2a import SPECS


def test_the_family_takes_every_text_to_audio_pipeline_diffusers_maps():
    assert {cls.__name__ for cls in AUTO_TEXT2AUDIO_PIPELINES_MAPPING.values()} == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_spec_is_the_calls_own(name):
    spec = SPECS[name]
    call = inspect.signature(getattr(diffusers, name).__call__).parameters
    assert call["num_inference_steps"].default == spec.steps
    assert call["guidance_scale"].default == spec.guidance
    assert spec.duration_arg in call and "negative_prompt" in call
    assert ("callback" if spec.callback == "legacy" else "callback_on_step_end") in call
    for task, cls in spec.edits.items():
        edit_call = inspect.signature(getattr(diffusers, cls).__call__).parameters
        assert "audio" in edit_call, task
        assert ("mask_start_seconds" if task == "repaint" else "init_noise_level") in edit_call


def _directory(tmp_path, class_name, configs):
    tmp_path.joinpath("model_index.json").write_text(json.dumps({"_class_name": class_name}))
    for part, (file, config) in configs.items():
        tmp_path.joinpath(part).mkdir()
        tmp_path.joinpath(part, file).write_text(json.dumps(config))
    return str(tmp_path)


def test_audioldm2_and_longcat_cards_from_their_configs(tmp_path):
    (tmp_path / "ldm").mkdir()
    ldm = _directory(tmp_path / "ldm", "AudioLDM2Pipeline",
                     {"vocoder": ("config.json", {"sampling_rate": 16000})})  # fmt: skip
    card = inspect_model(ldm)
    assert family_for(ldm)[0].name == card.family == "diffusers_audio"
    assert (card.sample_rate, card.channels, card.max_duration) == (16000, 1, 30.0)
    assert card.details["defaults"] == {"steps": 200, "guidance_scale": 3.5}
    assert {"loop", "negative_prompt"} <= {c.value for c in card.capabilities}
    assert "edit" not in {c.value for c in card.capabilities}
    (tmp_path / "lc").mkdir()
    vae = {"vae": ("config.json", {"sample_rate": 24000, "in_channels": 1})}
    longcat = _directory(tmp_path / "lc", "LongCatAudioDiTPipeline", vae)
    card = inspect_model(longcat)
    assert (card.sample_rate, card.channels, card.max_duration) == (24000, 1, 30.0)
    assert "loop" not in {c.value for c in card.capabilities}  # speech and sound effects


def test_a_stable_audio_3_small_name_has_its_limit(tmp_path):
    (tmp_path / "stable-audio-3-small").mkdir()
    path = _directory(tmp_path / "stable-audio-3-small", "StableAudio3Pipeline", {
        "scheduler": ("scheduler_config.json", {"stochastic_sampling": False}),
        "transformer": ("config.json", {"patch_size": 2}),
    })  # fmt: skip
    card = inspect_model(path)
    assert card.max_duration == 120.0
    assert card.details["defaults"]["steps"] == 100  # a base (not distilled) checkpoint
    assert card.details["edit_tasks"] == ["cover"]  # no inpaint conditioning at patch size 2
