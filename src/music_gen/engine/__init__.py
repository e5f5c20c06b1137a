"""MusicGen decoding: delay pattern, conditioning, sampling, the decode loop and model loading."""

from .loading import KNOWN_MODELS, LoadedModel, ModelInfo, load_model
from .patterns import DelayPattern
from .sampling import SamplingParams

__all__ = [
    "KNOWN_MODELS",
    "DelayPattern",
    "LoadedModel",
    "ModelInfo",
    "SamplingParams",
    "load_model",
]
