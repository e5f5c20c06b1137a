"""Continuous batching: requests join and leave at step boundaries; outputs equal solo runs."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen import InvalidInput
from music_gen.engine.batching import ContinuousBatcher


def _request(prompt: str, **kwargs):
    return {"prompt": prompt, **kwargs}


def _submit(gen, batcher: ContinuousBatcher, requests: list[dict]) -> list[str]:
    """The batcher takes prepared requests: the family validates and prepares them."""
    return [batcher.submit(gen.family_impl.prepare(**r)) for r in requests]


@pytest.mark.parametrize("variant", ["mono", "stereo", "melody"])
def test_requests_joining_mid_flight_equal_their_solo_runs(generators, variant):
    gen = generators(variant)
    batcher = gen.family_impl.batcher(max_requests=2)
    first = [
        _request("calm piano melody", duration=0.6, seed=1),
        _request("rock band with loud drums", duration=0.3, seed=2, temperature=0.7, top_p=0.9),
    ]
    late = [
        _request("ambient", duration=0.4, seed=3, guidance_scale=1.0),  # queued: no slot yet
        _request("sad violin", duration=0.5, seed=4, temperature=0.0),
    ]
    ids = _submit(gen, batcher, first)
    results = {}
    for _ in range(5):  # a few steps with two requests in flight
        results.update(batcher.step())
    ids += _submit(gen, batcher, late)
    assert len(batcher.queue) == 2
    results.update(batcher.run())
    assert set(results) == set(ids)
    for rid, r in zip(ids, first + late, strict=True):
        out = results[rid]
        solo = gen.generate(**r)
        assert out.samples.shape == solo.samples.shape
        np.testing.assert_allclose(out.samples, solo.samples, atol=1e-5)
        assert out.metadata["seed"] == r["seed"] and out.metadata["prompt"] == r["prompt"]


def test_long_form_and_continuation_in_a_batch(checkpoints):
    from music_gen import MusicGenerator

    gen = MusicGenerator(
        str(checkpoints["mono"]), device="cpu", window_seconds=1.0, stride_seconds=0.6
    )
    prompt = (0.2 * np.random.default_rng(0).standard_normal((1, 640 * 10))).astype(np.float32)
    requests = [
        _request("lofi beat", duration=2.3, seed=5),  # 4 windows: 0, 30, 60, 90 frames
        _request("keep going", duration=0.8, seed=6, continuation=prompt),
    ]
    batcher = ContinuousBatcher(gen.family_impl.runtime, max_requests=2)
    ids = _submit(gen, batcher, requests)
    results = batcher.run()
    for rid, r in zip(ids, requests, strict=True):
        np.testing.assert_allclose(results[rid].samples, gen.generate(**r).samples, atol=1e-5)
    assert results[ids[0]].metadata["windows"] == 4


def test_invalid_requests_are_refused_before_the_batcher(mono):
    batcher = mono.family_impl.batcher()
    with pytest.raises(InvalidInput):
        batcher.submit(mono.family_impl.prepare("", duration=1.0))
    with pytest.raises(InvalidInput):
        batcher.submit(mono.family_impl.prepare("x", duration=-1.0))
    assert batcher.idle
