"""Which decoder runs a loaded checkpoint, and how it is set up.

``Engine`` turns a name (``"fast"``, ``"onnxruntime"`` or ``"reference"``) and options into a
factory of decoding sessions for the decode loop: ``FastStepDecoder`` on our decoder (optionally
int8 or int4 weights, with Q/K/V fused into one matmul; CUDA graphs on GPU), ``OrtStepDecoder``
(our prefill, then every step on ONNX Runtime's CPU kernels: float32, int8 or int4 weights; the
``cpu`` extra) or ``HFStepDecoder`` on transformers' modules. It also sets sensible CPU thread
counts once. It knows nothing about prompts or audio.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidInput
from .conditioning import Condition
from .fast_decoder import CUDAGraphStep, FastStepDecoder
from .generate import StepDecoder
from .hf_decoder import HFStepDecoder
from .loading import LoadedModel
from .model import MusicGenDecoder
from .quantize import quantize_int4, quantize_int8

if TYPE_CHECKING:
    from .onnx_decoder import OrtStep

__all__ = ["ENGINES", "Engine"]

ENGINES = ("fast", "onnxruntime", "reference")
QUANTIZATIONS = (None, "int8", "int4")
#: engines that take ``quantize``
QUANTIZED_ENGINES = ("fast", "onnxruntime")


def _set_cpu_threads() -> None:
    """One intra-op thread per physical core unless the user chose (OMP/MKL/torch settings)."""
    if any(v in os.environ for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return
    cores = os.cpu_count() or 1
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


class Engine:
    def __init__(self, loaded: LoadedModel, name: str = "fast", quantize: str | None = None):
        if name not in ENGINES:
            raise InvalidInput(
                f"unknown engine {name!r}; choose one of {ENGINES}", code="INVALID_ENGINE"
            )
        if quantize not in QUANTIZATIONS:
            raise InvalidInput(
                f"unknown quantization {quantize!r}; choose int8, int4 or none",
                code="INVALID_QUANTIZATION",
            )
        if quantize is not None and name not in QUANTIZED_ENGINES:
            raise InvalidInput(
                "quantize needs engine='fast' or 'onnxruntime'", code="INVALID_QUANTIZATION"
            )
        if quantize == "int4" and loaded.device.type != "cpu":
            raise InvalidInput(
                "quantize='int4' runs on CPU only (its kernels); use int8 or bfloat16 on GPU",
                code="INVALID_QUANTIZATION",
            )
        self.loaded = loaded
        self.name = name
        self.quantize = quantize
        self.decoder: MusicGenDecoder | None = None
        self.graph: CUDAGraphStep | None = None
        self.ort: OrtStep | None = None
        if loaded.device.type == "cpu":
            _set_cpu_threads()
        if name == "onnxruntime":
            self.ort = _ort_step(loaded, quantize)
        if name == "fast":
            self.decoder = MusicGenDecoder(loaded.model)
            if quantize is not None:  # not token-exact anyway: one Q/K/V matmul per layer
                self.decoder.fuse_qkv()
            if quantize == "int8":
                quantize_int8(self.decoder, loaded.device)
            elif quantize == "int4":  # int4 layers; the logits' heads in int8 (~1 % error)
                quantize_int4(self.decoder.layers)
                quantize_int8(self.decoder.lm_heads, loaded.device)
            if loaded.device.type == "cuda":
                self.graph = CUDAGraphStep()

    @property
    def exact(self) -> bool:
        """Token-exact kernels (dynamic shapes) everywhere but on CUDA, where graphs need static."""
        return self.loaded.device.type != "cuda"

    def session(self, condition: Condition, grid_length: int, graph: bool = True) -> StepDecoder:
        """A decoding session for one window (``graph=False``: never the CUDA graph — a
        request with its own unmerged adapter, whose LoRA a captured graph would not have)."""
        if self.ort is not None:
            from .onnx_decoder import OrtStepDecoder

            return OrtStepDecoder(self.ort, self.loaded.model, condition, grid_length)
        if self.decoder is None:
            return HFStepDecoder(self.loaded.model, condition)
        return FastStepDecoder(
            self.decoder,
            self.loaded.model,
            condition,
            grid_length,
            exact=self.exact,
            graph=self.graph if graph else None,
        )


def _ort_step(loaded: LoadedModel, quantize: str | None) -> OrtStep:
    """The ONNX Runtime step over a float32 CPU load (``INVALID_ENGINE`` otherwise, or without
    the ``cpu`` extra). Its own decoder object: ``Engine.decoder`` stays None, so nothing that
    needs our fast decoder (the continuous batcher, per-request adapters) takes this engine."""
    if loaded.device.type != "cpu" or loaded.dtype != torch.float32:
        raise InvalidInput(
            "engine='onnxruntime' runs on CPU in float32 (device='cpu', dtype='float32'); "
            f"this model is loaded on {loaded.device.type} in "
            f"{str(loaded.dtype).removeprefix('torch.')}",
            code="INVALID_ENGINE",
        )
    try:
        from .onnx_decoder import OrtStep
    except ImportError as exc:
        raise InvalidInput(
            "engine='onnxruntime' needs ONNX Runtime: pip install 'music-gen[cpu]' "
            f"(missing: {exc.name})",
            code="INVALID_ENGINE",
            details={"engine": "onnxruntime", "missing": exc.name},
        ) from exc
    return OrtStep(MusicGenDecoder(loaded.model), quantize)
