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
from ..composition import CompositionPlan
from ..errors import GenerationFailed
from ..params import MAX_PROMPT_CHARS, Request
from .base import Cancelled, Capability, CheckpointFiles, ModelCard, MusicFamily, Progress
from .plans import PlanProgress, plan_metadata, sample_bounds

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
        Capability.PLAN,  # a section per plan section, boundaries exact to the sample
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

    def _generate_plan(
        self,
        plan: CompositionPlan,
        seed: int,
        params: Mapping[str, Any],
        progress: Progress | None,
        cancelled: Cancelled | None,
    ) -> AudioOutput:
        """Each section composed alone from its prompt (global + its styles) in one tempo and
        key (the plan's, a section's own, else what the planner picks for the whole piece),
        then joined: every section starts at its exact sample. A negative style naming drums
        drops the drums (the planner's "no drums")."""
        import numpy as np

        from ..compose.plan import plan_music

        whole = plan_music(plan.prompt(), plan.duration, seed)
        mode = "minor" if whole.mode in ("minor", "dorian") else "major"
        bounds = sample_bounds(plan, self)
        pieces, prompts, midis = [], [], []
        tracker = PlanProgress(progress, len(bounds))
        for i, ((a, b), section) in enumerate(zip(bounds, plan.sections, strict=True)):
            step = tracker.part(i, section.name)
            if cancelled is not None and cancelled():
                raise GenerationFailed("cancelled", code="CANCELLED")
            key = section.key or plan.key or f"{whole.key} {mode}"
            bpm = section.bpm or plan.bpm or round(whole.tempo)
            negatives = " ".join((*plan.negative_styles, *section.negative_styles)).lower()
            drums = any(w in negatives for w in ("drums", "percussion", "beat"))
            # the planner takes the first key and tempo it reads: the plan's come first
            text = f"in {key}, {bpm} bpm, {'no drums, ' if drums else ''}{plan.prompt(i)}"
            text = text[:MAX_PROMPT_CHARS]
            out = self.composer.generate(text, (b - a) / self.sample_rate, seed)
            audio = out.samples[:, : b - a]
            if audio.shape[1] < b - a:
                audio = np.pad(audio, ((0, 0), (0, b - a - audio.shape[1])))
            pieces.append(audio)
            prompts.append(text)
            midis.append((a / self.sample_rate, out.midi))
            step(1, 1)
        honoured = {"sections": "exact (sample)", "bpm": "exact", "key": "exact",
                    "styles": "approximate (genre, mood and instrument words)",
                    "negative_styles": "approximate (drums only)", "lines": "ignored"}  # fmt: skip
        meta = {"plan": plan_metadata(plan, bounds, self.sample_rate, prompts, honoured)}
        return AudioOutput(np.concatenate(pieces, axis=1), self.sample_rate, meta, _join(midis))

    def score(
        self, plan: MusicPlan, mix_settings: Mapping[str, Any] | None
    ) -> tuple[dict[str, AudioOutput], AudioOutput, bytes]:
        """Every stem is its instrument's part of one arrangement, rendered alone: the stems
        share the beat grid sample for sample, and the MIDI holds them all."""
        parts = arrange(plan)
        stems = self.composer.stems(plan, parts)
        mix = self.composer.mix(plan, stems, parts, dict(mix_settings or {}))
        return stems, mix, build_midi(plan, parts)


def _join(midis: list[tuple[float, bytes | None]]) -> bytes | None:
    """The sections' MIDI files as one, each moved to its section's start."""
    import io

    import pretty_midi

    joined: pretty_midi.PrettyMIDI | None = None
    tracks: dict[tuple[str, int, bool], Any] = {}
    for start, data in midis:
        if data is None:
            return None
        part = pretty_midi.PrettyMIDI(io.BytesIO(data))
        if joined is None:
            joined = pretty_midi.PrettyMIDI(initial_tempo=part.get_tempo_changes()[1][0])
            joined.time_signature_changes = part.time_signature_changes
            joined.key_signature_changes = part.key_signature_changes
        for inst in part.instruments:
            slot = (inst.name, inst.program, inst.is_drum)
            if slot not in tracks:
                tracks[slot] = pretty_midi.Instrument(inst.program, inst.is_drum, inst.name)
                joined.instruments.append(tracks[slot])
            for n in inst.notes:
                tracks[slot].notes.append(
                    pretty_midi.Note(n.velocity, n.pitch, n.start + start, n.end + start)
                )
    if joined is None:
        return None
    buffer = io.BytesIO()
    joined.write(buffer)
    return buffer.getvalue()
