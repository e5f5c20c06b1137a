"""Our decoder's one-token step as an ONNX graph (``engine="onnxruntime"``), built from its weights.

The graph is written node by node from ``MusicGenDecoder``'s modules (no tracing): per layer a
LayerNorm, one fused Q/K/V matmul, ONNX Runtime's ``GroupQueryAttention`` over the static KV
cache (the cache buffers are graph inputs *and* outputs: bound to the same memory, the kernel
writes this position's K/V in place and attends to the filled prefix only), the cross-attention
(``MultiHeadAttention`` against K/V computed once per request), the GELU MLP; then the final
LayerNorm and the codebooks' heads as one matmul.

Inputs: ``x [R, 1, D]`` (the step's embeddings, positions added), ``seqlens_k [R]`` (int32:
the position being written), ``total_len [1]`` (position + 1), ``past_k_i / past_v_i [R, H, L,
Dh]`` per layer, ``cross_k_i / cross_v_i [R, H, S, Dh]`` and ``cross_bias [R, 1, 1, S]`` (text
checkpoints), ``self_bias [R, 1, 1, position + 1]`` (melody checkpoints: masks a padded prefix).
Outputs: ``logits [R, K, V]`` and ``present_k_i / present_v_i`` (the caches).

Weights (``quantize``): ``None`` float32 ``MatMul``; ``"int8"`` ``DynamicQuantizeMatMul`` (int8
weights, one scale per output channel, activations quantized per call: VNNI int8 dot products);
``"int4"`` ``MatMulNBits`` (4-bit weights in blocks of 64 input channels — 32 where the width
is no multiple of 64 — with a scale and a 4-bit zero point each, ``accuracy_level=4``:
activations quantized to int8 per block, int8 x int4 dot products), the heads in int8 (int4
heads cost most of the logits error). Blocks of 64 rather than 32: 1.1x faster steps on
musicgen-small for about the logits error of our own int4 (``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .model import MusicGenDecoder

__all__ = ["INT4_BLOCK", "build_step_graph", "int4_blocks", "int8_columns"]

MS = "com.microsoft"
INT4_BLOCK = 64
#: additive attention bias of a masked key (finite: a fully masked row gets uniform weights
#: over zero values, i.e. zeros, as torch's SDPA gives)
MASKED = -1e9


def int8_columns(weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``weight [N, K]`` -> int8 ``B [K, N]`` and one symmetric scale per output channel."""
    w = weight.detach().float()
    scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
    q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q.t().contiguous().numpy(), scales.numpy()


def int4_blocks(
    weight: torch.Tensor, block: int = INT4_BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``weight [N, K]`` -> ``MatMulNBits``' packed codes ``[N, K/block, block/2]`` (uint8, two
    per byte, the even element in the low nibble), scales ``[N, K/block]`` and packed 4-bit zero
    points ``[N, ceil(K/block/2)]``: ``w ≈ (q - zero) * scale`` with the block's range widened to
    hold 0 (so the zero point is a code)."""
    n, k = weight.shape
    groups = weight.detach().float().reshape(n, k // block, block)
    lo = groups.amin(dim=-1).clamp(max=0.0)
    hi = groups.amax(dim=-1).clamp(min=0.0)
    scale = ((hi - lo) / 15.0).clamp(min=1e-8)
    zero = torch.round(-lo / scale).clamp(0, 15)
    q = (torch.round(groups / scale[..., None]) + zero[..., None]).clamp(0, 15).to(torch.uint8)
    packed = q[..., 0::2] | (q[..., 1::2] << 4)
    z = zero.to(torch.uint8)
    if z.shape[1] % 2:
        z = torch.cat([z, torch.zeros_like(z[:, :1])], dim=1)
    zeros = z[:, 0::2] | (z[:, 1::2] << 4)
    return packed.numpy(), scale.numpy(), zeros.numpy()


class _Graph:
    def __init__(self, quantize: str | None, block: int) -> None:
        self.quantize, self.block = quantize, block
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def init(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, domain: str = "", **attrs) -> list:
        outs = [self.name(op) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, domain=domain or None, **attrs))
        return outs

    def input(self, name: str, dtype: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def output(self, name: str, dtype: int, shape: list) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, dtype, shape))

    def layer_norm(self, x: str, ln: torch.nn.LayerNorm) -> str:
        g = self.init("ln_w", ln.weight.detach().float().numpy())
        b = self.init("ln_b", ln.bias.detach().float().numpy())
        return self.node("LayerNormalization", [x, g, b], axis=-1, epsilon=float(ln.eps))[0]

    def linear(self, x: str, weight: torch.Tensor, quantize: str | None = "") -> str:
        """``x @ weight.T`` with ``weight [N, K]`` stored as ``quantize`` says ("": the graph's)."""
        mode = self.quantize if quantize == "" else quantize
        n, k = weight.shape
        block = next((b for b in (self.block, 32) if k % b == 0), 0)
        if mode == "int4" and block:
            packed, scales, zeros = int4_blocks(weight, block)
            inputs = [x, self.init("w4", packed), self.init("s4", scales), self.init("z4", zeros)]
            return self.node(
                "MatMulNBits", inputs, domain=MS, K=k, N=n, bits=4,
                block_size=block, accuracy_level=4,
            )[0]  # fmt: skip
        if mode in ("int8", "int4"):
            q, scales = int8_columns(weight)
            return self.node(
                "DynamicQuantizeMatMul", [x, self.init("w8", q), self.init("s8", scales)], domain=MS
            )[0]
        w = self.init("w", weight.detach().float().t().contiguous().numpy())
        return self.node("MatMul", [x, w])[0]

    def add(self, a: str, b: str) -> str:
        return self.node("Add", [a, b])[0]


def _weight(module: torch.nn.Module) -> torch.Tensor:
    if not isinstance(module, torch.nn.Linear) or module.bias is not None:
        raise TypeError("the ONNX step takes float, bias-free linear layers (MusicGen's)")
    return module.weight


def build_step_graph(
    decoder: MusicGenDecoder, quantize: str | None = None, block: int = INT4_BLOCK
) -> onnx.ModelProto:
    """The one-token decode step of ``decoder`` (float32, unfused, unquantized modules);
    ``block``: the int4 block size (input channels per scale)."""
    c = decoder.config
    g = _Graph(quantize, block)
    f32, i32 = TensorProto.FLOAT, TensorProto.INT32
    d, h, dh = c.hidden_size, c.num_heads, c.head_dim
    x = g.input("x", f32, ["rows", 1, d])
    seqlens = g.input("seqlens_k", i32, ["rows"])
    total = g.input("total_len", i32, [1])
    self_bias = g.input("self_bias", f32, ["rows", 1, 1, "total"]) if not c.cross_attention else ""
    cross_bias = g.input("cross_bias", f32, ["rows", 1, 1, "text"]) if c.cross_attention else ""
    cache = ["rows", h, "cache_len", dh]
    for i, layer in enumerate(decoder.blocks):
        attn = layer.self_attn
        past_k = g.input(f"past_k_{i}", f32, cache)
        past_v = g.input(f"past_v_{i}", f32, cache)
        qkv_w = torch.cat([_weight(attn.q_proj), _weight(attn.k_proj), _weight(attn.v_proj)])
        qkv = g.linear(g.layer_norm(x, layer.self_attn_layer_norm), qkv_w)
        gqa_in = [qkv, "", "", past_k, past_v, seqlens, total, "", "", "", self_bias]
        out = g.node(
            "GroupQueryAttention", gqa_in, 3, MS, num_heads=h, kv_num_heads=h, scale=attn.scale
        )[0]
        # the caches come out under their own names (bound to the inputs' memory)
        g.nodes[-1].output[1], g.nodes[-1].output[2] = f"present_k_{i}", f"present_v_{i}"
        g.output(f"present_k_{i}", f32, cache)
        g.output(f"present_v_{i}", f32, cache)
        x = g.add(x, g.linear(out, _weight(attn.out_proj)))
        if layer.cross_attn is not None:
            cross = layer.cross_attn
            ck = g.input(f"cross_k_{i}", f32, ["rows", h, "text", dh])
            cv = g.input(f"cross_v_{i}", f32, ["rows", h, "text", dh])
            q = g.linear(g.layer_norm(x, layer.cross_attn_layer_norm), _weight(cross.q_proj))
            out = g.node(
                "MultiHeadAttention", [q, ck, cv, "", "", cross_bias], 1, MS,
                num_heads=h, scale=cross.scale,
            )[0]  # fmt: skip
            x = g.add(x, g.linear(out, _weight(cross.out_proj)))
        hidden = g.linear(g.layer_norm(x, layer.final_layer_norm), _weight(layer.fc1))
        x = g.add(x, g.linear(g.node("Gelu", [hidden], domain=MS)[0], _weight(layer.fc2)))
    x = g.layer_norm(x, decoder.layer_norm)
    heads = torch.cat([_weight(head) for head in decoder.lm_heads])  # [K * V, D]
    logits = g.linear(x, heads, "int8" if quantize == "int4" else "")
    shape = g.init("shape", np.array([-1, c.num_codebooks, c.vocab_size], dtype=np.int64))
    g.nodes.append(helper.make_node("Reshape", [logits, shape], ["logits"]))
    g.output("logits", f32, ["rows", c.num_codebooks, c.vocab_size])
    graph = helper.make_graph(g.nodes, "musicgen_step", g.inputs, g.outputs, g.inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=9)
