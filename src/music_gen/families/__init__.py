"""Model families behind ``MusicGenerator``: one base class, declared capabilities, a registry
(this package's modules and the ``music_gen.families`` entry points), one loader."""

from .base import (
    FEATURE_CAPABILITIES,
    Capability,
    CheckpointFiles,
    GeneratorFamily,
    ModelCard,
    MusicFamily,
    require,
)
from .loader import (
    describe_capabilities,
    detect_family,
    family_options,
    inspect_model,
    load_family,
)
from .registry import ENTRY_POINT_GROUP, check_request, families, family_for, family_named

__all__ = [
    "ENTRY_POINT_GROUP",
    "FEATURE_CAPABILITIES",
    "Capability",
    "CheckpointFiles",
    "GeneratorFamily",
    "ModelCard",
    "MusicFamily",
    "check_request",
    "describe_capabilities",
    "detect_family",
    "families",
    "family_for",
    "family_named",
    "family_options",
    "inspect_model",
    "load_family",
    "require",
]
