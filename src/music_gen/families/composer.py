"""The composer family: ``MusicGenerator(model="composer")``, music with no weights.

It is a ``MusicFamily`` like MusicGen, so code written against ``MusicGenerator`` (the CLI, the
service worker, user code) runs unchanged. The sampling parameters are validated and recorded
but do not apply (the composer is not sampled); audio conditioning (melody, continuation) and
song features are capabilities it does not declare. It streams by chunking a whole render (much
faster than real time), and arranges multitrack stems from one score (``score``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audio import AudioOutput
from ..compose.arrange import arrange
from ..compose.composer import Composer
from ..compose.render import build_midi
from ..params import Request
from .base import Cancelled, Capability, CheckpointFiles, ModelCard, MusicFamily, Progress

if TYPE_CHECKING:  # torch is loaded by the families that need it, not here
    import torch

    from ..compose.plan import MusicPlan

__all__ = ["COMPOSER_CAPABILITIES", "ComposerFamily", "composer_card"]

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
        size="0 (no weights)", downloads=False,
    )  # fmt: skip


class ComposerFamily(MusicFamily):
    name = "composer"
    names = ("composer",)
    parts = ("sampling",)  # validated and recorded; the composer is not sampled

    @classmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        return composer_card()

    def __init__(
        self,
        model: str = "composer",
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        *,
        max_duration: float = 300.0,
    ) -> None:
        started = time.perf_counter()
        self.composer = Composer(max_duration=max_duration)
        self.model_name = "composer"
        self.card = composer_card(float(max_duration))
        self.load_seconds = time.perf_counter() - started

    @property
    def supports_melody(self) -> bool:
        return False

    @property
    def device(self) -> torch.device:
        import torch

        return torch.device("cpu")

    def __repr__(self) -> str:
        return "MusicGenerator(model='composer', engine='composer')"

    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        duration = float(request.duration or self.default_duration)
        outputs = []
        for i, (text, s) in enumerate(zip(request.prompts, request.seeds(), strict=True)):
            out = self.composer.generate(text, duration, s)
            total = out.metadata["timings"]["total_s"]
            out.metadata.update(batch_index=i, real_time_factor=total / duration)
            outputs.append(out)
            if progress is not None:
                progress(i + 1, len(request.prompts))
        return outputs

    def score(
        self, plan: MusicPlan, mix_settings: Mapping[str, Any] | None
    ) -> tuple[dict[str, AudioOutput], AudioOutput, bytes]:
        """Every stem is its instrument's part of one arrangement, rendered alone: the stems
        share the beat grid sample for sample, and the MIDI holds them all."""
        parts = arrange(plan)
        stems = self.composer.stems(plan, parts)
        mix = self.composer.mix(plan, stems, parts, dict(mix_settings or {}))
        return stems, mix, build_midi(plan, parts)
