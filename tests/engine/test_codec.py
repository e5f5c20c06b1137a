"""EnCodec at MusicGen's edges: the bfloat16 decoding copy of the quantized CPU settings."""

from __future__ import annotations

import pytest
import torch
from transformers import MusicgenForConditionalGeneration

from music_gen.engine.codec import decode_audio, decoding_codec, encode_audio
from music_gen.engine.streaming import ChunkDecoder, chunk_bounds


def _snr(ref: torch.Tensor, out: torch.Tensor) -> float:
    return float(10 * torch.log10(ref.pow(2).sum() / (out - ref).pow(2).sum()))


@pytest.fixture(scope="module")
def codec(checkpoints):
    return MusicgenForConditionalGeneration.from_pretrained(checkpoints["mono"]).audio_encoder


def test_the_float32_codec_is_used_as_it_is(codec):
    assert decoding_codec(codec, bf16=False) is codec


def test_the_bf16_copy_decodes_close_and_leaves_the_original_alone(codec):
    codes = torch.randint(0, codec.config.codebook_size, (1, 4, 60))
    audio = torch.randn(1, 1, 640 * 20, generator=torch.Generator().manual_seed(0))
    ref, ref_codes = decode_audio(codec, codes, 1), encode_audio(codec, audio, 1)
    fast = decoding_codec(codec, bf16=True)
    assert next(fast.parameters()).dtype == torch.bfloat16
    out = decode_audio(fast, codes, 1)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    # measured ~40 dB on the tiny codec and 41.8 dB on the real 32 kHz architecture
    assert 30 < _snr(ref, out) < 80  # close, and really computed in bfloat16
    # the checkpoint's own codec still decodes and encodes exactly as before
    torch.testing.assert_close(decode_audio(codec, codes, 1), ref, rtol=0, atol=0)
    assert torch.equal(encode_audio(codec, audio, 1), ref_codes)
    # and the stream decodes with the copy as the one-shot decode does
    chunks = ChunkDecoder(fast, 1, 640, 60)
    parts = [chunks.decode(codes, a, b) for a, b in chunk_bounds(60, 12, 20)]
    assert _snr(out, torch.cat(parts, dim=-1)) > 30


def test_quantized_cpu_settings_decode_with_the_bf16_copy(checkpoints):
    from music_gen import MusicGenerator
    from music_gen.engine.codec import bf16_supported

    plain = MusicGenerator(model=str(checkpoints["mono"]), device="cpu")
    assert plain.family_impl.runtime.codec is plain.family_impl.loaded.model.audio_encoder
    fast = MusicGenerator(model=str(checkpoints["mono"]), device="cpu", quantize="int8")
    codec = fast.family_impl.runtime.codec
    assert (codec is not fast.family_impl.loaded.model.audio_encoder) == bf16_supported()
    a = plain.generate("x", duration=0.5, seed=1)
    b = fast.generate("x", duration=0.5, seed=1)
    assert a.samples.shape == b.samples.shape
