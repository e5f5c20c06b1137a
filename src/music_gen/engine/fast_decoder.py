"""One decoding session on our decoder (``engine="fast"``): prefill once, then one step a column.

Same interface as ``HFStepDecoder`` (``prefill(grid)``, ``step(column)`` -> logits
``[B, K, V]``), so the decode loop does not know which one runs. It owns the per-request state:
the static KV caches' fill level, the cross-attention K/V (computed once from the condition)
and the masks.

Two modes:

- ``exact=True`` (CPU default): attends to the filled part of the cache with the very calls
  transformers makes, so fp32 decoding is token-exact with it;
- ``exact=False`` (GPU default): every step has the same shapes (full cache + a boolean mask),
  which lets ``CUDAGraphStep`` capture the step once and replay it.
"""

from __future__ import annotations

import torch

from .conditioning import Condition
from .model import MusicGenDecoder

__all__ = ["CUDAGraphStep", "FastStepDecoder"]


def _text_states(hf_model, condition: Condition) -> torch.Tensor:
    """The cross-attention input as transformers builds it: projected, then masked."""
    states = condition.hidden
    config = hf_model.config
    if (
        config.text_encoder.hidden_size != config.decoder.hidden_size
        and config.decoder.cross_attention_hidden_size is None
    ):
        states = hf_model.enc_to_dec_proj(states)
    return states * condition.mask[..., None]


class FastStepDecoder:
    def __init__(
        self,
        decoder: MusicGenDecoder,
        hf_model,
        condition: Condition,
        max_len: int,
        *,
        exact: bool = True,
        graph: CUDAGraphStep | None = None,
    ) -> None:
        self.decoder = decoder
        self.condition = condition
        self.exact = exact
        self.graph = graph
        self.melody = not decoder.config.cross_attention
        rows = condition.mask.shape[0]
        prefix = condition.hidden.shape[1] if self.melody else 0
        self.max_len = prefix + max_len
        if not exact:  # static shapes: one cache size for every request, so graphs are reused
            self.max_len = max(self.max_len, decoder.positions.shape[0])
        decoder.setup_caches(rows, self.max_len)
        self.cache_len = decoder.caches[0].max_len
        self.pos = 0
        self.cross_kv = None
        self.cross_mask = None
        if not self.melody:
            self.cross_kv = decoder.cross_kv(_text_states(hf_model, condition))
            if not bool(condition.mask.all()):
                self.cross_mask = condition.mask.bool()[:, None, None, :]  # [2B, 1, 1, S]
        # keys a row may attend to besides causality: padded prompt positions of a melody prefix
        self.key_ok: torch.Tensor | None = None
        if self.melody and condition.padded:
            key_ok = torch.ones(
                (rows, self.cache_len), dtype=torch.bool, device=condition.mask.device
            )
            key_ok[:, :prefix] = condition.mask.bool()
            self.key_ok = key_ok

    def _ids(self, grid: torch.Tensor) -> torch.Tensor:
        return torch.cat([grid, grid], dim=0) if self.condition.guided else grid

    def _mask(self, input_pos: torch.Tensor, length: int) -> torch.Tensor | None:
        """Boolean mask ``[rows, 1, T, keys]``; ``None`` where plain causality suffices."""
        keys = length if self.exact else self.cache_len
        if self.exact and self.key_ok is None:
            return None
        key_pos = torch.arange(keys, device=input_pos.device)
        mask = key_pos[None, :] <= input_pos[:, None]  # [T, keys]
        mask = mask[None, None]  # [1, 1, T, keys]
        if self.key_ok is not None:
            mask = mask & self.key_ok[:, None, None, :keys]
        return mask

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        input_pos = torch.arange(self.pos, self.pos + t, device=x.device)
        length = self.pos + t
        logits = self.decoder(
            x,
            input_pos,
            length=length if self.exact else None,
            self_mask=self._mask(input_pos, length),
            cross_kv=self.cross_kv,
            cross_mask=self.cross_mask,
        )
        self.pos = length
        return logits[:, :, -1].float()  # [rows, K, V]

    @torch.no_grad()
    def prefill(self, grid: torch.Tensor) -> torch.Tensor:
        x = self.decoder.embed(self._ids(grid))  # [rows, T0, D]
        if self.melody:
            x = torch.cat([self.condition.hidden.to(x.dtype), x], dim=1)
        return self._run(x)

    @torch.no_grad()
    def step(self, column: torch.Tensor) -> torch.Tensor:
        ids = self._ids(column)
        if self.graph is not None:
            logits = self.graph(self, ids)
            self.pos += 1
            return logits
        return self._run(self.decoder.embed(ids))


class CUDAGraphStep:
    """The decode step captured once in a CUDA graph (static shapes) and replayed per token.

    Inputs are copied into static buffers (token ids, position, mask); the graph recomputes
    embeddings, every layer against the full static cache, and the heads. Capture happens on the
    first call after a few warm-up runs on a side stream; a new graph is captured when the
    batch, cache size or cross-attention length changes.
    """

    def __init__(self) -> None:
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None

    def __call__(self, session: FastStepDecoder, ids: torch.Tensor) -> torch.Tensor:
        key = (
            tuple(ids.shape),
            session.cache_len,
            None if session.cross_kv is None else tuple(session.cross_kv[0][0].shape),
            session.cross_mask is None,
            session.key_ok is None,
        )
        if self.graph is None or key != self.key:
            self._capture(session, ids, key)
        elif session is not self.session:
            self._load(session)
        assert self.graph is not None
        self.ids.copy_(ids)
        self.input_pos.fill_(session.pos)
        self.graph.replay()
        return self.logits.clone()

    def _load(self, session: FastStepDecoder) -> None:
        """Copy a new request's condition into the graph's static buffers."""
        for (k, v), (sk, sv) in zip(self.cross_kv or [], session.cross_kv or [], strict=True):
            k.copy_(sk)
            v.copy_(sv)
        if self.cross_mask is not None and session.cross_mask is not None:
            self.cross_mask.copy_(session.cross_mask)
        if self.key_ok is not None and session.key_ok is not None:
            self.key_ok.copy_(session.key_ok)
        self.session = session

    def _forward(self, session: FastStepDecoder) -> torch.Tensor:
        x = session.decoder.embed(self.ids)
        mask = (self.key_pos[None, :] <= self.input_pos[:, None])[None, None]
        if self.key_ok is not None:
            mask = mask & self.key_ok[:, None, None, :]
        out = session.decoder(
            x,
            self.input_pos,
            length=None,
            self_mask=mask,
            cross_kv=self.cross_kv,
            cross_mask=self.cross_mask,
        )
        return out[:, :, -1].float()

    def _capture(self, session: FastStepDecoder, ids: torch.Tensor, key: tuple) -> None:
        device = ids.device
        self.cross_kv = (
            None
            if session.cross_kv is None
            else [(k.clone(), v.clone()) for k, v in session.cross_kv]
        )
        self.cross_mask = None if session.cross_mask is None else session.cross_mask.clone()
        self.key_ok = None if session.key_ok is None else session.key_ok.clone()
        self.session = session
        self.ids = ids.clone()
        self.input_pos = torch.full((1,), session.pos, dtype=torch.long, device=device)
        self.key_pos = torch.arange(session.cache_len, device=device)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm-up writes the current position only, as the real step will
                self._forward(session)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = self._forward(session)
        self.key = key
