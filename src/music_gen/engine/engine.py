"""Which decoder runs a loaded checkpoint, and how it is set up.

``Engine`` turns a name (``"fast"`` or ``"reference"``) and options into a factory of decoding
sessions for the decode loop: ``FastStepDecoder`` on our decoder (optionally int8 or int4
weights, with Q/K/V fused into one matmul; CUDA graphs on GPU) or ``HFStepDecoder`` on
transformers' modules. It also sets sensible CPU thread counts once. It knows nothing about
prompts or audio.
"""

from __future__ import annotations

import os

import torch

from ..errors import InvalidInput
from .conditioning import Condition
from .fast_decoder import CUDAGraphStep, FastStepDecoder
from .generate import StepDecoder
from .hf_decoder import HFStepDecoder
from .loading import LoadedModel
from .model import MusicGenDecoder
from .quantize import quantize_int4, quantize_int8

__all__ = ["ENGINES", "Engine"]

ENGINES = ("fast", "reference")
QUANTIZATIONS = (None, "int8", "int4")


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
        if quantize is not None and name != "fast":
            raise InvalidInput("quantize needs engine='fast'", code="INVALID_QUANTIZATION")
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
        if loaded.device.type == "cpu":
            _set_cpu_threads()
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
