"""``MusicGenerator``: the library's front door, a thin facade over one model family.

``MusicGenerator(model=...)`` asks ``families.load_family`` to load the model with the family
its own files name (MusicGen, the composer, ACE-Step songs, or one an installed package
registers) and forwards every call to it. The family builds one typed request from the keyword
arguments, checks its features against its capabilities (``lyrics=`` on MusicGen or
``melody=`` on the composer raise ``UnsupportedFeature`` naming the capability) and validates
it once. Family-specific attributes (``loaded``, ``engine``, ``pipe`` ...) are the family's:
``gen.family_impl``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is loaded by the families that need it, not here
    import torch


from .audio import AudioOutput
from .families.base import Capability, ModelCard, MusicFamily
from .families.loader import load_family

__all__ = ["MusicGenerator"]


class MusicGenerator:
    """Text-to-music (and songs) with any model family.

    ``model`` is a MusicGen hub id or short name (``"facebook/musicgen-small"``,
    ``"musicgen-melody"``), a local MusicGen checkpoint directory (transformers format), an
    ACE-Step hub id or local directory (diffusers format), ``"composer"`` (no weights), or a
    model of a family an installed package registers (entry-point group
    ``music_gen.families``). ``device="auto"`` picks cuda, then mps, then cpu; ``dtype``
    defaults to bfloat16/float16 on GPU and float32 on CPU. The model loads in the constructor.

    ``options``: ``max_duration`` (every family); MusicGen also takes ``engine`` (``"fast"``,
    ``"onnxruntime"`` or ``"reference"``), ``quantize`` (``"int8"``, ``"int4"``),
    ``window_seconds`` and ``stride_seconds``;
    MusicGen, ACE-Step and Stable Audio 3 take ``adapter`` (a LoRA folder or name from
    ``music-gen train``, merged at load) and ``adapter_scale``
    (``families.base.ADAPTER_OPTIONS``); ACE-Step takes ``fast_cpu`` (default True: on the CPU
    with no ``dtype``, ``families.acestep_cpu``'s setting: int8 linears, a bfloat16 CPU VAE
    decoder, kept timbre and cross-attention; False gives the plain float32 pipeline) and
    ``cpu_compile`` (default True: that setting compiled where a C++ compiler is found).
    """

    def __init__(
        self,
        model: str = "facebook/musicgen-small",
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        **options: Any,
    ) -> None:
        self.family_impl: MusicFamily = load_family(model, device, dtype, cache_dir, **options)

    @classmethod
    def from_family(cls, impl: MusicFamily) -> MusicGenerator:
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

    def takes(self, keyword: str) -> bool:
        """Whether ``generate`` takes ``keyword`` for this model."""
        return self.family_impl.takes(keyword)

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
    def device(self) -> Any:
        return self.family_impl.device

    @property
    def supports_melody(self) -> bool:
        return self.can(Capability.MELODY)

    def __repr__(self) -> str:
        return repr(self.family_impl)

    # ------------------------------------------------------------------ generation
    def generate(self, prompt: str = "", *, loop: bool = False, **params: Any) -> AudioOutput:
        """One output for ``prompt``. Keyword arguments: ``duration``, ``seed``, ``progress``
        for every model; MusicGen ``temperature, top_k, top_p, guidance_scale, melody,
        continuation``; songs (ACE-Step) ``lyrics, steps, guidance_scale, bpm, key,
        time_signature, vocal_language, reference`` (``params``' typed parts). ``plan``: a
        ``CompositionPlan`` (or its dict / JSON) made section by section (the ``plan``
        capability); the prompt is optional then.

        ``loop=True, bpm=120, bars=4`` (``beats_per_bar=4``, ``crossfade`` seconds): a seamless
        loop of exactly bars × beats_per_bar × 60 / bpm seconds (models with the ``loop``
        capability; ``looping``)."""
        if loop:
            from .looping import generate_loop_with

            return generate_loop_with(self, prompt, **params)
        return self.family_impl.generate(prompt, **params)

    def extend(
        self, source: Any, prompt_or_plan: Any, duration: float | None = None, **params: Any
    ) -> AudioOutput:
        """``source`` followed by ``duration`` seconds more (after a prompt) or by a plan's
        sections; the output starts with exactly the source."""
        return self.family_impl.extend(source, prompt_or_plan, duration, **params)

    def replace_section(
        self, source: Any, plan: Any, section: int | str, **params: Any
    ) -> AudioOutput:
        """``source`` with one of ``plan``'s sections (index or name) made again (``seed``);
        every other sample unchanged."""
        return self.family_impl.replace_section(source, plan, section, **params)

    def generate_batch(self, prompts: Sequence[str], **params: Any) -> list[AudioOutput]:
        """One output per prompt, decoded together; ``seed`` may be one int or one per prompt."""
        return self.family_impl.generate_batch(prompts, **params)

    def generate_stream(self, prompt: str, **params: Any) -> Iterator[AudioOutput]:
        """Chunks of audio while it is made (families with the ``stream`` capability); others
        yield the whole output as one final chunk. ``chunk_seconds``, ``first_chunk_seconds``
        size the chunks."""
        return self.family_impl.generate_stream(prompt, **params)

    def edit(self, task: str, source: Any, prompt: str = "", **params: Any) -> AudioOutput:
        """Edit an input song: ``repaint``, ``cover``, ``extract``, ``lego``, ``complete``
        (families with the ``edit`` capability; see ``families.acestep``)."""
        return self.family_impl.edit(task, source, prompt, **params)
