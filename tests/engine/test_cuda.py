"""The GPU path: CUDA graphs replay what eager static-shape decoding computes.

Skipped where no CUDA device is present (CI and the development machines have none); run on a
GPU host with ``pytest tests/engine/test_cuda.py``.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("variant", ["mono", "melody"])
def test_cuda_graph_tokens_equal_eager_static_tokens(checkpoints, variant):
    from music_gen import MusicGenerator

    gen = MusicGenerator(str(checkpoints[variant]), device="cuda", dtype="float32")
    assert gen.family_impl.engine.graph is not None
    graphed = gen.generate_batch(["calm piano", "rock band"], duration=1.0, seed=3, temperature=0)
    gen.family_impl.engine.graph = None  # same static layout, eager
    eager = gen.generate_batch(["calm piano", "rock band"], duration=1.0, seed=3, temperature=0)
    for a, b in zip(graphed, eager, strict=True):
        torch.testing.assert_close(torch.from_numpy(a.samples), torch.from_numpy(b.samples))


def test_cuda_bf16_generation_runs(checkpoints):
    from music_gen import MusicGenerator

    gen = MusicGenerator(str(checkpoints["stereo"]), device="cuda")
    assert gen.family_impl.loaded.dtype in (torch.bfloat16, torch.float16)
    out = gen.generate("x", duration=0.5, seed=1)
    assert out.samples.shape == (2, 16000)
