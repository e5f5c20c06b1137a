"""int8 quantization of our decoder's linear layers (``quantize="int8"``).

- On CPU with float32 activations: dynamic int8 (PyTorch's fbgemm kernels): weights int8
  with one scale per output channel, activations quantized on the fly per call, int8 x int8
  matmuls with int32 accumulation. The decode step is memory-bound, so reading a quarter of
  the fp32 bytes is what makes it fast; activation quantization costs ~2 % relative error per
  layer.
- Elsewhere (CUDA, or bfloat16 on CPU): weight-only int8 (``Int8Linear``): int8 weights with
  per-channel scales, activations in the model's dtype, ``torch.ops.aten._weight_int8pack_mm``
  (or dequantizing on the fly where that kernel is missing).

Only our decoder's modules are replaced; transformers' model (the reference engine, T5,
EnCodec) keeps its own weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Int8Linear", "quantize_int8"]


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
