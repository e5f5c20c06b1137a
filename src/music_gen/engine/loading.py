"""Finding and loading MusicGen checkpoints (Hugging Face format) from the hub or a directory.

Knows: the published checkpoints (``KNOWN_MODELS``), how a name resolves to files (a local
directory as is; a hub id through the local hub cache first, then a download), the device and
dtype defaults, and which transformers classes load which checkpoint. Turns every failure into
our error tree: ``UnknownModel`` for names that do not exist, ``ModelNotAvailable`` (naming the
command that fetches the model) when the files are not here and the hub cannot be reached —
never a traceback from inside the hub client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..audio.chroma import ChromaConfig
from ..errors import InvalidInput, ModelNotAvailable, UnknownModel
from .hub import KNOWN_MODELS, ModelInfo, is_cached, resolve_checkpoint

__all__ = [
    "KNOWN_MODELS",
    "LoadedModel",
    "ModelInfo",
    "is_cached",
    "load_model",
    "resolve_checkpoint",
    "resolve_device",
    "resolve_dtype",
]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInput(f"unknown device {device!r}", code="INVALID_DEVICE") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(
            "device 'cuda' asked for but CUDA is not available", code="INVALID_DEVICE"
        )
    return resolved


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """Default: bfloat16 on CUDA that supports it (else float16), float16 on MPS, float32 on CPU."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise InvalidInput(f"unsupported dtype {dtype}", code="INVALID_DTYPE")
        return dtype
    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device.type == "mps" else torch.float32
    resolved = _DTYPES.get(str(dtype).lower().removeprefix("torch."))
    if resolved is None:
        raise InvalidInput(
            f"unsupported dtype {dtype!r}; choose one of float32, float16, bfloat16",
            code="INVALID_DTYPE",
        )
    return resolved


@dataclass
class LoadedModel:
    """A checkpoint in memory: transformers' model, its tokenizer and the melody chroma config."""

    name: str
    path: Path
    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    chroma: ChromaConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def melody(self) -> bool:
        return self.model.config.model_type == "musicgen_melody"

    @property
    def audio_channels(self) -> int:
        return int(self.model.decoder.config.audio_channels)

    @property
    def num_codebooks(self) -> int:
        return int(self.model.decoder.config.num_codebooks)

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def hop_length(self) -> int:
        ratios = self.model.config.audio_encoder.upsampling_ratios
        hop = 1
        for r in ratios:
            hop *= int(r)
        return hop


def load_model(
    model: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    cache_dir: str | Path | None = None,
) -> LoadedModel:
    """Resolve ``model`` to files and load it on ``device`` in ``dtype``."""
    from transformers import (
        AutoConfig,
        AutoTokenizer,
        MusicgenForConditionalGeneration,
        MusicgenMelodyForConditionalGeneration,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its load reports and config warnings are not ours to show
    hf_logging.disable_progress_bar()
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    path = resolve_checkpoint(model, cache_dir)
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise UnknownModel(
            f"{model!r} has no readable config ({type(exc).__name__})", details={"model": model}
        ) from None
    classes: dict[str, Any] = {
        "musicgen": MusicgenForConditionalGeneration,
        "musicgen_melody": MusicgenMelodyForConditionalGeneration,
    }
    cls = classes.get(config.model_type)
    if cls is None:
        raise UnknownModel(
            f"{model!r} is a {config.model_type!r} checkpoint, not MusicGen",
            details={"model": model, "model_type": config.model_type},
        )
    try:
        net = cls.from_pretrained(path, dtype=dt).to(dev).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailable(
            f"checkpoint {model!r} is incomplete or unreadable: {exc}", details={"model": model}
        ) from None
    chroma = None
    if config.model_type == "musicgen_melody":
        pre = path / "preprocessor_config.json"
        chroma = ChromaConfig.from_preprocessor_config(
            json.loads(pre.read_text()) if pre.is_file() else {}
        )
    return LoadedModel(model, path, net, tokenizer, dev, dt, chroma)
