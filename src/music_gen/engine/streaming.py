"""Streaming: decoding a growing code sequence to audio chunk by chunk, exactly.

EnCodec's decoder is a convolution at the frame rate, a two-layer LSTM, then a stack of
(transposed) convolutions up to the sample rate. Only the LSTM looks arbitrarily far back, and it
runs forward in time; the convolutions see a few frames on each side. So the stream runs the
decoder in three parts, each over what is final so far:

- the codebooks' embeddings and the first convolution, for frames whose right-hand neighbours
  (the convolution's radius) are known;
- the LSTM, frame after frame, carrying its state from one chunk to the next;
- the convolution stack, on a window of the LSTM's output that reaches the stack's radius past
  both ends of the chunk, keeping only the chunk's own samples.

Every kept sample then sees exactly the inputs it sees in the one-shot decode (the windows'
own edge padding falls outside what is kept), so the concatenated chunks equal the whole
decode up to float rounding, and a chunk needs only ``lookahead`` (a few) frames after its end.
It knows nothing about models or prompts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

import torch
from torch import nn

__all__ = ["ChunkDecoder", "chunk_bounds", "receptive_radius"]


def chunk_bounds(total: int, first: int, size: int) -> Iterator[tuple[int, int]]:
    """Frame ranges of the chunks: a short first one (low latency), then ``size`` each."""
    start, end = 0, min(total, max(1, first))
    while start < total:
        yield start, end
        start, end = end, min(total, end + size)


def receptive_radius(layers: nn.Module) -> tuple[int, int]:
    """Frames ``(before, after)`` of its input that an output sample of EnCodec's ``layers``
    depends on, rounded up (each layer's own padding rule: non-causal layers split it, causal
    ones pad on the left only). The radii of consecutive layers add up, each in frames of the
    layer's input rate, so a window reaching this far past a chunk's frame boundaries gives the
    chunk's samples exactly."""
    from transformers.models.encodec.modeling_encodec import (
        EncodecConv1d,
        EncodecConvTranspose1d,
    )

    left = right = Fraction(0)
    rate = 1  # input samples per frame at the current layer
    for layer in layers.modules():
        if isinstance(layer, EncodecConv1d):
            conv = layer.conv
            span = (conv.kernel_size[0] - 1) * conv.dilation[0] + 1
            total = span - conv.stride[0]
            after = 0 if layer.causal else total // 2
            left += Fraction(total - after, rate)
            right += Fraction(after, rate)
        elif isinstance(layer, EncodecConvTranspose1d):
            kernel, stride = layer.conv.kernel_size[0], layer.conv.stride[0]
            total = kernel - stride
            causal = layer.causal
            after = math.ceil(total * layer.trim_right_ratio) if causal else total // 2
            before = total - after  # trimmed from the raw output's start
            left += Fraction(kernel - 1 - before, stride * rate)
            right += Fraction(before, stride * rate)
            rate *= stride
    return math.ceil(left), math.ceil(right)


class _CodecStream:
    """One mono EnCodec decoder run incrementally over one growing code sequence."""

    def __init__(self, codec, total: int, hop: int) -> None:
        layers = codec.decoder.layers
        self.quantizer = codec.quantizer
        self.head, self.lstm, self.tail = layers[0], layers[1].lstm, nn.Sequential(*layers[2:])
        self.head_radius = receptive_radius(self.head)
        self.tail_radius = receptive_radius(self.tail)
        self.total, self.hop = total, hop
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.hidden: torch.Tensor | None = None  # the LSTM's output [B, D, frames] from `kept`
        self.kept = 0  # first frame held in `hidden`
        self.done = 0  # frames through the LSTM

    @property
    def lookahead(self) -> int:
        return self.head_radius[1] + self.tail_radius[1]

    def _advance(self, codes: torch.Tensor) -> None:
        """Run the first convolution and the LSTM over every frame ``codes [B, K, n]`` makes
        final."""
        known = codes.shape[-1]
        upto = known if known >= self.total else known - self.head_radius[1]
        if upto <= self.done:
            return
        a = max(0, self.done - self.head_radius[0])
        b = min(known, upto + self.head_radius[1])
        embeddings = self.quantizer.decode(codes[:, :, a:b].transpose(0, 1))  # [B, D, b - a]
        x = self.head(embeddings)[..., self.done - a : upto - a].permute(2, 0, 1)  # [t, B, D]
        y, self.state = self.lstm(x, self.state)
        y = (y + x).permute(1, 2, 0)  # [B, D, t]: EnCodec's LSTM adds its input back
        self.hidden = y if self.hidden is None else torch.cat([self.hidden, y], dim=-1)
        self.done = upto

    def audio(self, codes: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Samples ``[B, 1, (end - start) * hop]`` of frames ``[start, end)``."""
        self._advance(codes)
        if end > self.done or (self.done < self.total and end + self.tail_radius[1] > self.done):
            raise ValueError(f"frames up to {end} are not final yet ({codes.shape[-1]} known)")
        assert self.hidden is not None
        a = max(self.kept, start - self.tail_radius[0])
        b = min(self.done, end + self.tail_radius[1])
        wave = self.tail(self.hidden[..., a - self.kept : b - self.kept])
        # what later chunks still need: their left radius before the next start
        drop = max(0, end - self.tail_radius[0] - self.kept)
        self.hidden, self.kept = self.hidden[..., drop:], self.kept + drop
        return wave[..., (start - a) * self.hop : (end - a) * self.hop]


class ChunkDecoder:
    """Codes to audio, one chunk after the other (chunks must come in order, without gaps);
    stereo checkpoints run one mono stream per channel on its interleaved codebooks."""

    def __init__(self, codec, audio_channels: int, hop: int, total: int) -> None:
        self.audio_channels = audio_channels
        self.streams = [_CodecStream(codec, total, hop) for _ in range(audio_channels)]
        self.lookahead = self.streams[0].lookahead
        self.position = 0

    def ready(self, end: int, final_frames: int, total: int) -> bool:
        """Whether the chunk ending at ``end`` can be decoded with ``final_frames`` known."""
        return final_frames >= min(total, end + self.lookahead)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Audio ``[B, C, (end - start) * hop]`` (float32) of frames ``[start, end)`` of
        ``codes [B, K, n]``, which holds every final frame so far."""
        if start != self.position:
            raise ValueError(f"chunks come in order: expected frame {self.position}, got {start}")
        step = self.audio_channels
        waves = [s.audio(codes[:, c::step], start, end) for c, s in enumerate(self.streams)]
        self.position = end
        return torch.cat(waves, dim=1).float()
