"""Model families behind ``MusicGenerator``: one protocol, declared capabilities, one loader."""

from .base import FEATURE_CAPABILITIES, Capability, GeneratorFamily, ModelCard, require
from .loader import describe_capabilities, detect_family, inspect_model, load_family

__all__ = [
    "FEATURE_CAPABILITIES",
    "Capability",
    "GeneratorFamily",
    "ModelCard",
    "describe_capabilities",
    "detect_family",
    "inspect_model",
    "load_family",
    "require",
]
