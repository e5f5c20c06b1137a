"""EnCodec at MusicGen's edges: audio -> codes for prompts, codes -> audio for results.

Stereo MusicGen checkpoints run one mono EnCodec per channel, with left and right codebooks
interleaved (``L0 R0 L1 R1 …``), exactly as transformers does. The codec is transformers'
``EncodecModel``; this module only arranges its inputs and outputs, and makes the fast copy
that decodes for the quantized CPU settings (``decoding_codec``).
"""

from __future__ import annotations

import torch
from torch.nn.utils import parametrize

__all__ = ["bf16_supported", "decode_audio", "decoding_codec", "encode_audio"]


def bf16_supported() -> bool:
    """Whether this CPU has bfloat16 dot products (AVX512-BF16 or AMX) for oneDNN."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def decoding_codec(codec, bf16: bool):
    """The codec that turns codes into audio: ``codec`` itself, or (``bf16``) a copy with its
    weight norm folded into plain weights (transformers recomputes it on every call; folding is
    exact) in bfloat16 — 2.3x faster on a CPU with bf16 dot products, 41.8 dB SNR against the
    float32 decode on the real 32 kHz codec (random weights). ``codec`` itself is left as it
    was: prompts are still encoded in float32."""
    if not bf16:
        return codec
    # a fresh instance, not a deepcopy: a parametrized module's class is made per instance and
    # a deepcopy shares it, so unfolding the copy would unfold the original too
    fast = type(codec)(codec.config)
    fast.load_state_dict(codec.state_dict())
    for module in fast.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return fast.to(device=next(codec.parameters()).device, dtype=torch.bfloat16).eval()


@torch.no_grad()
def encode_audio(codec, audio: torch.Tensor, audio_channels: int) -> torch.Tensor:
    """``audio [B, C, N]`` at the codec's rate -> codes ``[B, K, T]``."""
    if audio_channels == 1:
        return codec.encode(audio[:, :1]).audio_codes[0]  # [B, K, T]
    left = codec.encode(audio[:, :1]).audio_codes[0]
    right = codec.encode(audio[:, 1:2]).audio_codes[0]
    batch, k, frames = left.shape
    codes = left.new_empty((batch, 2 * k, frames))
    codes[:, ::2] = left
    codes[:, 1::2] = right
    return codes


@torch.no_grad()
def decode_audio(codec, codes: torch.Tensor, audio_channels: int) -> torch.Tensor:
    """Codes ``[B, K, T]`` -> audio ``[B, C, T * hop]`` (float32)."""
    if audio_channels == 1:
        audio = codec.decode(codes[None], [None]).audio_values
    else:
        left = codec.decode(codes[None, :, ::2], [None]).audio_values
        right = codec.decode(codes[None, :, 1::2], [None]).audio_values
        audio = torch.cat([left, right], dim=1)
    return audio.float()
