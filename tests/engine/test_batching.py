"""Continuous batching: requests join and leave at step boundaries; outputs equal solo runs."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen import InvalidInput
from music_gen.engine.batching import BatchRequest, ContinuousBatcher


def _alone(gen, r: BatchRequest):
    return gen.generate(
        r.prompt,
        duration=r.duration,
        temperature=r.temperature,
        top_k=r.top_k,
        top_p=r.top_p,
        seed=r.seed,
        guidance_scale=r.guidance_scale,
        melody=r.melody,
        continuation=r.continuation,
    )


@pytest.mark.parametrize("variant", ["mono", "stereo", "melody"])
def test_requests_joining_mid_flight_equal_their_solo_runs(generators, variant):
    gen = generators(variant)
    batcher = ContinuousBatcher(gen, max_requests=2)
    first = [
        BatchRequest("calm piano melody", duration=0.6, seed=1),
        BatchRequest("rock band with loud drums", duration=0.3, seed=2, temperature=0.7, top_p=0.9),
    ]
    late = [
        BatchRequest("ambient", duration=0.4, seed=3, guidance_scale=1.0),  # queued: no slot yet
        BatchRequest("sad violin", duration=0.5, seed=4, temperature=0.0),
    ]
    for r in first:
        batcher.submit(r)
    results = {}
    for _ in range(5):  # a few steps with two requests in flight
        results.update(batcher.step())
    for r in late:
        batcher.submit(r)
    assert len(batcher.queue) == 2
    results.update(batcher.run())
    assert set(results) == {r.id for r in first + late}
    for r in first + late:
        out = results[r.id]
        solo = _alone(gen, r)
        assert out.samples.shape == solo.samples.shape
        np.testing.assert_allclose(out.samples, solo.samples, atol=1e-5)
        assert out.metadata["seed"] == r.seed and out.metadata["prompt"] == r.prompt


def test_long_form_and_continuation_in_a_batch(checkpoints):
    from music_gen import MusicGenerator

    gen = MusicGenerator(
        str(checkpoints["mono"]), device="cpu", window_seconds=1.0, stride_seconds=0.6
    )
    prompt = (0.2 * np.random.default_rng(0).standard_normal((1, 640 * 10))).astype(np.float32)
    requests = [
        BatchRequest("lofi beat", duration=2.3, seed=5),  # 4 windows: 0, 30, 60, 90 frames
        BatchRequest("keep going", duration=0.8, seed=6, continuation=prompt),
    ]
    batcher = ContinuousBatcher(gen, max_requests=2)
    for r in requests:
        batcher.submit(r)
    results = batcher.run()
    for r in requests:
        np.testing.assert_allclose(results[r.id].samples, _alone(gen, r).samples, atol=1e-5)
    assert results[requests[0].id].metadata["windows"] == 4


def test_invalid_requests_are_refused_at_submit(mono):
    batcher = ContinuousBatcher(mono)
    with pytest.raises(InvalidInput):
        batcher.submit(BatchRequest("", duration=1.0))
    with pytest.raises(InvalidInput):
        batcher.submit(BatchRequest("x", duration=-1.0))
    assert batcher.idle
