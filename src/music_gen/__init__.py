"""music-gen: self-hosted text-to-music generation with Meta's MusicGen.

from music_gen import MusicGenerator
gen = MusicGenerator(model="facebook/musicgen-small")
audio = gen.generate("Calm piano melody", duration=30.0, temperature=0.8, seed=7)
audio.save("output.wav")

The names below are imported when first used (PEP 562), so ``from music_gen import APIClient``
loads the HTTP client and the audio types only — not torch, transformers or the engines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "APIClient": "music_gen.client",
    "AsyncAPIClient": "music_gen.client",
    "AudioMixer": "music_gen.audio",
    "AudioOutput": "music_gen.audio",
    "load_audio": "music_gen.audio",
    "MultiInstrumentGenerator": "music_gen.multitrack",
    "KNOWN_MODELS": "music_gen.engine.hub",
    "ModelInfo": "music_gen.engine.hub",
    "GenerationFailed": "music_gen.errors",
    "InvalidInput": "music_gen.errors",
    "ModelNotAvailable": "music_gen.errors",
    "MusicGenError": "music_gen.errors",
    "UnknownModel": "music_gen.errors",
    "UnsupportedFeature": "music_gen.errors",
    "MusicGenerator": "music_gen.generator",
    "train": "music_gen.train",  # fine-tuning (the package is callable: music_gen.train(...))
    "CompositionPlan": "music_gen.composition",
    "Section": "music_gen.composition",
    "plan_from_prompt": "music_gen.composition",
}

__all__ = [
    "KNOWN_MODELS",
    "APIClient",
    "AsyncAPIClient",
    "AudioMixer",
    "AudioOutput",
    "CompositionPlan",
    "GenerationFailed",
    "InvalidInput",
    "ModelInfo",
    "ModelNotAvailable",
    "MultiInstrumentGenerator",
    "MusicGenError",
    "MusicGenerator",
    "Section",
    "UnknownModel",
    "UnsupportedFeature",
    "__version__",
    "load_audio",
    "plan_from_prompt",
    "train",
]

if TYPE_CHECKING:
    from .audio import AudioMixer, AudioOutput, load_audio
    from .client import APIClient, AsyncAPIClient
    from .composition import CompositionPlan, Section, plan_from_prompt
    from .engine.hub import KNOWN_MODELS, ModelInfo
    from .errors import (
        GenerationFailed,
        InvalidInput,
        ModelNotAvailable,
        MusicGenError,
        UnknownModel,
        UnsupportedFeature,
    )
    from .generator import MusicGenerator
    from .multitrack import MultiInstrumentGenerator


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'music_gen' has no attribute {name!r}")
    if module == f"{__name__}.{name}":  # a subpackage that is also the function's name
        value = importlib.import_module(module)
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
