"""The composer engine: prompt → plan → arrangement → MIDI + audio, with no model weights.

``Composer().generate(prompt, duration, seed)`` returns an ``AudioOutput`` (stereo, 44.1 kHz,
mastered to -14 LUFS) whose ``midi`` is the arrangement as a Standard MIDI File and whose
``metadata["plan"]`` is the ``MusicPlan`` (genre, tempo, key, chords, instruments and the words
that decided them). ``stems(plan)`` renders each instrument separately, all of the plan's exact
length, so they line up sample for sample.

Deterministic: the same prompt, duration and seed give the same notes and the same samples.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..audio import AudioOutput
from ..audio.mixer import AudioMixer
from ..errors import InvalidInput
from ..params import GenerationParams, resolve_seeds, validate_prompt
from .arrange import Note, arrange
from .plan import Instrument, MusicPlan, plan_music
from .render import build_midi, render_part, soundfont_path

__all__ = ["Composer"]

GENRE_PRESETS = {"jazz": "jazz_club", "blues": "jazz_club", "rock": "rock_band", "lofi": "lofi",
                 "cinematic": "cinematic", "ambient": "cinematic", "edm": "edm"}  # fmt: skip
ROLE_LEVELS = {"drums": -3.0, "bass": -3.0, "comp": -5.0, "pad": -9.0, "lead": -3.0}
ROLE_PANS = {"drums": 0.0, "bass": 0.0, "comp": -0.3, "pad": 0.1, "lead": 0.25}
FADE_SECONDS = 0.03


class Composer:
    """The ``composer`` model: works on any machine, no weights, no network."""

    name = "composer"
    sample_rate = 44100
    channels = 2

    def __init__(self, sample_rate: int = 44100, max_duration: float = 600.0) -> None:
        self.sample_rate = sample_rate
        self.max_duration = max_duration
        self.mixer = AudioMixer(sample_rate)

    def plan(self, prompt: str, duration: float, seed: int = 0) -> MusicPlan:
        return plan_music(validate_prompt(prompt), duration, seed)

    def stems(
        self, plan: MusicPlan, parts: dict[str, tuple[Instrument, list[Note]]] | None = None
    ) -> dict[str, AudioOutput]:
        parts = parts if parts is not None else arrange(plan)
        out = {}
        for name, (inst, notes) in parts.items():
            audio = render_part(inst, notes, plan.duration, self.sample_rate)
            fade = min(audio.shape[1], round(FADE_SECONDS * self.sample_rate))
            if fade:
                audio[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            meta = {"instrument": name, "program": inst.program, "is_drum": inst.is_drum,
                    "role": inst.role}  # fmt: skip
            out[name] = AudioOutput(audio, self.sample_rate, meta)
        return out

    def mix(
        self,
        plan: MusicPlan,
        stems: dict[str, AudioOutput],
        parts: dict[str, tuple[Instrument, list[Note]]],
        mix_settings: dict[str, Any] | None = None,
    ) -> AudioOutput:
        settings = dict(mix_settings or {})
        preset = settings.pop("preset", GENRE_PRESETS.get(plan.genre))
        target = settings.pop("target_lufs", -14.0)
        roles = {name: inst.role for name, (inst, _) in parts.items()}
        levels = {n: ROLE_LEVELS[r] for n, r in roles.items()} if preset is None else {}
        panning = {n: ROLE_PANS[r] for n, r in roles.items()} if preset is None else {}
        levels.update(settings.pop("levels", {}) or {})
        panning.update(settings.pop("panning", {}) or {})
        effects = settings.pop("effects", None)
        if settings:
            raise InvalidInput(
                f"unknown mix settings: {', '.join(sorted(settings))}; use levels, panning, "
                "effects, preset, target_lufs",
                code="INVALID_MIX",
            )
        mixed = self.mixer.mix_tracks(stems, levels, panning, effects, preset=preset)
        return self.mixer.master(mixed, target_lufs=target)

    def generate(
        self,
        prompt: str,
        duration: float = 10.0,
        seed: int | None = None,
        mix_settings: dict[str, Any] | None = None,
    ) -> AudioOutput:
        started = time.perf_counter()
        GenerationParams.validate(duration=duration, max_duration=self.max_duration)
        [seed_used] = resolve_seeds(seed, 1)
        plan = self.plan(prompt, float(duration), seed_used)
        parts = arrange(plan)
        stems = self.stems(plan, parts)
        out = self.mix(plan, stems, parts, mix_settings)
        out.midi = build_midi(plan, parts)
        out.metadata.update(self.metadata(plan, parts, time.perf_counter() - started))
        return out

    def metadata(
        self, plan: MusicPlan, parts: dict[str, tuple[Instrument, list[Note]]], seconds: float
    ) -> dict[str, Any]:
        return {
            "engine": "composer",
            "model": "composer",
            "prompt": plan.prompt,
            "seed": plan.seed,
            "duration": plan.duration,
            "beat_offset_s": 0.0,  # the first beat is the first sample (loops cut from here)
            "plan": plan.to_dict(),
            "tracks": {
                name: {"program": inst.program, "is_drum": inst.is_drum, "notes": len(notes)}
                for name, (inst, notes) in parts.items()
            },
            "soundfont": soundfont_path().name,
            "timings": {"total_s": seconds},
        }
