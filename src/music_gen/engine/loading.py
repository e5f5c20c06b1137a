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
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..audio.chroma import ChromaConfig
from ..errors import InvalidInput, ModelNotAvailable, UnknownModel

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

# what from_pretrained needs: configs, weights, tokenizer, preprocessor
_ALLOW_PATTERNS = ["*.json", "*.safetensors", "spiece.model"]


@dataclass(frozen=True)
class ModelInfo:
    """A published MusicGen checkpoint."""

    name: str  # short name, e.g. "musicgen-small"
    hub_id: str
    parameters: str
    channels: int = 1
    melody: bool = False
    sample_rate: int = 32000

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "parameters": self.parameters,
            "channels": self.channels,
            "melody": self.melody,
            "sample_rate": self.sample_rate,
        }


def _info(name: str, params: str, channels: int = 1, melody: bool = False) -> ModelInfo:
    return ModelInfo(name, f"facebook/{name}", params, channels, melody)


KNOWN_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        _info("musicgen-small", "300M"),
        _info("musicgen-medium", "1.5B"),
        _info("musicgen-large", "3.3B"),
        _info("musicgen-melody", "1.5B", melody=True),
        _info("musicgen-melody-large", "3.3B", melody=True),
        _info("musicgen-stereo-small", "300M", channels=2),
        _info("musicgen-stereo-medium", "1.5B", channels=2),
        _info("musicgen-stereo-large", "3.3B", channels=2),
        _info("musicgen-stereo-melody", "1.5B", channels=2, melody=True),
        _info("musicgen-stereo-melody-large", "3.3B", channels=2, melody=True),
    )
}


def _known(name: str) -> ModelInfo | None:
    short = name.removeprefix("facebook/")
    short = short if short.startswith("musicgen") else f"musicgen-{short}"
    return KNOWN_MODELS.get(short)


# "name" or "owner/name"; anything else (./x, /x, a/b/c, x.json …) can only be a directory
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def resolve_checkpoint(model: str, cache_dir: str | Path | None = None) -> Path:
    """The local directory holding ``model``'s files, downloading from the hub if needed."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput("model must be a hub id or a directory", code="INVALID_MODEL")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UnknownModel(
                f"{model!r} is a directory but not a MusicGen checkpoint (no config.json)",
                details={"model": model},
            )
        return path
    if not _HUB_ID.match(model):
        raise UnknownModel(f"no checkpoint directory at {model!r}", details={"model": model})
    info = _known(model)
    if info is None and "/" not in model:
        raise UnknownModel(
            f"unknown model {model!r}; known: {', '.join(sorted(KNOWN_MODELS))}, "
            "any hub id (owner/name), or a checkpoint directory",
            details={"model": model, "known": sorted(KNOWN_MODELS)},
        )
    repo_id = info.hub_id if info is not None else model
    return _download(repo_id, cache_dir)


def _download(repo_id: str, cache_dir: str | Path | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    kwargs: dict[str, Any] = {"allow_patterns": _ALLOW_PATTERNS}
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, **kwargs))
    except LocalEntryNotFoundError:
        pass
    except Exception as exc:  # a corrupt cache entry: fall through to a fresh download
        _ = exc
    fetch = f"music-gen models pull {repo_id}"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ModelNotAvailable(
            f"model {repo_id!r} is not in the local cache and HF_HUB_OFFLINE is set; "
            f"fetch it on a connected machine with `{fetch}`",
            details={"model": repo_id, "fetch": fetch},
        )
    try:
        return Path(snapshot_download(repo_id, **kwargs))
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise UnknownModel(
            f"model {repo_id!r} was not found on the hub (or needs an access token): "
            f"{type(exc).__name__}",
            details={"model": repo_id},
        ) from None
    except Exception as exc:
        raise ModelNotAvailable(
            f"model {repo_id!r} is not in the local cache and the hub could not be reached "
            f"({type(exc).__name__}); fetch it with `{fetch}` on a connected machine, or pass "
            "a local checkpoint directory",
            details={"model": repo_id, "fetch": fetch},
        ) from None


def is_cached(model: str, cache_dir: str | Path | None = None) -> bool:
    """Whether ``model`` can be loaded with no network."""
    from huggingface_hub import snapshot_download

    if Path(model).expanduser().is_dir():
        return True
    info = _known(model)
    repo_id = info.hub_id if info is not None else model
    try:
        snapshot_download(
            repo_id,
            local_files_only=True,
            allow_patterns=_ALLOW_PATTERNS,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except Exception:
        return False
    return True


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
