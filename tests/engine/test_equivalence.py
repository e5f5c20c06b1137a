"""Token-for-token equivalence with transformers' own MusicGen ``generate``.

We call ``model.generate`` directly (greedy), capture the codes it hands to EnCodec, and compare
them and the decoded audio with what ``MusicGenerator`` produces through the public API.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

SR = 32000


def _reference(gen, prompts, frames, guidance, input_features=None):
    """transformers' generate: the codes it decodes (mono or L/R interleaved) and its audio."""
    model = gen.family_impl.loaded.model
    tokens = gen.family_impl.loaded.tokenizer(prompts, return_tensors="pt", padding=True)
    captured: list[torch.Tensor] = []
    decode = model.audio_encoder.decode

    def capture(codes, *args, **kwargs):
        captured.append(codes[0].clone())
        return decode(codes, *args, **kwargs)

    model.audio_encoder.decode = capture
    try:
        kwargs = {} if input_features is None else {"input_features": input_features}
        audio = model.generate(
            **tokens, do_sample=False, guidance_scale=guidance, max_new_tokens=frames + 3, **kwargs
        )
    finally:
        model.audio_encoder.decode = decode
    if len(captured) == 1:
        codes = captured[0]
    else:  # stereo: left and right decoded separately; interleave like the checkpoint does
        left, right = captured
        codes = torch.empty((left.shape[0], 2 * left.shape[1], left.shape[2]), dtype=left.dtype)
        codes[:, ::2], codes[:, 1::2] = left, right
    return codes, audio.float().numpy()


def _ours(gen, captured, prompts, frames, guidance, melody=None):
    outs = gen.generate_batch(
        prompts,
        duration=frames * 640 / SR,
        temperature=0.0,
        guidance_scale=guidance,
        melody=melody,
    )
    return captured[0], np.stack([o.samples for o in outs])


@pytest.mark.parametrize("variant", ["mono", "stereo"])
@pytest.mark.parametrize("guidance", [3.0, 1.0])
def test_greedy_tokens_and_audio_equal_transformers(generators, decoded_codes, variant, guidance):
    gen = generators(variant)
    prompts = ["calm piano melody with soft strings", "rock band"]  # padded batch
    ref_codes, ref_audio = _reference(gen, prompts, 40, guidance)
    codes, audio = _ours(gen, decoded_codes, prompts, 40, guidance)
    assert codes.shape == ref_codes.shape == (2, gen.family_impl.loaded.num_codebooks, 40)
    assert torch.equal(codes, ref_codes)
    np.testing.assert_array_equal(audio, ref_audio)


@pytest.mark.parametrize("variant", ["melody", "stereo-melody"])
@pytest.mark.parametrize("guidance", [3.0, 1.0])
def test_melody_checkpoints_equal_transformers_without_melody(
    generators, decoded_codes, variant, guidance
):
    gen = generators(variant)
    ref_codes, ref_audio = _reference(gen, ["epic orchestral soundtrack"], 40, guidance)
    codes, audio = _ours(gen, decoded_codes, ["epic orchestral soundtrack"], 40, guidance)
    assert torch.equal(codes, ref_codes)
    np.testing.assert_array_equal(audio, ref_audio)


def test_melody_conditioning_equals_transformers_with_the_same_chroma(generators, decoded_codes):
    """Our chroma fed to transformers' generate gives the tokens our generator gives."""
    from music_gen.audio.chroma import melody_chroma

    gen = generators("melody")
    t = np.arange(SR * 2) / SR
    melody = 0.4 * np.sin(2 * np.pi * 261.6 * t) + 0.3 * np.sin(2 * np.pi * 392.0 * t)
    melody = melody.astype(np.float32)
    chroma = melody_chroma(melody, SR, gen.family_impl.loaded.chroma)
    ref_codes, ref_audio = _reference(gen, ["piano"], 30, 3.0, input_features=chroma)
    codes, audio = _ours(gen, decoded_codes, ["piano"], 30, 3.0, melody=melody)
    assert torch.equal(codes, ref_codes)
    np.testing.assert_array_equal(audio, ref_audio)
