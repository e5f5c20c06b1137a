"""Low-bit weights for our decoder's linear layers (``quantize="int8"`` / ``"int4"``).

- ``int8`` on CPU with float32 activations: dynamic int8 (PyTorch's fbgemm kernels): weights
  int8 with one scale per output channel, activations quantized on the fly per call, int8 x int8
  matmuls with int32 accumulation. The decode step is memory-bound, so reading a quarter of the
  fp32 bytes is what makes it fast; activation quantization costs ~2 % relative error per layer.
- ``int8`` elsewhere (CUDA, or bfloat16 on CPU): weight-only int8 (``Int8Linear``): int8
  weights with per-channel scales, activations in the model's dtype,
  ``torch.ops.aten._weight_int8pack_mm`` (or dequantizing on the fly where that kernel is
  missing).
- ``int4`` (CPU): weight-only int4 (``Int4Linear``): asymmetric 4-bit weights in groups of
  ``group_size`` input channels (one bf16 scale and offset per group and output channel, the
  layout of torchao's int4 weight-only), packed by
  ``torch.ops.aten._convert_weight_to_int4pack_for_cpu`` and multiplied by
  ``torch.ops.aten._weight_int4pack_mm_for_cpu`` with bfloat16 activations (that kernel's fast
  path; its float32 path is ~30x slower), so float32 activations are cast at the layer's edges.
  An eighth of the fp32 bytes per step; ~8 % relative error per layer on random weights
  (``tests/engine/test_quantize.py`` states the bounds on whole-decoder logits). Layers whose
  shapes the kernel does not take (output features not a multiple of 16, input features not a
  multiple of 32) stay as they are.

Only our decoder's modules are replaced; transformers' model (the reference engine, T5,
EnCodec) keeps its own weights. What it does not know: which layers to fuse (``model``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["INT4_GROUP_SIZES", "Int4Linear", "Int8Linear", "quantize_int4", "quantize_int8"]

#: Group sizes the CPU int4 kernel accepts.
INT4_GROUP_SIZES = (32, 64, 128, 256)


class Int8Linear(nn.Module):
    weight: torch.Tensor  # int8 [out, in]
    scales: torch.Tensor  # [out]

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0  # [out]
        q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        dtype = linear.weight.dtype
        self.register_buffer("weight", q, persistent=False)
        self.register_buffer("scales", scales.to(dtype), persistent=False)
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        try:
            out = torch.ops.aten._weight_int8pack_mm(flat, self.weight, self.scales.to(x.dtype))
        except (RuntimeError, NotImplementedError):
            out = F.linear(flat, self.weight.to(x.dtype)) * self.scales.to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)


def _int4_groups(weight: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``weight [N, K]`` -> 4-bit codes ``[N, K]`` (int32, 0..15) and ``[K/g, N, 2]`` params.

    Per group: ``w ≈ (q - 8) * scale + zero`` with ``scale = (max - min) / 15`` and
    ``zero = min + 8 * scale`` (what the kernel computes), rounding to the nearest code.
    """
    n, k = weight.shape
    groups = weight.float().reshape(n, k // group_size, group_size)
    lo = groups.amin(dim=-1, keepdim=True)
    hi = groups.amax(dim=-1, keepdim=True)
    scale = (hi - lo).clamp(min=1e-6) / 15.0
    zero = lo + 8.0 * scale
    q = torch.round((groups - lo) / scale).clamp(0, 15).to(torch.int32).reshape(n, k)
    params = torch.cat([scale, zero], dim=-1).transpose(0, 1).contiguous()  # [K/g, N, 2]
    return q, params


def int4_supported(linear: nn.Linear, group_size: int) -> bool:
    return linear.out_features % 16 == 0 and linear.in_features % group_size == 0


class Int4Linear(nn.Module):
    """Weight-only int4 linear layer over the CPU int4 kernel (bfloat16 activations)."""

    weight: torch.Tensor  # packed uint8 [out, in / 2]
    scales_and_zeros: torch.Tensor  # bf16 [in / group, out, 2]

    def __init__(self, linear: nn.Linear, group_size: int = 32) -> None:
        super().__init__()
        if group_size not in INT4_GROUP_SIZES:
            raise ValueError(f"int4 group size must be one of {INT4_GROUP_SIZES}")
        if not int4_supported(linear, group_size):
            raise ValueError(
                f"int4 needs out_features % 16 == 0 and in_features % {group_size} == 0, "
                f"got {linear.out_features}x{linear.in_features}"
            )
        q, params = _int4_groups(linear.weight.detach(), group_size)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)
        self.register_buffer("weight", packed, persistent=False)
        self.register_buffer("scales_and_zeros", params.to(torch.bfloat16), persistent=False)
        self.bias = linear.bias
        self.group_size = group_size
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def dequantized(self) -> torch.Tensor:
        """The float32 weight ``[out, in]`` the kernel multiplies by (for checks)."""
        eye = torch.eye(self.in_features, dtype=torch.bfloat16)
        return self._mm(eye).float().t().contiguous()

    def _mm(self, flat: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(
            flat, self.weight, self.group_size, self.scales_and_zeros
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        out = self._mm(x.reshape(-1, shape[-1]).to(torch.bfloat16)).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias.to(x.dtype)
        return out.reshape(*shape[:-1], self.out_features)


def quantize_int4(module: nn.Module, group_size: int = 32) -> nn.Module:
    """Replace every supported ``nn.Linear`` below ``module`` (its own containers) by int4."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            if int4_supported(child, group_size):
                setattr(module, name, Int4Linear(child, group_size))
        else:
            quantize_int4(child, group_size)
    return module


def quantize_int8(module: nn.Module, device: torch.device | None = None) -> nn.Module:
    """Replace every ``nn.Linear`` below ``module`` (in ``module``'s own containers) by int8."""
    dtype = next(module.parameters()).dtype
    if device is not None and device.type == "cpu" and dtype == torch.float32:
        import warnings

        from torch.ao import quantization

        with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
            warnings.simplefilter("ignore")
            qconfig = {nn.Linear: quantization.per_channel_dynamic_qconfig}
            quantization.quantize_dynamic(module, qconfig, inplace=True)
        return module
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            quantize_int8(child)
    return module
