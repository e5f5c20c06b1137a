"""Streaming: decoding a growing code sequence to audio chunk by chunk.

EnCodec's decoder is convolutional with an LSTM, so a sample depends on codes on both sides of
it. A chunk ``[start, end)`` (in frames) is decoded from ``context`` frames before it to
``lookahead`` frames after it, and only its own samples are kept; the concatenated chunks then
match the one-shot decode of the whole sequence to a small error (``tests`` state the bound).
It knows nothing about models or prompts.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .codec import decode_audio

__all__ = ["ChunkDecoder", "chunk_bounds"]


def chunk_bounds(total: int, first: int, size: int) -> Iterator[tuple[int, int]]:
    """Frame ranges of the chunks: a short first one (low latency), then ``size`` each."""
    start, end = 0, min(total, max(1, first))
    while start < total:
        yield start, end
        start, end = end, min(total, end + size)


class ChunkDecoder:
    def __init__(
        self, codec, audio_channels: int, hop: int, context: int = 50, lookahead: int = 5
    ) -> None:
        self.codec, self.audio_channels, self.hop = codec, audio_channels, hop
        self.context, self.lookahead = context, lookahead

    def ready(self, end: int, final_frames: int, total: int) -> bool:
        """Whether the chunk ending at ``end`` can be decoded with ``final_frames`` known."""
        return final_frames >= min(total, end + self.lookahead)

    def decode(self, codes: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Audio ``[B, C, (end - start) * hop]`` of frames ``[start, end)`` of ``codes``."""
        a = max(0, start - self.context)
        b = min(codes.shape[-1], end + self.lookahead)
        wave = decode_audio(self.codec, codes[:, :, a:b], self.audio_channels)
        offset = (start - a) * self.hop
        return wave[..., offset : offset + (end - start) * self.hop]
