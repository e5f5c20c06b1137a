"""The composer family: ``MusicGenerator(model="composer")``, music with no weights.

It implements the same family protocol as MusicGen, so code written against ``MusicGenerator``
(the CLI, the service worker, user code) runs unchanged. The sampling parameters are validated
and recorded but do not apply (the composer is not sampled); audio conditioning (melody,
continuation) and song features are capabilities it does not declare.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is loaded by the families that need it, not here
    import torch

    from ..engine.generate import Progress


from ..audio import AudioOutput
from ..compose.composer import Composer
from ..errors import InvalidInput, UnsupportedFeature
from ..params import GenerationParams, resolve_seeds, validate_prompt
from .base import Capability, ModelCard

__all__ = ["COMPOSER_CAPABILITIES", "ComposerFamily"]

COMPOSER_CAPABILITIES = frozenset(
    {
        Capability.TEXT,
        Capability.STEREO,
        Capability.MIDI,
        Capability.STEMS,
        Capability.MULTITRACK,
        Capability.STREAM,
        Capability.BATCH,
        Capability.LOOP,
    }
)


def composer_card(max_duration: float = 300.0) -> ModelCard:
    return ModelCard(
        "composer", "composer", COMPOSER_CAPABILITIES, Composer.sample_rate, 2, max_duration,
        size="0 (no weights)",
    )  # fmt: skip


class ComposerFamily:
    def __init__(
        self,
        model: str = "composer",
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float = 300.0,
        **_: Any,
    ) -> None:
        started = time.perf_counter()
        self.composer = Composer(max_duration=max_duration)
        self.model_name = "composer"
        self.card = composer_card(float(max_duration))
        self.load_seconds = time.perf_counter() - started

    @property
    def max_duration(self) -> float:
        return self.card.max_duration

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.card.capabilities

    @property
    def sample_rate(self) -> int:
        return self.composer.sample_rate

    @property
    def channels(self) -> int:
        return 2

    @property
    def supports_melody(self) -> bool:
        return False

    @property
    def device(self) -> torch.device:
        import torch

        return torch.device("cpu")

    def __repr__(self) -> str:
        return "MusicGenerator(model='composer', engine='composer')"

    def generate(
        self,
        prompt: str,
        duration: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int | None = None,
        guidance_scale: float = 3.0,
        melody: Any = None,
        continuation: Any = None,
        progress: Progress | None = None,
    ) -> AudioOutput:
        return self.generate_batch(
            [prompt], duration, temperature, top_k, top_p, seed, guidance_scale, melody,
            continuation, progress,
        )[0]  # fmt: skip

    def generate_batch(
        self,
        prompts: Sequence[str],
        duration: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int | Sequence[int] | None = None,
        guidance_scale: float = 3.0,
        melody: Any = None,
        continuation: Any = None,
        progress: Progress | None = None,
    ) -> list[AudioOutput]:
        if melody is not None or continuation is not None:
            raise UnsupportedFeature(
                "the composer cannot be conditioned on audio (melody/continuation); use a "
                "MusicGen checkpoint",
                details={"model": "composer"},
            )
        if isinstance(prompts, str) or not prompts:
            raise InvalidInput("prompts must be a non-empty list of strings", code="INVALID_PROMPT")
        texts = [validate_prompt(p) for p in prompts]
        GenerationParams.validate(
            duration=duration, temperature=temperature, top_k=top_k, top_p=top_p,
            guidance_scale=guidance_scale, max_duration=self.max_duration,
        )  # fmt: skip
        seeds = resolve_seeds(seed, len(texts))
        outputs = []
        for i, (text, s) in enumerate(zip(texts, seeds, strict=True)):
            out = self.composer.generate(text, float(duration), s)
            total = out.metadata["timings"]["total_s"]
            out.metadata.update(batch_index=i, real_time_factor=total / float(duration))
            outputs.append(out)
            if progress is not None:
                progress(i + 1, len(texts))
        return outputs

    def generate_stream(
        self,
        prompt: str,
        duration: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int | None = None,
        guidance_scale: float = 3.0,
        melody: Any = None,
        continuation: Any = None,
        *,
        chunk_seconds: float = 1.0,
        first_chunk_seconds: float = 0.25,
    ) -> Iterator[AudioOutput]:
        """The composer renders a whole piece at once (much faster than real time); this yields
        it in chunks of the same shape as the MusicGen engine's stream."""
        [whole] = self.generate_batch(
            [prompt], duration, temperature, top_k, top_p, seed, guidance_scale, melody,
            continuation,
        )  # fmt: skip
        rate = whole.sample_rate
        bounds = [0, max(1, round(first_chunk_seconds * rate))]
        while bounds[-1] < whole.num_samples:
            bounds.append(bounds[-1] + max(1, round(chunk_seconds * rate)))
        bounds[-1] = whole.num_samples
        for index, (a, b) in enumerate(itertools.pairwise(bounds)):
            final = b >= whole.num_samples
            meta: dict[str, Any] = {"chunk_index": index, "start_s": a / rate, "final": final}
            if final:
                meta.update(whole.metadata)
                meta.update(chunk_index=index, start_s=a / rate, final=True)
            yield AudioOutput(whole.samples[:, a:b], rate, meta, whole.midi if final else None)
