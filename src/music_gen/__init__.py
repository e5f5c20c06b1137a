"""music-gen: self-hosted text-to-music generation with Meta's MusicGen.

from music_gen import MusicGenerator
gen = MusicGenerator(model="facebook/musicgen-small")
audio = gen.generate("Calm piano melody", duration=30.0, temperature=0.8, seed=7)
audio.save("output.wav")
"""

from .audio import AudioMixer, AudioOutput, load_audio
from .client import APIClient, AsyncAPIClient
from .compose.multitrack import MultiInstrumentGenerator
from .engine.loading import KNOWN_MODELS, ModelInfo
from .errors import (
    GenerationFailed,
    InvalidInput,
    ModelNotAvailable,
    MusicGenError,
    UnknownModel,
    UnsupportedFeature,
)
from .generator import MusicGenerator

__version__ = "0.1.0"

__all__ = [
    "KNOWN_MODELS",
    "APIClient",
    "AsyncAPIClient",
    "AudioMixer",
    "AudioOutput",
    "GenerationFailed",
    "InvalidInput",
    "ModelInfo",
    "ModelNotAvailable",
    "MultiInstrumentGenerator",
    "MusicGenError",
    "MusicGenerator",
    "UnknownModel",
    "UnsupportedFeature",
    "__version__",
    "load_audio",
]
