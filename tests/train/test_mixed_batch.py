"""MusicGen's continuous batcher decodes requests with different adapters (and none) in one
batch; each output equals the request run alone with that adapter merged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from music_gen import MusicGenerator
from music_gen.engine.lora import AdapterBank, LoRAWeights, RowAdapters, RowLoRALinear
from music_gen.errors import InvalidInput

REQ = dict(duration=0.5, seed=9)


def test_mixed_adapters_in_one_batch_equal_solo_merged_runs(trained, tiny_musicgen):
    base = MusicGenerator(str(tiny_musicgen), device="cpu")
    batcher = base.family_impl.batcher(max_requests=3)
    plan = [("funk groove", trained.output, 1.0), ("jazz trio", None, 1.0),
            ("rock band", trained.output, 0.5)]  # fmt: skip
    ids = [
        batcher.submit(base.family_impl.prepare(p, adapter=a, adapter_scale=s, **REQ))
        for p, a, s in plan
    ]
    results = batcher.run()
    for rid, (prompt, adapter, scale) in zip(ids, plan, strict=True):
        if adapter is None:
            solo = base.generate(prompt, **REQ)
        else:
            merged = MusicGenerator(
                str(tiny_musicgen), device="cpu", adapter=adapter, adapter_scale=scale
            )
            solo = merged.generate(prompt, **REQ)
            assert results[rid].metadata["adapter"]["adapter_scale"] == scale
            assert not np.allclose(results[rid].samples, base.generate(prompt, **REQ).samples)
        np.testing.assert_allclose(results[rid].samples, solo.samples, atol=1e-4)
    # the base model's own path is untouched by the installed adapters
    np.testing.assert_array_equal(
        base.generate("jazz trio", **REQ).samples, results[ids[1]].samples
    )


def test_per_request_adapters_for_another_base_are_refused(trained, other_musicgen):
    other = MusicGenerator(str(other_musicgen), device="cpu")
    with pytest.raises(InvalidInput) as err:
        other.family_impl.prepare("x", adapter=trained.output, **REQ)
    assert err.value.code == "ADAPTER_MISMATCH"


def _weights(name: str, mb: float) -> LoRAWeights:
    a = torch.zeros(4, 8)
    return LoRAWeights({"layers.0.fc1": (a, torch.zeros(8, 4), 1.0)}, int(mb * 2**20))


def test_the_bank_evicts_least_recently_used_adapters_not_in_use():
    wrappers = {"layers.0.fc1": RowLoRALinear(torch.nn.Linear(8, 8), RowAdapters())}
    bank = AdapterBank(wrappers, budget_bytes=2 * 2**20)
    bank.add("a", _weights("a", 1))
    bank.add("b", _weights("b", 1))
    bank.touch("a")
    assert bank.add("c", _weights("c", 1)) == ["b"]  # b was used least recently
    assert list(bank.loaded) == ["a", "c"] and "b" not in wrappers["layers.0.fc1"].adapters
    assert bank.add("d", _weights("d", 1), in_use={"a", "c"}) == []  # over budget, all busy
    assert set(bank.loaded) == {"a", "c", "d"}


def test_rows_get_their_own_adapter():
    torch.manual_seed(0)
    state = RowAdapters()
    lin = RowLoRALinear(torch.nn.Linear(4, 3), state)
    a, b = torch.randn(2, 4), torch.randn(3, 2)
    lin.adapters["x"] = (a, b, 0.5)
    x = torch.randn(3, 1, 4)
    state.use_rows(["x", None, "x"])
    y = lin(x)
    base = lin.base(x)
    torch.testing.assert_close(y[1], base[1])
    torch.testing.assert_close(y[0], base[0] + 0.5 * (x[0] @ a.T) @ b.T)
    state.use(None)
    torch.testing.assert_close(lin(x), base)


def test_an_adapter_whose_files_changed_is_loaded_again(trained, tiny_musicgen, tmp_path):
    """An adapter deleted and trained again under its name (the server's store) is not served
    from the bank's stale copy: here its weights are zeroed, so it is the base model."""
    import os
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "renamed"
    shutil.copytree(trained.output, folder)
    base = MusicGenerator(str(tiny_musicgen), device="cpu")
    family = base.family_impl
    batcher = family.batcher(max_requests=1)
    rid = batcher.submit(family.prepare("funk groove", adapter=folder, **REQ))
    adapted = batcher.run()[rid].samples
    assert not np.allclose(adapted, base.generate("funk groove", **REQ).samples, atol=1e-4)
    weights = load_file(str(folder / "adapter_model.safetensors"))
    zero = {k: torch.zeros_like(v) if "lora_B" in k else v for k, v in weights.items()}
    save_file(zero, str(folder / "adapter_model.safetensors"))
    stat = (folder / "adapter_model.safetensors").stat()
    os.utime(folder / "adapter_model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rid = batcher.submit(family.prepare("funk groove", adapter=folder, **REQ))
    np.testing.assert_allclose(
        batcher.run()[rid].samples, base.generate("funk groove", **REQ).samples, atol=1e-4
    )


def test_a_request_with_its_own_adapter_decodes_outside_cuda_graphs(trained, tiny_musicgen):
    """Whole runs and streams of a request with an unmerged adapter open their sessions with
    ``graph=False`` (a captured CUDA graph has no LoRA in it); without one, as ever."""
    from dataclasses import replace

    from music_gen.params import Adapter

    gen = MusicGenerator(str(tiny_musicgen), device="cpu")
    family = gen.family_impl
    asked: list[bool] = []
    session = family.engine.session

    def spy(condition, grid_length, graph=True):
        asked.append(graph)
        return session(condition, grid_length, graph)

    family.engine.session = spy
    request = family.check_inputs(family.request(["funk groove"], **REQ))
    family.run(request)
    assert asked and all(asked)
    asked.clear()
    with_adapter = replace(request, adapter=Adapter(str(trained.output)))
    [alone] = family.run(with_adapter)
    assert asked and not any(asked)
    asked.clear()
    chunks = list(family.stream_request(with_adapter))
    assert asked and not any(asked)
    assert alone.metadata["adapter"]["adapter_scale"] == 1.0
    np.testing.assert_allclose(
        np.concatenate([c.samples for c in chunks], axis=-1), alone.samples, atol=2e-3
    )
