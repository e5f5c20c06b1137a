"""What every model family promises, and what it can do.

A *family* is one kind of model behind ``MusicGenerator``: MusicGen checkpoints
(``families.musicgen``), the offline composer (``families.composer``) and ACE-Step song
pipelines (``families.acestep``). Each implements ``GeneratorFamily`` and declares its
``capabilities``; callers (the facade, the CLI, the service, ``MultiInstrumentGenerator``) ask
for a capability, never for a model's name.

``ModelCard`` is what can be known of a model without loading its weights (read from its
``config.json`` / ``model_index.json``): enough to list it and to validate a request for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from ..audio import AudioOutput
from ..errors import UnsupportedFeature

__all__ = [
    "FEATURE_CAPABILITIES",
    "Capability",
    "GeneratorFamily",
    "ModelCard",
    "require",
    "unsupported",
]


class Capability(StrEnum):
    TEXT = "text"  # a text prompt
    SAMPLING = "sampling"  # temperature / top_k / top_p change the output
    MELODY = "melody"  # conditioning on a melody's chroma
    CONTINUATION = "continuation"  # continue an audio prompt
    STEREO = "stereo"
    LYRICS = "lyrics"  # sung lyrics
    BPM = "bpm"
    KEY = "key"
    TIME_SIGNATURE = "time_signature"
    LANGUAGE = "language"  # the lyrics' language
    REFERENCE_AUDIO = "reference_audio"  # a reference voice / style
    EDIT = "edit"  # repaint, cover, extract, lego, complete of an input song
    STEMS = "stems"  # separate parts (composer stems, ACE-Step extract)
    MIDI = "midi"
    MULTITRACK = "multitrack"  # MultiInstrumentGenerator
    STREAM = "stream"  # generate_stream yields audio while it is made
    BATCH = "batch"  # generate_batch decodes several prompts together
    LOOP = "loop"  # instrumental audio cut into seamless loops (generate(loop=True, bpm, bars))


#: keyword argument of ``generate`` -> the capability it needs
FEATURE_CAPABILITIES: Mapping[str, Capability] = {
    "melody": Capability.MELODY,
    "continuation": Capability.CONTINUATION,
    "lyrics": Capability.LYRICS,
    "bpm": Capability.BPM,
    "key": Capability.KEY,
    "time_signature": Capability.TIME_SIGNATURE,
    "vocal_language": Capability.LANGUAGE,
    "reference": Capability.REFERENCE_AUDIO,
}


@dataclass(frozen=True)
class ModelCard:
    """A model as known from its files, before (or without) loading weights."""

    name: str
    family: str  # "musicgen", "composer", "acestep"
    capabilities: frozenset[Capability]
    sample_rate: int
    channels: int
    max_duration: float
    size: str = "unknown"
    details: dict[str, Any] = field(default_factory=dict)
    license: str = "unknown"  # the weights' licence as the checkpoint declares it (licenses.py)

    def can(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities


def unsupported(
    model: str, family: str, feature: str, capability: Capability
) -> UnsupportedFeature:
    return UnsupportedFeature(
        f"model {model!r} ({family}) cannot take {feature!r}: it lacks the "
        f"{capability.value!r} capability",
        details={"model": model, "family": family, "capability": capability.value},
    )


def require(card: ModelCard, features: Mapping[str, Any]) -> None:
    """Raise ``UnsupportedFeature`` naming the capability for the first feature given (not
    None) that the model lacks."""
    for feature, value in features.items():
        cap = FEATURE_CAPABILITIES.get(feature)
        if cap is not None and value is not None and not card.can(cap):
            raise unsupported(card.name, card.family, feature, cap)


@runtime_checkable
class GeneratorFamily(Protocol):
    """One model family's implementation behind ``MusicGenerator``."""

    card: ModelCard
    model_name: str
    load_seconds: float

    @property
    def sample_rate(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def max_duration(self) -> float: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    def generate(self, prompt: str, *args: Any, **kwargs: Any) -> AudioOutput: ...

    def generate_batch(
        self, prompts: Sequence[str], *args: Any, **kwargs: Any
    ) -> list[AudioOutput]: ...

    def generate_stream(self, prompt: str, *args: Any, **kwargs: Any) -> Iterator[AudioOutput]: ...
