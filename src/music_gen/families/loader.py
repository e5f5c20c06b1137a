"""One loader for every model family, picked from the checkpoint itself (``registry``).

``inspect_model`` tells a model's family and capabilities from its files alone (no weights are
loaded): that is what the service lists and validates requests against. ``load_family`` loads
it. Hub repos are looked up in the local hub cache first; the network is only tried when the
files are not cached and ``HF_HUB_OFFLINE`` is not set.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is loaded by the families that need it, not here
    import torch

from ..errors import InvalidInput, ModelNotAvailable
from .base import ModelCard, MusicFamily
from .licenses import UNKNOWN, license_of
from .registry import families, family_for

__all__ = [
    "describe_capabilities",
    "detect_family",
    "family_options",
    "inspect_model",
    "load_family",
    "with_license",
]


def detect_family(model: str, cache_dir: str | Path | None = None) -> str:
    """The name of the family that runs ``model`` (``"musicgen"``, ``"acestep"``, ...)."""
    return family_for(model, cache_dir)[0].name


def _card_directory(model: str, cache_dir: str | Path | None) -> Path | None:
    """Where ``model``'s model card (README.md) is: its directory, or its hub snapshot when the
    card is in the local cache (a licence never costs a download)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if "/" not in model:
        return None
    from huggingface_hub import hf_hub_download

    try:
        cache = None if cache_dir is None else str(cache_dir)
        readme = hf_hub_download(model, "README.md", local_files_only=True, cache_dir=cache)
    except Exception:
        return None
    return Path(readme).parent


def with_license(card: ModelCard, model: str, cache_dir: str | Path | None = None) -> ModelCard:
    """``card`` with its weights' licence (``licenses.license_of``) where it has none yet."""
    if card.license != UNKNOWN:
        return card
    return dataclasses.replace(card, license=license_of(model, _card_directory(model, cache_dir)))


def inspect_model(model: str, cache_dir: str | Path | None = None) -> ModelCard:
    """The model's family, capabilities and licence, from its files only (no weights loaded)."""
    cls, files = family_for(model, cache_dir)
    return with_license(cls.inspect(files), model, cache_dir)


def family_options(
    model: str, cache_dir: str | Path | None = None, **options: Any
) -> dict[str, Any]:
    """Those of ``options`` that ``model``'s family takes (``max_duration`` always): a server
    gives every model its options this way."""
    cls, _ = family_for(model, cache_dir)
    return {k: v for k, v in options.items() if k == "max_duration" or k in cls.options}


def load_family(
    model: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    cache_dir: str | Path | None = None,
    **options: Any,
) -> MusicFamily:
    """Load ``model`` with the family its files name. ``options``: ``max_duration`` for every
    family, and the family's own (MusicGen: ``engine``, ``quantize``, ``window_seconds``,
    ``stride_seconds``; MusicGen, ACE-Step, Stable Audio 3: ``adapter``, ``adapter_scale``;
    ACE-Step: ``fast_cpu``)."""
    cls, _ = family_for(model, cache_dir)
    owners: dict[str, type[MusicFamily]] = {}
    for other in families():
        for key in other.options:
            owners.setdefault(key, other)
    unknown = set(options) - {"max_duration", *owners, *cls.options}
    if unknown:
        raise TypeError(f"unexpected options: {', '.join(sorted(unknown))}")
    _require_packages(model, cls)
    odd = [
        k
        for k, v in options.items()
        if k != "max_duration" and k not in cls.options and v != owners[k].options[k]
    ]
    if odd:
        owner = owners[odd[0]].name
        raise InvalidInput(
            f"{', '.join(odd)} apply to {owner} checkpoints only, not to {cls.name} models",
            code="INVALID_OPTION",
            details={"options": odd, "family": cls.name},
        )
    own = {k: v for k, v in options.items() if k == "max_duration" or k in cls.options}
    impl = cls.load(model, device, dtype, cache_dir, **own)
    impl.card = with_license(impl.card, model, cache_dir)
    return impl


def _require_packages(model: str, cls: type[MusicFamily]) -> None:
    """A clear error, not an ImportError deep in a family, where torch & co are missing (the
    composer and the SDK need none of them)."""
    missing = [m for m in cls.packages if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelNotAvailable(
            f"{model} is a {cls.name} model and needs {', '.join(missing)}: "
            'pip install "music-gen[models]" (torch first, the build for your machine)',
            details={"model": model, "family": cls.name, "missing": missing},
        )


def describe_capabilities(card: ModelCard) -> list[str]:
    return sorted(c.value for c in card.capabilities)
