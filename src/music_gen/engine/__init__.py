"""MusicGen decoding: delay pattern, conditioning, sampling, the decode loop and model loading.

Names are loaded on first use: ``engine.hub`` (which checkpoints exist, where their files are)
works without torch; the rest loads it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "KNOWN_MODELS",
    "DelayPattern",
    "LoadedModel",
    "ModelInfo",
    "SamplingParams",
    "load_model",
]

_WHERE = {
    "KNOWN_MODELS": "hub",
    "ModelInfo": "hub",
    "LoadedModel": "loading",
    "load_model": "loading",
    "DelayPattern": "patterns",
    "SamplingParams": "sampling",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
