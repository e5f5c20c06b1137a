"""A static self-attention KV cache: preallocated buffers written at ``input_pos``.

One ``KVCache`` per decoder layer holds ``[B, H, max_len, Dh]`` keys and values. Nothing is
concatenated or reallocated while decoding, so every step has the same shapes (what CUDA graphs
need). It knows nothing about masks or which positions are valid: the caller tracks lengths.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["KVCache"]


class KVCache(nn.Module):
    k: torch.Tensor  # [B, H, max_len, Dh]
    v: torch.Tensor

    def __init__(
        self, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device
    ) -> None:
        super().__init__()
        shape = (batch, heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def max_len(self) -> int:
        return int(self.k.shape[2])

    def update(
        self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``k, v [B, H, T, Dh]`` at positions ``input_pos``; return the full buffers.

        ``input_pos`` is ``[T]`` (every row at the same positions) or ``[B, 1]`` (one position
        per row, for continuous batching where requests are at different steps).
        """
        if input_pos.dim() == 2:
            rows = torch.arange(k.shape[0], device=k.device)
            self.k[rows, :, input_pos[:, 0]] = k[:, :, 0]
            self.v[rows, :, input_pos[:, 0]] = v[:, :, 0]
        else:
            self.k.index_copy_(2, input_pos, k)
            self.v.index_copy_(2, input_pos, v)
        return self.k, self.v
