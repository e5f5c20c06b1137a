"""One loader for every model family, picked from the checkpoint itself.

- ``"composer"``: the offline composer (no files).
- a directory (or hub repo) with ``model_index.json`` whose ``_class_name`` is
  ``AceStepPipeline``: an ACE-Step song pipeline (diffusers layout).
- a directory (or hub repo) with a transformers ``config.json`` of ``model_type`` ``musicgen`` or
  ``musicgen_melody``, or a published MusicGen name (``musicgen-small``, ``facebook/...``):
  MusicGen.

``inspect_model`` tells a model's family and capabilities from those files alone (no weights are
loaded): that is what the service lists and validates requests against. ``load_family`` loads
it. Hub repos are looked up in the local hub cache first; the network is only tried when the
files are not cached and ``HF_HUB_OFFLINE`` is not set.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is loaded by the families that need it, not here
    import torch


from ..engine.hub import _known
from ..errors import InvalidInput, ModelNotAvailable, UnknownModel
from .base import GeneratorFamily, ModelCard

__all__ = ["describe_capabilities", "detect_family", "inspect_model", "load_family"]

ACESTEP_CLASS = "AceStepPipeline"
MUSICGEN_TYPES = ("musicgen", "musicgen_melody")
#: options that only MusicGen checkpoints take, with their defaults
_MUSICGEN_OPTIONS: dict[str, Any] = {
    "engine": "fast",
    "quantize": None,
    "window_seconds": 30.0,
    "stride_seconds": 18.0,
}
#: a LoRA adapter folder (music_gen.train) merged at load: MusicGen and ACE-Step
_ADAPTER_OPTIONS: dict[str, Any] = {"adapter": None, "adapter_scale": 1.0}


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def _hub_file(repo_id: str, filename: str, cache_dir: str | Path | None) -> Path | None:
    """``filename`` of a hub repo from the cache (or the hub when online); None if absent."""
    from huggingface_hub import hf_hub_download

    kwargs: dict[str, Any] = {"cache_dir": None if cache_dir is None else str(cache_dir)}
    try:
        return Path(hf_hub_download(repo_id, filename, local_files_only=True, **kwargs))
    except Exception:
        if _offline():
            return None
    try:
        return Path(hf_hub_download(repo_id, filename, **kwargs))
    except Exception:
        return None


def _model_files(model: str, cache_dir: str | Path | None) -> tuple[Path | None, Path | None]:
    """``(model_index.json, config.json)`` of a directory or hub repo, each None if absent."""
    path = Path(model).expanduser()
    if path.is_dir():
        index, config = path / "model_index.json", path / "config.json"
        return (index if index.is_file() else None, config if config.is_file() else None)
    if _known(model) is not None or "/" not in model:
        return None, None  # a published MusicGen name (or an unknown short name)
    hub_index = _hub_file(model, "model_index.json", cache_dir)
    if hub_index is not None:
        return hub_index, None
    return None, _hub_file(model, "config.json", cache_dir)


def detect_family(model: str, cache_dir: str | Path | None = None) -> str:
    """``"composer"``, ``"acestep"`` or ``"musicgen"`` for ``model``."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput("model must be a hub id or a directory", code="INVALID_MODEL")
    if model.strip() == "composer":
        return "composer"
    index, config = _model_files(model, cache_dir)
    if index is not None:
        cls = json.loads(index.read_text()).get("_class_name")
        if cls == ACESTEP_CLASS:
            return "acestep"
        raise UnknownModel(
            f"{model!r} is a diffusers {cls!r} pipeline; music-gen runs {ACESTEP_CLASS} (songs) "
            "and MusicGen checkpoints",
            details={"model": model, "class_name": cls},
        )
    if config is not None:
        model_type = json.loads(config.read_text()).get("model_type")
        if model_type not in MUSICGEN_TYPES:
            raise UnknownModel(
                f"{model!r} is a {model_type!r} checkpoint, not MusicGen or ACE-Step",
                details={"model": model, "model_type": model_type},
            )
    # a MusicGen config, a published name, or a repo we cannot see: MusicGen's own loader
    # resolves it and reports what is wrong (unknown name, not cached, no network)
    return "musicgen"


def inspect_model(model: str, cache_dir: str | Path | None = None) -> ModelCard:
    """The model's family and capabilities, from its files only (no weights loaded)."""
    family = detect_family(model, cache_dir)
    if family == "composer":
        from .composer import composer_card

        return composer_card()
    if family == "acestep":
        from .acestep import acestep_card

        index, _ = _model_files(model, cache_dir)
        assert index is not None
        return acestep_card(model, index.parent)
    from .musicgen import musicgen_capabilities

    info = _known(model)
    size, channels, melody, rate = "unknown", 1, False, 32000
    if info is not None:
        size, channels, melody = info.parameters, info.channels, info.melody
    else:
        _, config_path = _model_files(model, cache_dir)
        if config_path is not None:
            config = json.loads(config_path.read_text())
            decoder, codec = config.get("decoder", {}), config.get("audio_encoder", {})
            channels = int(decoder.get("audio_channels", 1))
            melody = config.get("model_type") == "musicgen_melody"
            rate = int(codec.get("sampling_rate", 32000))
    return ModelCard(
        model, "musicgen", musicgen_capabilities(melody, channels), rate, channels, 300.0, size
    )


def load_family(
    model: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    cache_dir: str | Path | None = None,
    **options: Any,
) -> GeneratorFamily:
    """Load ``model`` with the family its files name. ``options``: ``max_duration`` for every
    family; ``engine``, ``quantize``, ``window_seconds``, ``stride_seconds`` for MusicGen."""
    family = detect_family(model, cache_dir)
    unknown = set(options) - {"max_duration", *_MUSICGEN_OPTIONS, *_ADAPTER_OPTIONS}
    if unknown:
        raise TypeError(f"unexpected options: {', '.join(sorted(unknown))}")
    if family != "composer":
        _require_models_extra(model, family)
    if family == "musicgen":
        from .musicgen import MusicGenFamily

        return MusicGenFamily(model, device, dtype, cache_dir, **options)
    only = dict(_MUSICGEN_OPTIONS) if family == "acestep" else _MUSICGEN_OPTIONS | _ADAPTER_OPTIONS
    odd = [k for k, default in only.items() if options.get(k, default) != default]
    if odd:
        raise InvalidInput(
            f"{', '.join(odd)} apply to MusicGen checkpoints only, not to {family} models",
            code="INVALID_OPTION",
            details={"options": odd, "family": family},
        )
    kwargs = {"max_duration": options["max_duration"]} if "max_duration" in options else {}
    if family == "composer":
        from .composer import ComposerFamily

        return ComposerFamily(model, **kwargs)
    from .acestep import AceStepFamily

    adapters = {k: options[k] for k in _ADAPTER_OPTIONS if k in options}
    return AceStepFamily(model, device, dtype, cache_dir, **kwargs, **adapters)


#: what the neural families import, installed by ``pip install "music-gen[models]"``
_MODEL_PACKAGES = {"musicgen": ("torch", "transformers"), "acestep": ("torch", "diffusers")}


def _require_models_extra(model: str, family: str) -> None:
    """A clear error, not an ImportError deep in a family, where torch & co are missing (the
    composer and the SDK need none of them)."""
    missing = [m for m in _MODEL_PACKAGES.get(family, ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelNotAvailable(
            f"{model} is a {family} model and needs {', '.join(missing)}: "
            'pip install "music-gen[models]" (torch first, the build for your machine)',
            details={"model": model, "family": family, "missing": missing},
        )


def describe_capabilities(card: ModelCard) -> list[str]:
    return sorted(c.value for c in card.capabilities)
