"""``MusicGenerator``: the library's front door, a thin facade over one model family.

``MusicGenerator(model=...)`` asks ``families.load_family`` to load the model with the family
its own files name (MusicGen, the composer, ACE-Step songs) and forwards every call to it. Before
forwarding, it checks the features a call uses against the family's declared capabilities, so
``lyrics=`` on MusicGen or ``melody=`` on the composer raise ``UnsupportedFeature`` naming the
capability, whatever the family. Family-specific attributes (``loaded``, ``engine``,
``pipe`` ...) are reachable through ``gen.family_impl``; for convenience the facade forwards
unknown attribute lookups there too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is loaded by the families that need it, not here
    import torch


from .audio import AudioOutput
from .errors import UnsupportedFeature
from .families.base import Capability, GeneratorFamily, ModelCard, require, unsupported
from .families.loader import load_family

__all__ = ["MusicGenerator"]


class MusicGenerator:
    """Text-to-music (and songs) with any model family.

    ``model`` is a MusicGen hub id or short name (``"facebook/musicgen-small"``,
    ``"musicgen-melody"``), a local MusicGen checkpoint directory (transformers format), an
    ACE-Step hub id or local directory (diffusers format), or ``"composer"`` (no weights).
    ``device="auto"`` picks cuda, then mps, then cpu; ``dtype`` defaults to bfloat16/float16 on
    GPU and float32 on CPU. The model loads in the constructor.

    ``options``: ``max_duration`` (every family); MusicGen also takes ``engine`` (``"fast"`` or
    ``"reference"``), ``quantize`` (``"int8"``), ``window_seconds`` and ``stride_seconds``.
    """

    def __init__(
        self,
        model: str = "facebook/musicgen-small",
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        **options: Any,
    ) -> None:
        self.family_impl: GeneratorFamily = load_family(model, device, dtype, cache_dir, **options)

    @classmethod
    def from_family(cls, impl: GeneratorFamily) -> MusicGenerator:
        """Wrap an already loaded family implementation."""
        gen = cls.__new__(cls)
        gen.family_impl = impl
        return gen

    # ------------------------------------------------------------------ facts about the model
    @property
    def card(self) -> ModelCard:
        return self.family_impl.card

    @property
    def family(self) -> str:
        return self.card.family

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.family_impl.capabilities

    def can(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities

    @property
    def model_name(self) -> str:
        return self.family_impl.model_name

    @property
    def load_seconds(self) -> float:
        return self.family_impl.load_seconds

    @property
    def sample_rate(self) -> int:
        return self.family_impl.sample_rate

    @property
    def channels(self) -> int:
        return self.family_impl.channels

    @property
    def max_duration(self) -> float:
        return self.family_impl.max_duration

    @property
    def supports_melody(self) -> bool:
        return self.can(Capability.MELODY)

    def __getattr__(self, name: str) -> Any:
        if name == "family_impl":  # not set yet (during unpickling, say)
            raise AttributeError(name)
        return getattr(self.family_impl, name)

    def __repr__(self) -> str:
        return repr(self.family_impl)

    # ------------------------------------------------------------------ generation
    def generate(self, prompt: str, *args: Any, loop: bool = False, **kwargs: Any) -> AudioOutput:
        """One output for ``prompt``; the keyword arguments are the family's (see README):
        MusicGen ``duration, temperature, top_k, top_p, seed, guidance_scale, melody,
        continuation, progress``; ACE-Step ``lyrics, duration, seed, steps, guidance_scale, bpm,
        key, time_signature, vocal_language, reference, progress``.

        ``loop=True, bpm=120, bars=4`` (``beats_per_bar=4``, ``crossfade`` seconds): a seamless
        loop of exactly bars × beats_per_bar × 60 / bpm seconds (``looping``)."""
        if loop:
            from .looping import generate_loop_with

            return generate_loop_with(self, prompt, *args, **kwargs)
        require(self.card, kwargs)
        return self.family_impl.generate(prompt, *args, **kwargs)

    def generate_batch(
        self, prompts: Sequence[str], *args: Any, **kwargs: Any
    ) -> list[AudioOutput]:
        """One output per prompt, decoded together; ``seed`` may be one int or one per prompt."""
        require(self.card, kwargs)
        return self.family_impl.generate_batch(prompts, *args, **kwargs)

    def generate_stream(self, prompt: str, *args: Any, **kwargs: Any) -> Iterator[AudioOutput]:
        """Chunks of audio while it is made (families with the ``stream`` capability); others
        yield the whole output as one final chunk."""
        require(self.card, kwargs)
        return self.family_impl.generate_stream(prompt, *args, **kwargs)

    def edit(self, task: str, source: Any, prompt: str = "", **kwargs: Any) -> AudioOutput:
        """Edit an input song: ``repaint``, ``cover``, ``extract``, ``lego``, ``complete``
        (families with the ``edit`` capability; see ``families.acestep``)."""
        if not self.can(Capability.EDIT):
            raise unsupported(self.model_name, self.family, f"edit:{task}", Capability.EDIT)
        edit = getattr(self.family_impl, "edit", None)
        if edit is None:  # pragma: no cover - a family that declares edit implements it
            raise UnsupportedFeature("this model family has no edit", details={"task": task})
        require(self.card, kwargs)
        result: AudioOutput = edit(task, source, prompt, **kwargs)
        return result
