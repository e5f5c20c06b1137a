"""Unmerged LoRA adapters on our decoder, a different one (or none) per batch row.

Merging an adapter into the weights serves one adapter per loaded model. To decode requests
with different adapters in one batch, the decoder's targeted linears are wrapped in
``RowLoRALinear``: ``y = W x`` for every row, plus ``scale · B (A x)`` for the rows whose
request uses that adapter (rows are grouped by adapter, one small matmul pair per adapter
present). Which adapter each row uses is set on the shared ``RowAdapters`` before a forward
(``use``: one adapter for all rows, as a request's own prefill; ``use_rows``: one per row, as
the continuous batcher's step).

``AdapterBank`` holds the adapters' weights within a memory budget: an adapter is loaded on
first use and the least recently used ones not in use are evicted when a new one does not fit.

The wrappers are installed on our decoder only (transformers' modules are untouched) and need
the unfused, unquantized float projections and no CUDA graph (a graph would freeze the rows'
grouping). Weights come as PEFT state dicts of the transformers decoder (``load_peft_state``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

__all__ = ["AdapterBank", "LoRAWeights", "RowAdapters", "RowLoRALinear", "install_row_lora"]

#: transformers' decoder module name -> (our attribute path inside DecoderLayer)
_TARGETS = {
    "self_attn.q_proj": ("self_attn", "q_proj"),
    "self_attn.k_proj": ("self_attn", "k_proj"),
    "self_attn.v_proj": ("self_attn", "v_proj"),
    "self_attn.out_proj": ("self_attn", "out_proj"),
    "encoder_attn.q_proj": ("cross_attn", "q_proj"),
    "encoder_attn.k_proj": ("cross_attn", "k_proj"),
    "encoder_attn.v_proj": ("cross_attn", "v_proj"),
    "encoder_attn.out_proj": ("cross_attn", "out_proj"),
    "fc1": (None, "fc1"),
    "fc2": (None, "fc2"),
}
_KEY = re.compile(r"layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")


@dataclass
class RowAdapters:
    """The adapter of each batch row for the next forward (None: no adapter)."""

    rows: list[str | None] | None = None
    single: str | None = None

    def use(self, adapter: str | None) -> None:
        self.rows, self.single = None, adapter

    def use_rows(self, rows: Sequence[str | None]) -> None:
        self.rows, self.single = list(rows), None

    def groups(self, batch: int) -> list[tuple[str, torch.Tensor | None]]:
        """``(adapter, row indices or None for all rows)`` for every adapter present."""
        if self.rows is None:
            return [] if self.single is None else [(self.single, None)]
        assert len(self.rows) == batch, (len(self.rows), batch)
        out: dict[str, list[int]] = {}
        for i, name in enumerate(self.rows):
            if name is not None:
                out.setdefault(name, []).append(i)
        return [(name, torch.tensor(idx)) for name, idx in out.items()]


class RowLoRALinear(nn.Module):
    """A frozen linear plus, per row, its adapter's low-rank update."""

    def __init__(self, base: nn.Linear, state: RowAdapters) -> None:
        super().__init__()
        self.base = base
        self.state = state
        self.adapters: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in] -> [B, T, out]
        y = self.base(x)
        for name, rows in self.state.groups(x.shape[0]):
            weights = self.adapters.get(name)
            if weights is None:
                continue  # this adapter leaves this linear alone
            a, b, scale = weights
            if rows is None:
                y = y + scale * ((x @ a.T) @ b.T)
            else:
                rows = rows.to(x.device)
                y = y.index_add(0, rows, scale * ((x[rows] @ a.T) @ b.T))
        return y


def install_row_lora(decoder: nn.Module) -> tuple[RowAdapters, dict[str, RowLoRALinear]]:
    """Wrap our decoder's targeted linears (idempotent). Returns the shared row state and the
    wrappers by transformers' module name (``layers.3.self_attn.q_proj``)."""
    existing = getattr(decoder, "row_lora", None)
    if existing is not None:
        return existing
    state = RowAdapters()
    wrappers: dict[str, RowLoRALinear] = {}
    for i, layer in enumerate(cast(list[Any], decoder.blocks)):
        for hf_name, (part, attr) in _TARGETS.items():
            owner = layer if part is None else getattr(layer, part, None)
            if owner is None or not hasattr(owner, attr):
                continue
            linear = getattr(owner, attr)
            if not isinstance(linear, nn.Linear):
                raise TypeError(
                    f"per-request adapters need float, unfused projections ({hf_name} is "
                    f"{type(linear).__name__}); load without quantize"
                )
            wrapper = RowLoRALinear(linear, state)
            setattr(owner, attr, wrapper)
            wrappers[f"layers.{i}.{hf_name}"] = wrapper
    decoder.row_lora = (state, wrappers)  # type: ignore[assignment]
    return state, wrappers


@dataclass
class LoRAWeights:
    """One adapter's per-module ``(A [r, in], B [out, r], scale)``."""

    modules: dict[str, tuple[torch.Tensor, torch.Tensor, float]]
    nbytes: int = 0

    @classmethod
    def from_peft_state(
        cls,
        state: dict[str, torch.Tensor],
        scale: float,
        device: torch.device,
        dtype: torch.dtype,
    ) -> LoRAWeights:
        """From PEFT's ``adapter_model.safetensors`` of the transformers decoder; ``scale`` is
        ``lora_alpha / r`` times the user's adapter scale."""
        pairs: dict[str, dict[str, torch.Tensor]] = {}
        for key, tensor in state.items():
            m = _KEY.search(key)
            if m is None:
                raise ValueError(f"unexpected adapter tensor {key!r}")
            pairs.setdefault(f"layers.{m.group(1)}.{m.group(2)}", {})[m.group(3)] = tensor
        modules = {}
        nbytes = 0
        for name, ab in pairs.items():
            a, b = ab["A"].to(device, dtype), ab["B"].to(device, dtype)
            modules[name] = (a, b, scale)
            nbytes += a.numel() * a.element_size() + b.numel() * b.element_size()
        return cls(modules, nbytes)


@dataclass
class AdapterBank:
    """Adapters installed on the wrappers, least recently used first, within ``budget_bytes``."""

    wrappers: dict[str, RowLoRALinear]
    budget_bytes: int = 256 * 2**20
    loaded: OrderedDict[str, LoRAWeights] = field(default_factory=OrderedDict)
    #: name -> what identifies the files it was loaded from (a changed file: stale)
    sources: dict[str, Any] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.loaded

    def touch(self, name: str) -> None:
        self.loaded.move_to_end(name)

    @property
    def nbytes(self) -> int:
        return sum(w.nbytes for w in self.loaded.values())

    def add(self, name: str, weights: LoRAWeights, in_use: Iterable[str] = ()) -> list[str]:
        """Install ``weights`` as ``name``; evict least recently used adapters not in
        ``in_use`` until it fits. Returns the evicted names."""
        unknown = set(weights.modules) - set(self.wrappers)
        if unknown:
            raise ValueError(f"adapter targets modules the decoder lacks: {sorted(unknown)[:3]}")
        busy = set(in_use)
        evicted = []
        for old in list(self.loaded):
            if self.nbytes + weights.nbytes <= self.budget_bytes:
                break
            if old not in busy:
                self.remove(old)
                evicted.append(old)
        for module, ab in weights.modules.items():
            self.wrappers[module].adapters[name] = ab
        self.loaded[name] = weights
        return evicted

    def remove(self, name: str) -> None:
        self.loaded.pop(name, None)
        self.sources.pop(name, None)
        for wrapper in self.wrappers.values():
            wrapper.adapters.pop(name, None)
