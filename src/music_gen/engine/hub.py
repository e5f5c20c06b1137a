"""Which MusicGen checkpoints exist and where their files are, with no torch loaded.

Knows: the published checkpoints (``KNOWN_MODELS``), how a name resolves to files (a local
directory as is; a hub id through the local hub cache first, then a download), and whether a
model can be loaded with no network. Turns every failure into our error tree: ``UnknownModel``
for names that do not exist, ``ModelNotAvailable`` (naming the command that fetches the model)
when the files are not here and the hub cannot be reached. Loading weights is ``loading``'s.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, ModelNotAvailable, UnknownModel

__all__ = ["KNOWN_MODELS", "ModelInfo", "is_cached", "resolve_checkpoint"]

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
