"""EnCodec at MusicGen's edges: audio -> codes for prompts, codes -> audio for results.

Stereo MusicGen checkpoints run one mono EnCodec per channel, with left and right codebooks
interleaved (``L0 R0 L1 R1 …``), exactly as transformers does. The codec is transformers'
``EncodecModel``; this module only arranges its inputs and outputs.
"""

from __future__ import annotations

import torch

__all__ = ["decode_audio", "encode_audio"]


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
