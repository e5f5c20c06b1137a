"""Streaming: chunks arrive while decoding and add up to the one-shot output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import MusicgenForConditionalGeneration

from music_gen.engine.codec import decode_audio
from music_gen.engine.streaming import ChunkDecoder, chunk_bounds

SR = 32000
#: the stated tolerance: the streamed EnCodec decode (every kept sample sees the inputs it sees
#: in the one-shot decode) against the one-shot decode, as a fraction of its peak: float
#: rounding only (measured ~1e-6 on the real 32 kHz codec)
TOLERANCE = 1e-5


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


def _chunked(codec, codes, first, size, known_after):
    total = codes.shape[-1]
    decoder = ChunkDecoder(codec, 1, 640, total)
    parts = []
    for start, end in chunk_bounds(total, first, size):
        known = min(total, end + known_after(decoder))
        parts.append(decoder.decode(codes[:, :, :known], start, end))
    return decoder, torch.cat(parts, dim=-1)


@pytest.mark.parametrize(("total", "first", "size"), [(60, 12, 20), (60, 1, 1), (9, 5, 7)])
def test_chunks_equal_the_one_shot_decode(checkpoints, total, first, size):
    """Any chunking, chunks of one frame included, adds up to the whole decode."""
    codec = MusicgenForConditionalGeneration.from_pretrained(checkpoints["mono"]).audio_encoder
    codes = torch.randint(0, codec.config.codebook_size, (1, 4, total), generator=_gen(3))
    whole = decode_audio(codec, codes, 1)
    decoder, joined = _chunked(codec, codes, first, size, lambda d: d.lookahead)
    assert decoder.lookahead == 4  # 3 frames for the first convolution, 1 for the stack
    assert joined.shape == whole.shape
    assert float((joined - whole).abs().max() / whole.abs().max()) < TOLERANCE


def test_the_lookahead_is_needed_and_enough(checkpoints):
    """A chunk's samples change with the code ``lookahead - 1`` frames after it (so no shorter
    lookahead could be exact), and a chunk asked for before those frames are known is refused."""
    codec = MusicgenForConditionalGeneration.from_pretrained(checkpoints["mono"]).audio_encoder
    codes = torch.randint(0, codec.config.codebook_size, (1, 4, 40), generator=_gen(4))
    lookahead = ChunkDecoder(codec, 1, 640, 40).lookahead
    changed = codes.clone()
    last = 10 + lookahead - 1
    changed[:, :, last] = (changed[:, :, last] + 1) % codec.config.codebook_size
    a, b = decode_audio(codec, codes, 1), decode_audio(codec, changed, 1)
    assert float((a[..., : 10 * 640] - b[..., : 10 * 640]).abs().max()) > 0
    with pytest.raises(ValueError, match="not final"):
        ChunkDecoder(codec, 1, 640, 40).decode(codes[:, :, : 10 + lookahead - 1], 0, 10)
    with pytest.raises(ValueError, match="in order"):
        ChunkDecoder(codec, 1, 640, 40).decode(codes, 10, 20)


def _gen(seed):
    return torch.Generator().manual_seed(seed)
