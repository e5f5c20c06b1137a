"""Stable Audio 3 LoRA fine-tuning: flow matching on the DiT, the adapter in PEFT's layout,
merged at load or per request, equal to the diffusers pipeline with PEFT's own loader; a run
stopped after a checkpoint resumes to the adapter an uninterrupted run writes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import music_gen
from music_gen import MusicGenerator
from music_gen.errors import InvalidInput, UnsupportedFeature
from music_gen.params import Adapter
from music_gen.train import evaluate_loss

SA = dict(
    steps=6, rank=4, alpha=8.0, learning_rate=1e-2, batch_size=2, window_seconds=1.0,
    min_seconds=0.5, checkpoint_every=3, seed=1, device="cpu",
)  # fmt: skip
GEN = dict(duration=1.0, seed=3)


@pytest.fixture(scope="module")
def sa_adapter(sa3_pipeline, dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sa3-lora") / "adapter"
    return music_gen.train(str(sa3_pipeline), dataset_dir, out, **SA)


@pytest.fixture(scope="module")
def sa_base(sa3_pipeline):
    return MusicGenerator(str(sa3_pipeline), device="cpu", dtype="float32")


def test_files_log_and_losses(sa_adapter, sa3_pipeline, held_out_dir):
    out = sa_adapter.output
    for name in ("adapter_config.json", "adapter_model.safetensors", "training_log.jsonl"):
        assert (out / name).is_file(), name
    info = json.loads((out / "music_gen_adapter.json").read_text())
    assert (info["family"], info["pipeline"]) == ("diffusers_audio", "StableAudio3Pipeline")
    assert info["base"]["architecture"]["class"] == "StableAudio3DiTModel"
    keys = load_file(str(out / "adapter_model.safetensors")).keys()
    assert any("self_attn.to_qkv.lora_A" in k for k in keys)
    assert any("cross_attn.to_kv.lora_B" in k for k in keys)
    assert [e["step"] for e in sa_adapter.log] == list(range(1, 7))
    losses = [e["loss"] for e in sa_adapter.log]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    kw = dict(window_seconds=1.0, min_seconds=0.5)
    base = evaluate_loss(str(sa3_pipeline), held_out_dir, **kw)
    adapted = evaluate_loss(str(sa3_pipeline), held_out_dir, adapter=out, **kw)
    assert adapted < base, (base, adapted)


def test_adapted_audio_differs_is_reproducible_and_matches_peft_on_diffusers(
    sa_adapter, sa3_pipeline, sa_base
):
    from diffusers import StableAudio3Pipeline
    from peft import PeftModel

    gen = MusicGenerator(str(sa3_pipeline), device="cpu", dtype="float32",
                         adapter=sa_adapter.output)  # fmt: skip
    assert gen.card.can("adapter")
    a = gen.generate("funk groove", **GEN)
    np.testing.assert_array_equal(a.samples, gen.generate("funk groove", **GEN).samples)
    base = sa_base.generate("funk groove", **GEN)
    assert not np.allclose(a.samples, base.samples, atol=1e-4)
    assert gen.card.details["adapter"]["adapter"] == str(sa_adapter.output)
    # the plain diffusers pipeline with PEFT's own loader (LoRA layers unmerged): same audio
    pipe = StableAudio3Pipeline.from_pretrained(str(sa3_pipeline))
    pipe.set_progress_bar_config(disable=True)
    PeftModel.from_pretrained(pipe.transformer, str(sa_adapter.output))
    theirs = pipe(prompt="funk groove", duration=1.0,
                  generator=torch.Generator("cpu").manual_seed(3)).audios[0].numpy()  # fmt: skip
    np.testing.assert_allclose(a.samples, theirs[:, : a.samples.shape[-1]], atol=1e-4)


def test_a_requests_adapter_equals_the_merged_one_and_goes_away(sa_adapter, sa3_pipeline, sa_base):
    family = sa_base.family_impl
    before = sa_base.generate("funk groove", **GEN).samples
    request = replace(family.request(["funk groove"], **GEN),
                      adapter=Adapter(str(sa_adapter.output), 0.7))  # fmt: skip
    [ours] = family.run(family.check_request(family.card, request))
    merged = MusicGenerator(str(sa3_pipeline), device="cpu", dtype="float32",
                            adapter=sa_adapter.output, adapter_scale=0.7)  # fmt: skip
    np.testing.assert_allclose(ours.samples, merged.generate("funk groove", **GEN).samples,
                               atol=1e-4)  # fmt: skip
    assert ours.metadata["adapter"] == {"adapter": str(sa_adapter.output), "adapter_scale": 0.7}
    np.testing.assert_array_equal(sa_base.generate("funk groove", **GEN).samples, before)
    assert not any("lora_" in n for n, _ in family.pipe.transformer.named_parameters())


def test_a_stopped_run_resumes_to_the_same_adapter(sa_adapter, sa3_pipeline, dataset_dir, tmp_path):
    out = tmp_path / "adapter"

    def stop(step: int, total: int, loss: float) -> None:
        if step == 5:  # after the step-3 checkpoint, before the end
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        music_gen.train(str(sa3_pipeline), dataset_dir, out, progress=stop, **SA)
    assert not (out / "adapter_model.safetensors").exists()
    result = music_gen.train(str(sa3_pipeline), dataset_dir, out, **SA)
    assert result.resumed_from == 3
    ours = load_file(str(out / "adapter_model.safetensors"))
    theirs = load_file(str(sa_adapter.output / "adapter_model.safetensors"))
    assert ours.keys() == theirs.keys()
    for key in ours:  # same data, seed and settings: the same adapter, bit for bit
        assert torch.equal(ours[key], theirs[key]), key
    assert [e["loss"] for e in result.log] == [e["loss"] for e in sa_adapter.log]


def test_other_bases_are_refused(sa_adapter, tmp_path: Path, tiny_musicgen):
    from music_gen.testing import make_tiny_sa3_pipeline

    other = make_tiny_sa3_pipeline(tmp_path / "other-sa3", seed=7)
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(other), device="cpu", adapter=sa_adapter.output)
    assert err.value.code == "ADAPTER_MISMATCH"
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(tiny_musicgen), device="cpu", adapter=sa_adapter.output)
    assert err.value.code == "ADAPTER_MISMATCH"
    with pytest.raises(UnsupportedFeature):  # a composer model takes no adapter, nor trains
        music_gen.train("composer", tmp_path, tmp_path / "out", steps=1)


def test_cli_trains_and_generates_with_it(sa3_pipeline, dataset_dir, tmp_path: Path, capsys):
    from music_gen.cli import main

    out = tmp_path / "adapter"
    code = main(["train", "--model", str(sa3_pipeline), "--data", str(dataset_dir), "--output",
                 str(out), "--steps", "2", "--rank", "2", "--window-seconds", "1",
                 "--device", "cpu", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2]
    wav = tmp_path / "x.wav"
    code = main(["generate", "funk", "--model", str(sa3_pipeline), "--adapter", str(out),
                 "--adapter-scale", "0.5", "--duration", "0.5", "--output", str(wav),
                 "--device", "cpu", "--quiet"])  # fmt: skip
    assert code == 0 and wav.is_file()


def test_stable_audio_open_takes_no_adapter(sa_adapter, tmp_path: Path):
    from music_gen.families import inspect_model
    from music_gen.testing import make_tiny_audio_pipeline

    sao = make_tiny_audio_pipeline(tmp_path / "sao")
    assert not inspect_model(str(sao)).can("adapter")
    with pytest.raises(UnsupportedFeature):
        MusicGenerator(str(sao), device="cpu", adapter=sa_adapter.output)
    with pytest.raises(UnsupportedFeature):
        music_gen.train(str(sao), tmp_path, tmp_path / "out", steps=1)
