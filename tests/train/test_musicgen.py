"""MusicGen LoRA fine-tuning: the loss falls, the adapter loads here and in PEFT, and is refused
by other base models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import music_gen
from music_gen import MusicGenerator
from music_gen.errors import InvalidInput, MusicGenError
from music_gen.train import TrainConfig, evaluate_loss

SR = 32000


def test_training_writes_peft_files_and_a_log(trained):
    out = trained.output
    for name in ("adapter_config.json", "adapter_model.safetensors", "training_log.jsonl",
                 "music_gen_adapter.json"):  # fmt: skip
        assert (out / name).is_file(), name
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"}
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, 9))
    assert all(np.isfinite(e["loss"]) and len(e["codebook_losses"]) == 4 for e in log)
    info = json.loads((out / "music_gen_adapter.json").read_text())
    assert info["family"] == "musicgen" and info["dataset"]["windows"] == 6


def test_training_loss_falls_and_held_out_loss_ends_below_the_base(
    trained, tiny_musicgen, held_out_dir
):
    losses = [e["loss"] for e in trained.log]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05
    kw = dict(window_seconds=1.0, min_seconds=0.5)
    base = evaluate_loss(str(tiny_musicgen), held_out_dir, **kw)
    adapted = evaluate_loss(str(tiny_musicgen), held_out_dir, adapter=trained.output, **kw)
    assert adapted < base - 0.02, (base, adapted)


def test_adapted_output_differs_from_the_base_and_is_reproducible(trained, tiny_musicgen):
    base = MusicGenerator(str(tiny_musicgen), device="cpu")
    gen = MusicGenerator(str(tiny_musicgen), device="cpu", adapter=trained.output)
    a = gen.generate("funk groove", duration=0.4, seed=4)
    b = gen.generate("funk groove", duration=0.4, seed=4)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, base.generate("funk groove", duration=0.4, seed=4).samples)
    assert a.metadata["adapter"] == {"adapter": str(trained.output), "adapter_scale": 1.0}
    # the reference engine (transformers' modules) decodes the same merged weights
    ref = MusicGenerator(
        str(tiny_musicgen), device="cpu", engine="reference", adapter=trained.output
    )
    np.testing.assert_array_equal(
        ref.generate("funk groove", duration=0.4, seed=4).samples, a.samples
    )
    # scale 0 is the base model
    zero = MusicGenerator(str(tiny_musicgen), device="cpu", adapter=trained.output, adapter_scale=0)
    np.testing.assert_allclose(
        zero.generate("funk groove", duration=0.4, seed=4).samples,
        base.generate("funk groove", duration=0.4, seed=4).samples,
        atol=1e-5,
    )


def test_peft_on_the_transformers_decoder_gives_our_output(trained, tiny_musicgen):
    """PeftModel.from_pretrained (unmerged LoRA) in plain transformers generates what we do."""
    from peft import PeftModel
    from transformers import AutoTokenizer, MusicgenForConditionalGeneration

    model = MusicgenForConditionalGeneration.from_pretrained(tiny_musicgen).eval()
    PeftModel.from_pretrained(model.decoder, str(trained.output))  # LoRA layers, not merged
    tokens = AutoTokenizer.from_pretrained(tiny_musicgen)(
        ["lofi hip hop beat"], return_tensors="pt"
    )
    with torch.no_grad():
        theirs = model.generate(**tokens, do_sample=False, guidance_scale=3.0, max_new_tokens=23)
    ours = MusicGenerator(str(tiny_musicgen), device="cpu", adapter=trained.output).generate(
        "lofi hip hop beat", duration=20 * 640 / SR, temperature=0.0
    )
    np.testing.assert_allclose(ours.samples, theirs[0].numpy(), atol=1e-4)


def test_an_adapter_for_another_base_is_refused(trained, other_musicgen, tmp_path: Path):
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(other_musicgen), device="cpu", adapter=trained.output)
    assert err.value.code == "ADAPTER_MISMATCH"
    from music_gen.testing import make_tiny_checkpoint

    stereo = make_tiny_checkpoint(tmp_path / "stereo", "stereo")
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(stereo), device="cpu", adapter=trained.output)
    assert err.value.code == "ADAPTER_MISMATCH"
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(other_musicgen), device="cpu", adapter=tmp_path)
    assert err.value.code == "INVALID_ADAPTER"


@pytest.mark.parametrize(
    "settings, code",
    [
        (dict(steps=0), "INVALID_TRAINING_CONFIG"),
        (dict(rank=-1), "INVALID_TRAINING_CONFIG"),
        (dict(learning_rate=float("nan")), "INVALID_TRAINING_CONFIG"),
        (dict(text_dropout=1.0), "INVALID_TRAINING_CONFIG"),
        (dict(batch_size=True), "INVALID_TRAINING_CONFIG"),
        (dict(optimizer="sgd"), "INVALID_TRAINING_CONFIG"),
    ],
)
def test_bad_settings_fail_before_loading(settings, code, tmp_path: Path):
    with pytest.raises(MusicGenError) as err:
        music_gen.train("/nonexistent/model", tmp_path, tmp_path / "out", **settings)
    assert err.value.code == code


def test_bad_target_modules_and_bad_dataset(tiny_musicgen, dataset_dir, tmp_path: Path):
    with pytest.raises(InvalidInput) as err:
        music_gen.train(str(tiny_musicgen), dataset_dir, tmp_path / "o", target_modules=["nope"],
                        steps=1, window_seconds=1.0, device="cpu")  # fmt: skip
    assert err.value.code == "INVALID_TRAINING_CONFIG"
    with pytest.raises(InvalidInput) as err:
        music_gen.train(str(tiny_musicgen), tmp_path, tmp_path / "o2", steps=1, device="cpu")
    assert err.value.code == "INVALID_DATASET"


def test_train_config_round_trips():
    cfg = TrainConfig(steps=3, target_modules=("q_proj",))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.resumable_with(TrainConfig(steps=9, target_modules=("q_proj",)))
    assert not cfg.resumable_with(TrainConfig(steps=3, rank=2, target_modules=("q_proj",)))


def test_an_adapter_by_name_from_the_adapters_folder(trained, tiny_musicgen, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(trained.output, tmp_path / "my-style")
    monkeypatch.setenv("MUSIC_GEN_ADAPTERS", str(tmp_path))
    gen = MusicGenerator(str(tiny_musicgen), device="cpu", adapter="my-style")
    assert gen.generate("x", duration=0.1, seed=0).metadata["adapter"]["adapter"] == str(
        tmp_path / "my-style"
    )
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(tiny_musicgen), device="cpu", adapter="not-there")
    assert err.value.code == "INVALID_ADAPTER"
