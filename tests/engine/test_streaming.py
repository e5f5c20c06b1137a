"""Streaming: chunks arrive while decoding and add up to the one-shot output."""

from __future__ import annotations

import numpy as np
import pytest

from music_gen.engine.streaming import chunk_bounds

SR = 32000
#: the stated tolerance: chunked EnCodec decoding (50 frames of left context, 5 of lookahead)
#: against the one-shot decode, as a fraction of the one-shot signal's peak
TOLERANCE = 1e-3


def test_chunk_bounds_cover_the_output_once():
    assert list(chunk_bounds(120, 25, 50)) == [(0, 25), (25, 75), (75, 120)]
    assert list(chunk_bounds(10, 25, 50)) == [(0, 10)]


@pytest.mark.parametrize("variant", ["mono", "stereo", "melody"])
def test_stream_concatenates_to_the_one_shot_output(generators, variant):
    gen = generators(variant)
    whole = gen.generate("lofi hip hop beat", duration=3.3, seed=9)
    chunks = list(
        gen.generate_stream(
            "lofi hip hop beat", duration=3.3, seed=9, chunk_seconds=1.0, first_chunk_seconds=0.3
        )
    )
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c.metadata["final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[0].duration == pytest.approx(0.3, abs=0.02)
    joined = np.concatenate([c.samples for c in chunks], axis=-1)
    assert joined.shape == whole.samples.shape
    err = np.abs(joined - whole.samples).max() / np.abs(whole.samples).max()
    assert err < TOLERANCE
    assert chunks[-1].metadata["seed"] == 9 and chunks[-1].metadata["frames"] == 165


def test_chunks_arrive_before_generation_ends(mono):
    """The first chunk is yielded after a fraction of the decoder steps, not at the end."""
    steps: list[int] = []
    seen_at_first_chunk = None
    stream = mono.generate_stream("ambient", duration=2.0, seed=1, first_chunk_seconds=0.2)
    # the stream runs the decoder lazily: count steps through the engine's session factory
    session = mono.family_impl.engine.session

    def counting(condition, grid_length):
        decoder = session(condition, grid_length)
        step = decoder.step

        def counted(column):
            steps.append(1)
            return step(column)

        decoder.step = counted
        return decoder

    mono.family_impl.engine.session = counting
    try:
        for chunk in stream:
            if seen_at_first_chunk is None:
                seen_at_first_chunk = len(steps)
                assert chunk.metadata["chunk_index"] == 0
    finally:
        mono.family_impl.engine.session = session
    assert seen_at_first_chunk is not None and seen_at_first_chunk < len(steps) / 4


def test_stream_with_continuation_starts_with_the_prompt(mono):
    rng = np.random.default_rng(2)
    prompt = (0.2 * rng.standard_normal((1, 640 * 30))).astype(np.float32)
    chunks = list(
        mono.generate_stream(
            "go on",
            duration=1.5,
            seed=4,
            continuation=prompt,
            first_chunk_seconds=0.25,
            chunk_seconds=0.5,
        )
    )
    joined = np.concatenate([c.samples for c in chunks], axis=-1)
    assert joined.shape == (1, 48000)
    keep = prompt.shape[-1] - 320
    np.testing.assert_array_equal(joined[:, :keep], prompt[:, :keep])
