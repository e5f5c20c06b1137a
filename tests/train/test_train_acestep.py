"""ACE-Step LoRA fine-tuning: flow matching on the DiT, adapters in PEFT's and diffusers'
formats, equal outputs here and in diffusers, foreign diffusers LoRAs accepted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import music_gen
from music_gen import MusicGenerator
from music_gen.errors import InvalidInput
from music_gen.train import evaluate_loss

ACE = dict(
    steps=8, rank=4, alpha=8.0, learning_rate=1e-2, batch_size=2, window_seconds=1.0,
    min_seconds=0.5, checkpoint_every=4, seed=1, device="cpu",
)  # fmt: skip
GEN = dict(duration=1.0, seed=3, steps=4)


@pytest.fixture(scope="module")
def ace_adapter(song_pipeline, dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ace") / "adapter"
    return music_gen.train(str(song_pipeline), dataset_dir, out, **ACE)


def _pipeline(path: Path):
    from diffusers import AceStepPipeline

    pipe = AceStepPipeline.from_pretrained(str(path))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_files_log_and_losses(ace_adapter, song_pipeline, held_out_dir):
    out = ace_adapter.output
    for name in ("adapter_config.json", "adapter_model.safetensors",
                 "pytorch_lora_weights.safetensors", "training_log.jsonl"):  # fmt: skip
        assert (out / name).is_file(), name
    assert json.loads((out / "music_gen_adapter.json").read_text())["family"] == "acestep"
    losses = [e["loss"] for e in ace_adapter.log]
    assert [e["step"] for e in ace_adapter.log] == list(range(1, 9))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    kw = dict(window_seconds=1.0, min_seconds=0.5)
    base = evaluate_loss(str(song_pipeline), held_out_dir, **kw)
    adapted = evaluate_loss(str(song_pipeline), held_out_dir, adapter=out, **kw)
    assert adapted < base, (base, adapted)


def test_adapted_songs_differ_are_reproducible_and_match_diffusers(ace_adapter, song_pipeline):
    gen = MusicGenerator(str(song_pipeline), device="cpu", dtype="float32",
                         adapter=ace_adapter.output)  # fmt: skip
    a = gen.generate("funk groove", **GEN)
    np.testing.assert_array_equal(a.samples, gen.generate("funk groove", **GEN).samples)
    base = MusicGenerator(str(song_pipeline), device="cpu", dtype="float32").generate(
        "funk groove", **GEN
    )
    assert not np.allclose(a.samples, base.samples, atol=1e-4)
    assert gen.card.details["adapter"]["adapter"] == str(ace_adapter.output)
    # diffusers' own loader, LoRA layers unfused, makes the same song
    pipe = _pipeline(song_pipeline)
    pipe.load_lora_weights(str(ace_adapter.output))
    theirs = pipe(
        prompt="funk groove", audio_duration=1.0, num_inference_steps=4,
        generator=torch.Generator("cpu").manual_seed(3),
    ).audios[0].numpy()  # fmt: skip
    np.testing.assert_allclose(a.samples, theirs[:, : a.samples.shape[-1]], atol=1e-4)


def test_a_diffusers_lora_trained_elsewhere_loads_here(song_pipeline, tmp_path: Path):
    from diffusers import AceStepPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = _pipeline(song_pipeline)
    torch.manual_seed(0)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["to_q", "to_v"], init_lora_weights=False)
    pipe.transformer.add_adapter(config)
    AceStepPipeline.save_lora_weights(
        tmp_path, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer),
        transformer_lora_adapter_metadata=config.to_dict(),
    )  # fmt: skip
    theirs = pipe(
        prompt="jazz", audio_duration=1.0, num_inference_steps=4,
        generator=torch.Generator("cpu").manual_seed(3),
    ).audios[0].numpy()  # fmt: skip
    ours = MusicGenerator(
        str(song_pipeline), device="cpu", dtype="float32", adapter=tmp_path
    ).generate("jazz", **GEN)
    np.testing.assert_allclose(ours.samples, theirs[:, : ours.samples.shape[-1]], atol=1e-4)


def test_adapters_of_the_other_family_are_refused(
    ace_adapter, trained, song_pipeline, tiny_musicgen
):
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(song_pipeline), device="cpu", adapter=trained.output)
    assert err.value.code == "ADAPTER_MISMATCH"
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(tiny_musicgen), device="cpu", adapter=ace_adapter.output)
    assert err.value.code == "ADAPTER_MISMATCH"
    with pytest.raises(InvalidInput) as err:
        MusicGenerator("composer", adapter=ace_adapter.output)
    assert err.value.code == "INVALID_OPTION"
