"""The decode step on ONNX Runtime (``engine="onnxruntime"``).

``OrtStep`` holds one ONNX Runtime session per loaded model over the step graph of
``onnx_graph`` (float32, int8 or int4 weights). ``OrtStepDecoder`` is a decoding session with
``FastStepDecoder``'s interface: a prefill of several positions (a continuation's prompt, a
melody prefix) runs on our float32 torch decoder, which fills the static KV caches; every other
step (a text prompt's first column included) runs the graph, its
inputs and outputs bound once per session to torch's memory (I/O binding by pointer, no copies):
the caches themselves (the graph writes the new position's K/V in place), the cross-attention
K/V, and small step buffers (embeddings, position, logits) refilled per step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from .conditioning import Condition
from .fast_decoder import FastStepDecoder
from .model import MusicGenDecoder
from .onnx_graph import INT4_BLOCK, build_step_graph

__all__ = ["OrtStep", "OrtStepDecoder"]

_PROTO_LIMIT = 1_800_000_000  # bytes: larger graphs go to a file with external weights


class OrtStep:
    """The step graph of ``decoder`` (with ``quantize``) in one ONNX Runtime session."""

    def __init__(
        self,
        decoder: MusicGenDecoder,
        quantize: str | None,
        threads: int | None = None,
        block: int = INT4_BLOCK,
    ) -> None:

        self.decoder, self.quantize = decoder, quantize
        model = build_step_graph(decoder, quantize, block)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # spinning threads: int4 18.1 vs 21.2 ms a step without (musicgen-small, 2 cores)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
        # spin inside a step, not after it: between steps torch samples the tokens, and at a
        # chunk's end EnCodec decodes; ORT's threads still spinning then took their cores
        # (first streamed chunk 0.47 -> 0.40 s, 5 s of audio 4.3-4.9 -> 4.2-4.4 s, small, int4)
        opts.add_session_config_entry("session.force_spinning_stop", "1")
        providers = ["CPUExecutionProvider"]
        if model.ByteSize() < _PROTO_LIMIT:
            self.session = ort.InferenceSession(model.SerializeToString(), opts, providers)
        else:  # protobuf's 2 GB limit: the weights beside the graph in a temporary folder
            import onnx

            with tempfile.TemporaryDirectory(prefix="music-gen-onnx-") as tmp:
                path = Path(tmp) / "step.onnx"
                onnx.save_model(model, path, save_as_external_data=True, location="weights.bin")
                del model
                self.session = ort.InferenceSession(str(path), opts, providers)


class OrtStepDecoder(FastStepDecoder):
    """A decoding session whose steps run on ``OrtStep`` (a long prefill on our decoder)."""

    def __init__(self, step: OrtStep, hf_model, condition: Condition, max_len: int) -> None:
        super().__init__(step.decoder, hf_model, condition, max_len, exact=True)
        self.ort = step
        decoder, c = step.decoder, step.decoder.config
        rows = condition.mask.shape[0]
        self.x = torch.zeros((rows, 1, c.hidden_size))
        self.seqlens = torch.zeros(rows, dtype=torch.int32)
        self.total = torch.zeros(1, dtype=torch.int32)
        self.logits = torch.zeros((rows, c.num_codebooks, c.vocab_size))
        self._keep: list[torch.Tensor] = []  # what the binding points into stays alive
        self.binding = step.session.io_binding()
        self._bind("x", self.x)
        self._bind("seqlens_k", self.seqlens)
        self._bind("total_len", self.total)
        self._bind("logits", self.logits, output=True)
        for i, cache in enumerate(decoder.caches):
            for name, buf in (("k", cache.k), ("v", cache.v)):
                self._bind(f"past_{name}_{i}", buf)
                self._bind(f"present_{name}_{i}", buf, output=True)
        self.self_bias: torch.Tensor | None = None
        self.bias_now: torch.Tensor | None = None
        if self.melody:  # keys a row may attend to: a padded prefix's masked positions
            key_ok = self.key_ok
            if key_ok is None:
                key_ok = torch.ones((rows, self.cache_len), dtype=torch.bool)
            self.self_bias = torch.zeros((rows, 1, 1, self.cache_len))
            self.self_bias.masked_fill_(~key_ok[:, None, None, :], -1e9)
        else:
            assert self.cross_kv is not None
            for i, (k, v) in enumerate(self.cross_kv):
                self._bind(f"cross_k_{i}", k.contiguous())
                self._bind(f"cross_v_{i}", v.contiguous())
            bias = torch.zeros((rows, 1, 1, condition.mask.shape[1]))
            bias.masked_fill_(~condition.mask.bool()[:, None, None, :], -1e9)
            self._bind("cross_bias", bias)

    def _bind(self, name: str, t: torch.Tensor, output: bool = False, keep: bool = True) -> None:
        if not t.is_contiguous() or t.device.type != "cpu" or t.dtype not in _NP:
            raise ValueError(f"{name}: the ONNX step binds contiguous CPU float32/int32 tensors")
        if keep:
            self._keep.append(t)
        args = (name, "cpu", 0, _NP[t.dtype], list(t.shape), t.data_ptr())
        if output:
            self.binding.bind_output(*args)
        else:
            self.binding.bind_input(*args)

    @torch.no_grad()
    def prefill(self, grid: torch.Tensor) -> torch.Tensor:
        """One column and no prefix (text to music without a prompt): the graph's step at
        position 0, with its own weights; else our float32 decoder over the whole prompt."""
        if not self.melody and self.pos == 0 and grid.shape[-1] == 1:
            return self.step(grid)
        return super().prefill(grid)

    @torch.no_grad()
    def step(self, column: torch.Tensor) -> torch.Tensor:
        decoder, pos = self.ort.decoder, self.pos
        if pos >= self.cache_len:
            raise ValueError(f"the cache holds {self.cache_len} positions")
        x = decoder.embed(self._ids(column))
        torch.add(x, decoder.positions[pos : pos + 1].to(x.dtype), out=self.x)
        self.seqlens.fill_(pos)
        self.total.fill_(pos + 1)
        if self.self_bias is not None:  # its length follows the position: bound per step
            self.bias_now = self.self_bias[..., : pos + 1].contiguous()
            self._bind("self_bias", self.bias_now, keep=False)
        self.ort.session.run_with_iobinding(self.binding)
        self.pos = pos + 1
        return self.logits.clone()


_NP = {torch.float32: np.float32, torch.int32: np.int32}
