"""Our MusicGen decoder, in plain PyTorch (gpt-fast style).

It runs the same weights as transformers' MusicGen decoder (they are shared, not copied):
per-codebook embeddings summed with sinusoidal positions, pre-LayerNorm blocks of causal
self-attention (a static ``KVCache``), cross-attention to the projected text states (K/V
computed once per request; ``musicgen``) and a GELU MLP, a final LayerNorm and one linear head
per codebook. Melody checkpoints have no cross-attention: their condition is a prefix of
embeddings in front of the audio tokens.

Numerics follow transformers op for op (same SDPA calls, same summation order), so fp32
decoding is token-exact with it; ``exact=False`` switches to static shapes with explicit masks
(what CUDA graphs need), which is the same maths but not the same kernel calls.

It knows nothing about the delay pattern, guidance or sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .kv_cache import KVCache

__all__ = ["PRESETS", "DecoderConfig", "MusicGenDecoder"]


@dataclass(frozen=True)
class DecoderConfig:
    hidden_size: int = 1024
    num_layers: int = 24
    num_heads: int = 16
    ffn_dim: int = 4096
    num_codebooks: int = 4
    vocab_size: int = 2048
    audio_channels: int = 1
    cross_attention: bool = True  # False for melody checkpoints (prefix conditioning)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_hf(cls, config) -> DecoderConfig:
        dec = config.decoder
        return cls(
            hidden_size=dec.hidden_size,
            num_layers=dec.num_hidden_layers,
            num_heads=dec.num_attention_heads,
            ffn_dim=dec.ffn_dim,
            num_codebooks=dec.num_codebooks,
            vocab_size=dec.vocab_size,
            audio_channels=dec.audio_channels,
            cross_attention=config.model_type != "musicgen_melody",
        )


#: The published decoders (text encoder T5-base for small, T5-large… as in the checkpoints).
PRESETS: dict[str, DecoderConfig] = {
    "small": DecoderConfig(1024, 24, 16, 4096),
    "medium": DecoderConfig(1536, 48, 24, 6144),
    "large": DecoderConfig(2048, 48, 32, 8192),
}


def _sdpa(q, k, v, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    causal = mask is None and q.shape[2] > 1 and q.shape[2] == k.shape[2]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


class Attention(nn.Module):
    """Multi-head attention over shared projection weights (no biases, as in MusicGen)."""

    def __init__(self, hf_attn, num_heads: int) -> None:
        super().__init__()
        self.q_proj, self.k_proj = hf_attn.q_proj, hf_attn.k_proj
        self.v_proj, self.out_proj = hf_attn.v_proj, hf_attn.out_proj
        self.num_heads = num_heads
        self.head_dim = self.q_proj.out_features // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv_proj: nn.Module | None = None

    def fuse_qkv(self) -> None:
        """One ``[3D, D]`` projection for Q, K and V, replacing the three in this module.

        One matmul instead of three per step: fewer calls and one read of the activations. Not
        used on the exact path (a different matmul shape need not sum in the same order).
        Transformers' own projections are untouched (the fused weight is a new tensor).
        """
        projs = (self.q_proj, self.k_proj, self.v_proj)
        if any(not isinstance(p, nn.Linear) or p.bias is not None for p in projs):
            raise TypeError("fuse_qkv needs float, bias-free Q/K/V projections (fuse first)")
        weight = torch.cat([p.weight.detach() for p in projs], dim=0)
        fused = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device)
        fused.weight = nn.Parameter(weight, requires_grad=False)
        self.qkv_proj = fused
        del self.q_proj, self.k_proj, self.v_proj  # unused now: not quantized, not kept

    def heads(self, proj: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` -> ``[B, H, T, Dh]``."""
        return proj(x).view(*x.shape[:-1], -1, self.head_dim).transpose(1, 2)

    def merge(self, out: torch.Tensor) -> torch.Tensor:
        """``[B, H, T, Dh]`` -> ``[B, T, D]`` through the output projection."""
        out = out.transpose(1, 2).contiguous()
        return self.out_proj(out.reshape(*out.shape[:2], -1).contiguous())

    def self_attend(
        self,
        x: torch.Tensor,  # [B, T, D]
        input_pos: torch.Tensor,  # [T]
        cache: KVCache,
        length: int | None,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        if self.qkv_proj is not None:
            qkv = self.qkv_proj(x).view(*x.shape[:-1], 3 * self.num_heads, self.head_dim)
            q, k, v = qkv.transpose(1, 2).split(self.num_heads, dim=1)
            k, v = cache.update(input_pos, k, v)
        else:
            q = self.heads(self.q_proj, x)
            k, v = cache.update(input_pos, self.heads(self.k_proj, x), self.heads(self.v_proj, x))
        if length is not None:  # exact mode: attend to the filled prefix only, as transformers
            k, v = k[:, :, :length], v[:, :, :length]
        return self.merge(_sdpa(q, k, v, mask, self.scale))

    def cross_attend(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None
    ) -> torch.Tensor:
        q = self.heads(self.q_proj, x)
        return self.merge(_sdpa(q, kv[0], kv[1], mask, self.scale))


class DecoderLayer(nn.Module):
    def __init__(self, hf_layer, config: DecoderConfig) -> None:
        super().__init__()
        self.self_attn = Attention(hf_layer.self_attn, config.num_heads)
        self.self_attn_layer_norm = hf_layer.self_attn_layer_norm
        self.cross_attn: Attention | None = None
        if config.cross_attention:
            self.cross_attn = Attention(hf_layer.encoder_attn, config.num_heads)
            self.cross_attn_layer_norm = hf_layer.encoder_attn_layer_norm
        self.fc1, self.fc2 = hf_layer.fc1, hf_layer.fc2
        self.final_layer_norm = hf_layer.final_layer_norm

    def forward(self, x, input_pos, cache, length, self_mask, cross_kv, cross_mask):
        x = x + self.self_attn.self_attend(
            self.self_attn_layer_norm(x), input_pos, cache, length, self_mask
        )
        if self.cross_attn is not None and cross_kv is not None:
            x = x + self.cross_attn.cross_attend(
                self.cross_attn_layer_norm(x), cross_kv, cross_mask
            )
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class MusicGenDecoder(nn.Module):
    """The decoder stack over a transformers MusicGen model's weights."""

    positions: torch.Tensor  # [max_positions, D] sinusoidal table

    def __init__(self, hf_model) -> None:
        super().__init__()
        self.config = DecoderConfig.from_hf(hf_model.config)
        causal_lm = hf_model.decoder  # MusicgenForCausalLM / MusicgenMelodyForCausalLM
        inner = causal_lm.model.decoder
        self.register_buffer("positions", inner.embed_positions.weights, persistent=False)
        self.blocks = [DecoderLayer(layer, self.config) for layer in inner.layers]
        self.layers = nn.ModuleList(self.blocks)
        self.layer_norm = inner.layer_norm
        # own containers over shared modules: quantizing ours leaves transformers' intact
        self.embed_tokens = nn.ModuleList(list(inner.embed_tokens))
        self.lm_heads = nn.ModuleList(list(causal_lm.lm_heads))
        self.caches: list[KVCache] = []

    def fuse_qkv(self) -> None:
        """Fuse every self-attention's Q/K/V projections (see ``Attention.fuse_qkv``)."""
        for layer in self.blocks:
            layer.self_attn.fuse_qkv()

    # ------------------------------------------------------------------ caches
    def setup_caches(self, batch: int, max_len: int) -> None:
        """Allocate (or reuse, when large enough) the static KV caches."""
        if self.caches and self.caches[0].k.shape[0] == batch and self.caches[0].max_len >= max_len:
            return
        c = self.config
        weight = next(self.embed_tokens[0].parameters())  # (heads may be int8)
        if max_len > self.positions.shape[0]:
            raise ValueError(f"{max_len} positions asked, the table has {self.positions.shape[0]}")
        self.caches = [
            KVCache(batch, c.num_heads, max_len, c.head_dim, weight.dtype, weight.device)
            for _ in self.layers
        ]

    def cross_kv(self, states: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Cross-attention K/V of every layer for ``states [B, S, D]``: computed once."""
        return [
            (attn.heads(attn.k_proj, states), attn.heads(attn.v_proj, states))
            for attn in (layer.cross_attn for layer in self.blocks)
            if attn is not None
        ]

    # ------------------------------------------------------------------ forward
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, K, T]`` tokens -> ``[B, T, D]``: the sum of the codebooks' embeddings."""
        total: torch.Tensor = sum(self.embed_tokens[k](ids[:, k]) for k in range(ids.shape[1]))
        return total

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D] embeddings (prefix and/or tokens)
        input_pos: torch.Tensor,  # [T] absolute positions, or [B, 1] one per row
        *,
        length: int | None = None,
        self_mask: torch.Tensor | None = None,
        cross_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        cross_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, K, T, V]`` for the embedded positions."""
        if input_pos.dim() == 2:  # [B, 1]: one position per row
            h = x + self.positions[input_pos].to(x.dtype)
        else:
            h = x + self.positions.index_select(0, input_pos).to(x.dtype)
        for i, layer in enumerate(self.blocks):
            kv = cross_kv[i] if cross_kv else None
            h = layer(h, input_pos, self.caches[i], length, self_mask, kv, cross_mask)
        h = self.layer_norm(h)
        return torch.stack([head(h) for head in self.lm_heads], dim=1)
