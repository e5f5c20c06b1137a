"""Loading a diffusers pipeline the way every diffusers family here does: from a local directory
in its diffusers layout or a hub id (in ``cache_dir``), quietly, with clear errors for a
directory that is not such a pipeline (``UnknownModel``) and a hub id not in the cache
(``ModelNotAvailable``). And ``splice``: a repainted range put back into its source."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelNotAvailable, UnknownModel

if TYPE_CHECKING:
    import torch

__all__ = ["load_pipeline", "splice"]


def load_pipeline(
    class_name: str, label: str, model: str, dtype: torch.dtype, cache_dir: str | Path | None
) -> Any:
    """``diffusers.<class_name>.from_pretrained(model)`` in ``dtype``; ``label`` names the
    pipeline in error messages ("ACE-Step", "Stable Audio")."""
    import diffusers
    from diffusers.utils import logging as df_logging

    df_logging.set_verbosity_error()
    df_logging.disable_progress_bar()
    path = Path(model).expanduser()
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cache_dir is not None and not path.is_dir():
        kwargs["cache_dir"] = str(cache_dir)
    try:
        with warnings.catch_warnings():  # torch's weight_norm deprecation, inside the VAE
            warnings.simplefilter("ignore", FutureWarning)
            return getattr(diffusers, class_name).from_pretrained(
                str(path) if path.is_dir() else model, **kwargs
            )
    except (OSError, ValueError) as exc:
        if path.is_dir():
            raise UnknownModel(
                f"{model!r} is not a readable {label} pipeline: {exc}", details={"model": model}
            ) from None
        raise ModelNotAvailable(
            f"{label} pipeline {model!r} is not in the local cache and could not be fetched "
            f"({type(exc).__name__}); download it on a connected machine or pass a directory",
            details={"model": model},
        ) from None


def splice(
    src: np.ndarray, new: np.ndarray, start: float, end: float, rate: int, fade_s: float = 0.01
) -> np.ndarray:
    """``new`` inside ``start..end`` seconds, exactly ``src`` outside (sample for sample);
    ``fade_s`` linear crossfades just inside the range's edges. ``[C, N]`` arrays."""
    n = min(src.shape[-1], new.shape[-1])
    lo, hi = round(start * rate), min(n, round(end * rate))
    fade = max(1, round(fade_s * rate))
    w = np.zeros(n, dtype=np.float32)  # 1 = new audio; fades lie inside the range
    w[lo:hi] = 1.0
    edge = min(fade, (hi - lo) // 2)
    if lo > 0 and edge:
        w[lo : lo + edge] = np.linspace(0.0, 1.0, edge, endpoint=False, dtype=np.float32)
    if hi < n and edge:
        w[hi - edge : hi] = np.linspace(1.0, 0.0, edge, endpoint=False, dtype=np.float32)
    mixed = src[:, :n] * (1.0 - w) + new[:, :n] * w
    return np.where(w > 0, mixed, src[:, :n]).astype(np.float32)
