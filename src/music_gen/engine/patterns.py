"""MusicGen's codebook delay pattern.

MusicGen predicts K codebooks per audio frame in one decoder step, but codebook k of frame t is
predicted ``delay[k]`` steps after codebook 0 of that frame, so each finer codebook can see the
coarser ones of its own frame. Sequences start with one ``bos`` column (token 2048, which is also
the pad token), and positions a codebook has no frame for are padded.

This module knows only that layout: building the delayed token grid from frame-aligned codes,
reverting it, and which grid positions the model must predict. It knows nothing about models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DelayPattern"]

#: Marks a grid position the decoder has to predict.
UNKNOWN = -1


@dataclass(frozen=True)
class DelayPattern:
    """The delay layout of ``num_codebooks`` codebooks (8 for stereo: left/right interleaved).

    Worked example, mono, K=4, two prompt frames ``a0 a1`` (codebook 0) … ``d0 d1``
    (codebook 3), three new frames to generate; ``P`` is the pad/bos token, ``?`` a position to
    predict. ``build(codes, total_frames=5)`` gives the grid (1 bos column + 5 frames + 3 delay):

        step:        0   1   2   3   4   5   6   7   8
        codebook 0:  P  a0  a1   ?   ?   ?   P   P   P
        codebook 1:  P   P  b0  b1   ?   ?   ?   P   P
        codebook 2:  P   P   P  c0  c1   ?   ?   ?   P
        codebook 3:  P   P   P   P  d0  d1   ?   ?   ?

    Decoding starts after column 2 (``prefill_length``: everything left of the first ``?`` of
    codebook 0 is known) and runs 6 steps (``total_frames + max_delay - prompt_frames``);
    ``revert(grid)`` reads each codebook back at its delay, giving ``[B, K, 5]`` frame-aligned
    codes. Stereo uses delays ``0 0 1 1 2 2 3 3``: left and right codebooks of one level share a
    delay.
    """

    num_codebooks: int
    audio_channels: int = 1
    pad_token_id: int = 2048

    @property
    def delays(self) -> list[int]:
        """Delay of each codebook, in steps."""
        per_channel = self.num_codebooks // self.audio_channels
        return [k // self.audio_channels for k in range(per_channel * self.audio_channels)]

    @property
    def max_delay(self) -> int:
        return max(self.delays)

    def grid_length(self, total_frames: int) -> int:
        """Columns of the grid for ``total_frames`` frames: bos + frames + the delay tail."""
        return 1 + total_frames + self.max_delay

    def steps(self, prompt_frames: int, total_frames: int) -> int:
        """Decoder steps needed to go from ``prompt_frames`` to ``total_frames`` frames."""
        return total_frames + self.max_delay - prompt_frames

    def build(self, codes: torch.Tensor, total_frames: int) -> torch.Tensor:
        """Lay frame-aligned ``codes`` ``[B, K, P]`` out on the delayed grid.

        Returns ``[B, K, 1 + total_frames + max_delay]`` with pad where a codebook has no frame,
        the prompt codes at their delayed positions, and ``UNKNOWN`` (-1) where a token must be
        predicted.
        """
        batch, k, prompt_frames = codes.shape
        length = self.grid_length(total_frames)
        grid = torch.full(
            (batch, k, length), self.pad_token_id, dtype=torch.long, device=codes.device
        )
        for cb, delay in enumerate(self.delays):
            start = 1 + delay
            grid[:, cb, start : start + total_frames] = UNKNOWN
            grid[:, cb, start : start + prompt_frames] = codes[:, cb]
        return grid

    def revert(self, grid: torch.Tensor, total_frames: int | None = None) -> torch.Tensor:
        """Read frame-aligned codes ``[B, K, T]`` back from a grid ``[B, K, L]``."""
        frames = grid.shape[-1] - 1 - self.max_delay if total_frames is None else total_frames
        return torch.stack(
            [grid[:, cb, 1 + d : 1 + d + frames] for cb, d in enumerate(self.delays)], dim=1
        )

    @staticmethod
    def prefill_length(grid: torch.Tensor) -> int:
        """Columns known before decoding: up to the first position codebook 0 must predict."""
        unknown = (grid[:, 0] == UNKNOWN).any(dim=0).nonzero()
        return int(unknown[0]) if len(unknown) else grid.shape[-1]
