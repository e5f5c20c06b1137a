"""ACE-Step on the CPU: the setting ``device="cpu"`` gives by default (``fast_cpu=True``).

A 10 s turbo song's time on the CPU went (quiet 2-core box, docs/benchmarks.md) to the VAE's
decoder (~45 %: convolutions at up to 48 kHz and their Snake activations), the DiT (8 steps,
~35 %), the timbre encoder (~11 %: 750 frames of the learned silence latent on every call) and
the text and lyric encoders (~7 %). So:

- **The DiT's linear layers in int8** (``engine.quantize.quantize_int8``: dynamic int8, one
  scale per output channel for the weights, activations quantized per call, int8 x int8 matmuls
  with int32 accumulation on fbgemm's AVX-512 VNNI kernels). The rest of the DiT (norms,
  embeddings, attention) stays float32.
- **The VAE's decoder rebuilt for the CPU** (``CpuDecoder``): the same layers with the weight
  norm folded into the convolution weights once (diffusers recomputes it on every call), in
  bfloat16 where the CPU multiplies it natively (AVX512-BF16 or AMX), its convolutions as
  2-D ones over a ``[B, C, 1, T]`` channels-last tensor (oneDNN's time-major kernels: ~1.3x the
  1-D ones), each Snake activation's ``exp(alpha)`` and ``1 / (exp(beta) + 1e-9)`` computed
  once, and, where a C++ compiler is found (``cxx_compiler``), compiled by ``torch.compile``
  (inductor's C++ backend fuses each Snake's ``mul, sin, pow, mul, add`` and the residual add
  into one pass; ``dynamic=True``: one compiled graph for every song length). The latents are
  cast on the way in and the audio back to float32 on the way out. The VAE's encoder (edit
  tasks, reference audio) stays float32.
- **The timbre encoder's output kept** (``cache_timbre``): without reference audio the pipeline
  feeds it the same 750 frames of the learned silence latent on every call; a call whose inputs
  equal the last ones gets the last output (exactly what it would compute).

The text encoder and the condition encoder's other parts stay float32. A request's own LoRA
adapter (PEFT wraps ``nn.Linear`` only) runs on float32 linears dequantized from the int8
weights for that request (``float_linears``), int8 again after it. The output differs from the
float32 pipeline's by quantization and bfloat16 rounding: its SNR against the float32 output for
the same weights and seed is stated in docs/benchmarks.md and bounded by
``tests/families/test_acestep_cpu.py``. ``fast_cpu=False`` or any explicit ``dtype`` gives
diffusers' pipeline unchanged in that dtype; ``cpu_compile=False`` the same setting without
``torch.compile`` (its first song pays ~20-30 s of compiling on a 2-core CPU; later songs of
any length reuse it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.codec import bf16_supported

__all__ = [
    "CPU_SETTING",
    "CpuDecoder",
    "RowInt8Linear",
    "apply_cpu_setting",
    "bf16_supported",
    "cache_timbre",
    "compile_blocks",
    "cxx_compiler",
    "float_linears",
    "fold_weight_norm",
    "keep_cross_attention",
    "quantize_rows",
]

log = logging.getLogger(__name__)

#: what ``apply_cpu_setting`` reports (card details and each output's metadata)
CPU_SETTING = (
    "int8 DiT, text and lyric encoder linears, {vae} VAE decoder{compiled}, "
    "timbre and cross-attention kept"
)


def cxx_compiler() -> str | None:
    """The C++ compiler ``torch.compile``'s CPU backend would call (``$CXX``, else ``g++``,
    ``c++`` or ``clang++`` on the ``PATH``), or None where there is none."""
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


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


class _Snake(nn.Module):
    """diffusers' ``Snake1d`` (``x + sin(alpha x)^2 / (beta + 1e-9)``, log-scale parameters)
    over ``[B, C, 1, T]`` with its per-channel factors computed once."""

    alpha: torch.Tensor
    inv_beta: torch.Tensor

    def __init__(self, snake: Any, dtype: torch.dtype) -> None:
        super().__init__()
        alpha, beta = snake.alpha.detach().float(), snake.beta.detach().float()
        if snake.logscale:
            alpha, beta = alpha.exp(), beta.exp()
        self.register_buffer("alpha", alpha.reshape(1, -1, 1, 1).to(dtype))
        self.register_buffer("inv_beta", (beta + 1e-9).reciprocal().reshape(1, -1, 1, 1).to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inv_beta * torch.sin(self.alpha * x).pow(2)


class _Conv(nn.Module):
    """A (weight-norm-free) ``Conv1d`` or ``ConvTranspose1d`` as a 2-D convolution over
    ``[B, C, 1, T]`` with a channels-last weight."""

    weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, conv: Any, dtype: torch.dtype) -> None:
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        weight = conv.weight.detach().unsqueeze(2).to(dtype)
        self.register_buffer("weight", weight.contiguous(memory_format=torch.channels_last))
        bias = None if conv.bias is None else conv.bias.detach().to(dtype)
        self.register_buffer("bias", bias)
        self.stride = (1, int(conv.stride[0]))
        self.padding = (0, int(conv.padding[0]))
        self.dilation = (1, int(conv.dilation[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose2d(
                x, self.weight, self.bias, self.stride, self.padding, dilation=self.dilation
            )
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class _Residual(nn.Module):
    def __init__(self, unit: Any, dtype: torch.dtype) -> None:
        super().__init__()
        self.snake1, self.conv1 = _Snake(unit.snake1, dtype), _Conv(unit.conv1, dtype)
        self.snake2, self.conv2 = _Snake(unit.snake2, dtype), _Conv(unit.conv2, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # same length: no trimming
        return x + self.conv2(self.snake2(self.conv1(self.snake1(x))))


class CpuDecoder(nn.Module):
    """diffusers' ``OobleckDecoder`` (``vae.decoder``) for the CPU: the same layers, weight
    norm folded, in ``dtype``, over channels-last ``[B, C, 1, T]`` tensors; ``compile``: its
    forward compiled by ``torch.compile`` (``dynamic=True``), falling back to the eager form
    (logged) if compiling fails. Takes and returns what the original does (float32 latents
    ``[B, C, T]`` in, float32 audio ``[B, channels, N]`` out). Holds buffers, no parameters."""

    def __init__(
        self, decoder: Any, dtype: torch.dtype = torch.bfloat16, *, compile: bool = False
    ) -> None:
        super().__init__()
        fold_weight_norm(decoder)
        layers: list[nn.Module] = [_Conv(decoder.conv1, dtype)]
        for block in decoder.block:
            layers += [_Snake(block.snake1, dtype), _Conv(block.conv_t1, dtype)]
            layers += [_Residual(getattr(block, f"res_unit{i}"), dtype) for i in (1, 2, 3)]
        layers += [_Snake(decoder.snake1, dtype), _Conv(decoder.conv2, dtype)]
        self.layers = nn.Sequential(*layers)
        self.dtype = dtype
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if compile:
            self._compiled = torch.compile(self._eager, dynamic=True)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def _eager(self, z: torch.Tensor) -> torch.Tensor:
        x = z.to(self.dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return self.layers(x).squeeze(2).float()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.contiguous()  # the pipeline's latents are a transposed view: one graph for all
        if self._compiled is not None:
            try:
                return self._compiled(z)
            except Exception as exc:  # no working compiler after all: the eager form from now on
                log.warning("torch.compile of the VAE decoder failed (%s); running eager", exc)
                self._compiled = None
        return self._eager(z)


def cache_timbre(encoder: nn.Module) -> None:
    """Keep ``encoder``'s (the timbre encoder's) last output: a call with inputs equal to the
    last call's returns it again (the same values it would compute), else it computes. Off
    while gradients are on."""
    forward = encoder.forward
    last: list[tuple[tuple[torch.Tensor, ...], Any]] = []

    def cached(*args: torch.Tensor) -> Any:
        if torch.is_grad_enabled():
            return forward(*args)
        if last:
            seen, out = last[0]
            if len(seen) == len(args) and all(
                a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
                for a, b in zip(seen, args, strict=True)
            ):
                return tuple(t.clone() for t in out)
        out = forward(*args)
        last[:] = [(tuple(a.detach().clone() for a in args), tuple(t.detach() for t in out))]
        return out

    encoder.forward = cached


class RowInt8Linear(nn.Module):
    """An ``nn.Linear`` in int8 for ``torch.compile``: weights int8 with one scale per output
    channel, activations quantized per call with one scale per row (token), ``torch._int_mm``
    (int8 x int8, int32 accumulation; oneDNN's VNNI kernels on the CPU) and both scales applied
    to its output. Plain tensor operations, so inductor fuses the quantization and the
    rescaling into the surrounding elementwise work (fbgemm's packed dynamic linear does not
    trace); eager it is slower than fbgemm's, and a per-row scale is more accurate than its
    per-tensor one."""

    weight_q: torch.Tensor  # int8 [in, out]
    scales: torch.Tensor  # float32 [out]
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight_q", q.t().contiguous())
        self.register_buffer("scales", scales)
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        self.register_buffer("bias", bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def dequantized(self) -> nn.Linear:
        """The float32 ``nn.Linear`` of these int8 weights."""
        dense = nn.Linear(self.in_features, self.out_features, self.bias is not None)
        dense.weight.data = self.weight_q.t().float() * self.scales[:, None]
        if self.bias is not None:
            dense.bias.data = self.bias.clone()
        return dense.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(dim=-1, keepdim=True).clamp(min=1e-8) / 127.0
        q = torch.round(rows / scale).clamp(-127, 127).to(torch.int8)
        out = torch._int_mm(q, self.weight_q).float() * (scale * self.scales)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)


def quantize_rows(module: nn.Module) -> int:
    """Replace every ``nn.Linear`` below ``module`` by a ``RowInt8Linear``; returns how many."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, RowInt8Linear(child))
                replaced += 1
    return replaced


def compile_blocks(transformer: Any) -> int:
    """Each of the DiT's blocks' forward compiled by ``torch.compile`` (``dynamic=True``: one
    graph for every song length, shared by the blocks), falling back to the eager forward
    (logged) if compiling fails; ``float_linears`` turns them eager for its duration. Returns
    how many blocks."""
    for block in transformer.layers:
        eager = block.forward
        block._cpu_compiled = torch.compile(eager, dynamic=True)

        def forward(*args: Any, _block: Any = block, _eager: Any = eager, **kwargs: Any) -> Any:
            compiled = _block._cpu_compiled
            if compiled is not None:
                try:
                    return compiled(*args, **kwargs)
                except Exception as exc:  # no working compiler after all: eager from now on
                    log.warning("torch.compile of a DiT block failed (%s); running eager", exc)
                    for other in transformer.layers:
                        other._cpu_compiled = None
            return _eager(*args, **kwargs)

        block.forward = forward
    return len(transformer.layers)


class _KeptLinear(nn.Module):
    """A linear layer whose input is the same tensor on every denoising step (the condition
    embedder, the cross-attention's key and value projections): the output for the last two
    input tensors (by identity) is kept and returned again, the values it would compute. Off
    while gradients are on."""

    def __init__(self, linear: nn.Module) -> None:
        super().__init__()
        self.linear = linear
        self._kept: list[tuple[torch.Tensor, torch.Tensor]] = []

    @torch.compiler.disable  # in a compiled block: a call of its own (identity, not values)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.linear(x)
        for seen, out in self._kept:
            if x is seen:
                return out
        out = self.linear(x)
        self._kept = [(x, out), *self._kept[:1]]
        return out


def keep_cross_attention(transformer: Any) -> int:
    """Keep the DiT's condition embedding and each cross-attention's keys and values across
    denoising steps (``_KeptLinear``: the pipeline passes the same condition tensor to every
    step); returns how many layers keep theirs."""
    transformer.condition_embedder = _KeptLinear(transformer.condition_embedder)
    kept = 1
    for block in transformer.layers:
        cross = getattr(block, "cross_attn", None)
        if cross is not None:
            cross.to_k, cross.to_v = _KeptLinear(cross.to_k), _KeptLinear(cross.to_v)
            kept += 2
    return kept


def apply_cpu_setting(pipe: Any, *, bf16: bool | None = None, compile: bool | None = None) -> str:
    """Apply the CPU setting to an ``AceStepPipeline`` (float32, on the CPU) in place and name
    it. ``bf16``: the VAE decoder in bfloat16 (default: where ``bf16_supported()``);
    ``compile``: the VAE decoder compiled (default: where ``cxx_compiler()`` finds one)."""
    from ..engine.quantize import quantize_int8

    if pipe.transformer.dtype != torch.float32 or pipe.device.type != "cpu":
        raise ValueError("the CPU setting applies to a float32 pipeline on the CPU")
    cpu = torch.device("cpu")
    use_compile = cxx_compiler() is not None if compile is None else compile
    if use_compile:  # linears inductor can fuse around, then the blocks compiled
        quantize_rows(pipe.transformer)
        compile_blocks(pipe.transformer)
    else:  # eager: fbgemm's dynamic int8 is the faster kernel
        quantize_int8(pipe.transformer, cpu)
    keep_cross_attention(pipe.transformer)
    quantize_int8(pipe.text_encoder, cpu)
    quantize_int8(pipe.condition_encoder.lyric_encoder, cpu)
    use_bf16 = bf16_supported() if bf16 is None else bf16
    dtype = torch.bfloat16 if use_bf16 else torch.float32
    pipe.vae.decoder = CpuDecoder(pipe.vae.decoder, dtype, compile=use_compile)
    cache_timbre(pipe.condition_encoder.timbre_encoder)
    return CPU_SETTING.format(
        vae="bfloat16" if use_bf16 else "float32", compiled=" (compiled)" if use_compile else ""
    )


@contextlib.contextmanager
def float_linears(module: torch.nn.Module) -> Iterator[int]:
    """Inside: every dynamic int8 linear below ``module`` replaced by a float32 ``nn.Linear``
    of its dequantized weights (what a per-request LoRA adapter wraps), and every linear kept
    across steps (``keep_cross_attention``) by that plain linear (an adapter changes what it
    computes); after: the int8 and kept layers back in their places. Yields how many were
    replaced."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    swapped: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for parent in [m for m in module.modules() if not isinstance(m, _KeptLinear)]:
        for name, child in list(parent.named_children()):
            if isinstance(child, _KeptLinear):  # PEFT wraps it, and it may not keep
                inner = child.linear
            elif isinstance(child, DynamicLinear | RowInt8Linear):
                inner = child
            else:
                continue
            linear: nn.Module = inner  # a float linear kept across steps: itself
            if isinstance(inner, RowInt8Linear):
                linear = inner.dequantized()
            elif isinstance(inner, DynamicLinear):
                bias = inner.bias()
                dense = torch.nn.Linear(inner.in_features, inner.out_features, bias is not None)
                dense.weight.data = inner.weight().dequantize()
                if bias is not None:
                    dense.bias.data = bias.detach().clone()
                linear = dense
            setattr(parent, name, linear.requires_grad_(False))
            swapped.append((parent, name, child))
    compiled: list[tuple[Any, Any]] = [
        (m, m._cpu_compiled) for m in module.modules() if hasattr(m, "_cpu_compiled")
    ]
    for block, _ in compiled:  # other layers: eager (a compiled graph would recompile)
        block._cpu_compiled = None
    try:
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        for block, fn in compiled:
            block._cpu_compiled = fn
