"""Which family runs a model: asked of the families, never an if-chain naming one.

The families are the ``MusicFamily`` subclasses defined in this package's modules (one module
per family: adding one is adding its module) and those that installed packages declare under
the entry-point group ``music_gen.families``::

    [project.entry-points."music_gen.families"]
    tiny-tone = "tiny_tone:TinyToneFamily"

``family_for(model)`` reads what the model's files say (``CheckpointFiles``: its name, a
diffusers ``model_index.json`` (or a modular pipeline's ``modular_model_index.json``), a
transformers ``config.json``, from a directory or the hub
cache) and returns the family that claims them: names first (no file read, no hub look-up),
then the files. A model nobody claims goes to the ``fallback`` family (MusicGen, whose loader
explains an unknown name or a missing download), unless its files name something else.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import pkgutil
import sys
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, UnknownModel
from ..params import Request
from .base import CheckpointFiles, ModelCard, MusicFamily

__all__ = [
    "ENTRY_POINT_GROUP",
    "check_request",
    "checkpoint_files",
    "families",
    "family_for",
    "family_named",
]

ENTRY_POINT_GROUP = "music_gen.families"
#: a diffusers pipeline's index (``_class_name``): a standard pipeline's, else a modular
#: pipeline's (``ModularPipeline.save_pretrained`` writes ``modular_model_index.json``)
INDEX_FILES = ("model_index.json", "modular_model_index.json")
#: modules of this package that are not families (the runners load torch with their model)
_NOT_FAMILIES = {
    "base", "loader", "registry", "plans", "runner", "acestep_runner", "musicgen_runner",
    "adapters", "acestep_cpu", "licenses",
}  # fmt: skip

log = logging.getLogger("music_gen.families")


def families() -> tuple[type[MusicFamily], ...]:
    """Every family: this package's, then the installed packages' (entry points)."""
    return _discover(tuple(sys.path))  # a path added at run time can bring a new package


@lru_cache(maxsize=8)
def _discover(path: tuple[str, ...]) -> tuple[type[MusicFamily], ...]:
    found: list[type[MusicFamily]] = []
    package = importlib.import_module(__package__ or "music_gen.families")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _NOT_FAMILIES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, MusicFamily)
            and obj.__module__ == module.__name__
            and not inspect.isabstract(obj)
            and obj.name
        ]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # one broken package must not take the others down
            log.warning("model family %s (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        if not (inspect.isclass(obj) and issubclass(obj, MusicFamily)) or inspect.isabstract(obj):
            log.warning("model family %s (%s) is not a MusicFamily; skipped", ep.name, ep.value)
            continue
        if obj not in found:
            found.append(obj)
    return tuple(found)


def family_named(name: str) -> type[MusicFamily]:
    """The family registered as ``name`` (``ModelCard.family``)."""
    for cls in families():
        if cls.name == name:
            return cls
    raise UnknownModel(
        f"no model family {name!r} is installed",
        details={"family": name, "families": [c.name for c in families()]},
    )


def check_request(card: ModelCard, request: Request) -> Request:
    """``request`` validated for the model ``card`` describes, by the model's own family (what
    a server asks at the door, with no weights loaded); returns it normalised, seeds drawn."""
    return family_named(card.family).check_request(card, request)


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


def checkpoint_files(model: str, cache_dir: str | Path | None = None) -> CheckpointFiles:
    """What ``model``'s files say: a directory's, or a hub repo's (cache first). Its index is
    the first of ``INDEX_FILES`` it has."""
    path = Path(model).expanduser()
    index: Path | None = None
    config: Path | None = None
    if path.is_dir():
        found = [path / name for name in INDEX_FILES if (path / name).is_file()]
        index = found[0] if found else None
        config = path / "config.json" if (path / "config.json").is_file() else None
    elif "/" in model:
        for name in INDEX_FILES:
            index = _hub_file(model, name, cache_dir)
            if index is not None:
                break
        if index is None:
            config = _hub_file(model, "config.json", cache_dir)
    where = (index or config).parent if (index or config) is not None else None  # type: ignore[union-attr]
    return CheckpointFiles(
        model,
        path if path.is_dir() else where,
        None if index is None else json.loads(index.read_text()),
        None if config is None else json.loads(config.read_text()),
    )


def family_for(
    model: str, cache_dir: str | Path | None = None
) -> tuple[type[MusicFamily], CheckpointFiles]:
    """The family that runs ``model``, and what its files say."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput("model must be a hub id or a directory", code="INVALID_MODEL")
    model = model.strip()
    everyone = families()
    named = CheckpointFiles(model)
    for cls in everyone:  # by name: no file read, no hub look-up
        if cls.claims(named):
            return cls, named
    fallback = [cls for cls in everyone if cls.fallback]
    path = Path(model).expanduser()
    if not path.is_dir() and "/" not in model and fallback:
        return fallback[0], named  # a short name only the fallback's loader can explain
    files = checkpoint_files(model, cache_dir)
    for cls in everyone:
        if cls.claims(files):
            return cls, files
    if files.index is not None:
        takes = sorted({n for c in everyone for n in c.class_names})
        raise UnknownModel(
            f"{model!r} is a diffusers {files.class_name!r} pipeline; music-gen runs "
            f"{', '.join(takes)} pipelines and the checkpoints of its other families",
            details={"model": model, "class_name": files.class_name},
        )
    if files.config is not None:
        takes = sorted({n for c in everyone for n in c.model_types})
        raise UnknownModel(
            f"{model!r} is a {files.model_type!r} checkpoint; music-gen runs "
            f"{', '.join(takes)} checkpoints and the pipelines of its other families",
            details={"model": model, "model_type": files.model_type},
        )
    if not fallback:  # pragma: no cover - MusicGen is the fallback
        raise UnknownModel(f"no model family takes {model!r}", details={"model": model})
    # a repo we cannot see: the fallback's loader resolves it and reports what is wrong
    return fallback[0], files
