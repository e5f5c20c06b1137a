"""ACE-Step on the CPU: the setting ``device="cpu"`` gives by default (``fast_cpu=True``).

A song's time on the CPU goes to the DiT (8 turbo steps over the whole song's latents) and to
the VAE's decoder (convolutions at up to 48 kHz and their Snake activations); the text and
condition encoders take a few percent (docs/benchmarks.md, "Songs on the CPU"). So:

- **The DiT's linear layers in int8** (``engine.quantize.quantize_int8``: dynamic int8, one
  scale per output channel for the weights, activations quantized per call, int8 x int8 matmuls
  with int32 accumulation on fbgemm's AVX-512 VNNI kernels). The rest of the DiT (norms,
  embeddings, attention) stays float32.
- **The VAE's decoder**: its weight norm folded into the convolution weights once (diffusers
  recomputes it on every call; folding computes the same weights, so this alone changes
  nothing), and, where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), the decoder
  in bfloat16: the latents are cast on the way in and the audio back to float32 on the way out.
  The VAE's encoder (edit tasks, reference audio) stays float32.

The text encoder and the condition encoder stay float32. A request's own LoRA adapter (PEFT
wraps ``nn.Linear`` only) runs on float32 linears dequantized from the int8 weights for that
request (``float_linears``), int8 again after it. The output differs from the float32
pipeline's by quantization noise: its SNR against the float32 output for the same weights and
seed is stated in docs/benchmarks.md and bounded by ``tests/families/test_acestep_cpu.py``.
``fast_cpu=False`` or any explicit ``dtype`` gives diffusers' pipeline unchanged in that dtype.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = [
    "CPU_SETTING",
    "apply_cpu_setting",
    "bf16_supported",
    "float_linears",
    "fold_weight_norm",
]

#: what ``apply_cpu_setting`` reports (card details and each output's metadata)
CPU_SETTING = "int8 DiT linears, {vae} VAE decoder"


def bf16_supported() -> bool:
    """Whether this CPU has bfloat16 dot products (AVX512-BF16 or AMX) for oneDNN."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def fold_weight_norm(module: torch.nn.Module) -> int:
    """Replace every (hook-style) weight norm below ``module`` by the weight it computes;
    returns how many were folded."""
    from torch.nn.utils import remove_weight_norm

    folded = 0
    for child in module.modules():
        if any(type(h).__name__ == "WeightNorm" for h in child._forward_pre_hooks.values()):
            remove_weight_norm(child)
            folded += 1
    return folded


def _to_bf16(_module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (args[0].to(torch.bfloat16), *args[1:])


def _to_fp32(_module: torch.nn.Module, _args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
    return out.float()


def apply_cpu_setting(pipe: Any, *, bf16: bool | None = None) -> str:
    """Apply the CPU setting to an ``AceStepPipeline`` (float32, on the CPU) in place and name
    it. ``bf16``: the VAE decoder in bfloat16 (default: where ``bf16_supported()``)."""
    from ..engine.quantize import quantize_int8

    if pipe.transformer.dtype != torch.float32 or pipe.device.type != "cpu":
        raise ValueError("the CPU setting applies to a float32 pipeline on the CPU")
    quantize_int8(pipe.transformer, torch.device("cpu"))
    decoder = pipe.vae.decoder
    fold_weight_norm(decoder)
    use_bf16 = bf16_supported() if bf16 is None else bf16
    if use_bf16:
        decoder.to(torch.bfloat16)
        decoder.register_forward_pre_hook(_to_bf16)
        decoder.register_forward_hook(_to_fp32)
    return CPU_SETTING.format(vae="bfloat16" if use_bf16 else "float32")


@contextlib.contextmanager
def float_linears(module: torch.nn.Module) -> Iterator[int]:
    """Inside: every dynamic int8 linear below ``module`` replaced by a float32 ``nn.Linear``
    of its dequantized weights (what a per-request LoRA adapter wraps); after: the int8 layers
    back in their places. Yields how many were replaced."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    swapped: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DynamicLinear):
                bias = child.bias()
                linear = torch.nn.Linear(child.in_features, child.out_features, bias is not None)
                linear.weight.data = child.weight().dequantize()
                if bias is not None:
                    linear.bias.data = bias.detach().clone()
                setattr(parent, name, linear.requires_grad_(False))
                swapped.append((parent, name, child))
    try:
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
