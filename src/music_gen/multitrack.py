"""``MultiInstrumentGenerator``: stems that line up, and their mix (beside the facade: it drives
a ``MusicGenerator``; ``compose/`` is the composer engine below it).

One ``MusicPlan`` (tempo, key, chords, form), made from all the instrument prompts together,
drives every stem:

- families that write scores (the composer: ``MusicFamily.score``) arrange every stem from one
  score — the stems share the beat grid sample for sample, and the MIDI holds them all;
- with the others (a MusicGen checkpoint), each stem is generated from its own prompt
  extended with the plan's tempo and key ("…, 104 bpm, in A minor"); melody checkpoints are
  also conditioned on the plan's chord progression rendered to audio (its chroma), so
  independently generated stems share the harmony. All stems are generated for the same whole
  number of bars and trimmed to the requested duration, so they have the same length and start
  on the downbeat.

The mix uses ``AudioMixer`` with ``mix_settings``: ``levels``, ``panning``, ``effects``,
``preset`` (default: by genre for the composer) and ``target_lufs`` (mastering, default -14).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .audio import AudioOutput
from .audio.mixer import AudioMixer, instrument_family
from .compose.plan import INSTRUMENTS, Instrument, MusicPlan, plan_music
from .compose.render import render_part
from .errors import InvalidInput
from .families.base import Capability, unsupported
from .generator import MusicGenerator
from .params import check_duration, resolve_seeds, validate_prompt

__all__ = ["MultiInstrumentGenerator"]

_FAMILY_DEFAULT = {"drums": "drums", "bass": "bass", "keys": "piano", "guitar": "guitar",
                   "pad": "pad", "horns": "horns", "lead": "lead", "other": "lead"}  # fmt: skip


def _instrument_for(name: str, prompt: str) -> Instrument:
    """The GM instrument a stem called ``name`` with ``prompt`` should play."""
    text = f"{prompt} {name}".lower()
    for word in sorted(INSTRUMENTS, key=len, reverse=True):  # "walking bass" before "bass"
        if word in text:
            return replace(INSTRUMENTS[word], name=name)
    return replace(INSTRUMENTS[_FAMILY_DEFAULT[instrument_family(f"{name} {prompt}")]], name=name)


class MultiInstrumentGenerator:
    def __init__(self, model: str = "composer", **kwargs: Any) -> None:
        self.generator = MusicGenerator(model, **kwargs)
        self.mixer = AudioMixer()

    @classmethod
    def from_generator(cls, generator: MusicGenerator) -> MultiInstrumentGenerator:
        """Around an already loaded ``MusicGenerator`` (the service keeps models warm)."""
        multi = cls.__new__(cls)
        multi.generator, multi.mixer = generator, AudioMixer()
        return multi

    @property
    def is_composer(self) -> bool:
        """Models that write MIDI arrange every stem from one score (the composer); the others
        generate each stem from its prompt."""
        return bool(self.generator.can(Capability.MIDI))

    def plan(self, prompts: dict[str, str], duration: float, seed: int) -> MusicPlan:
        if not isinstance(prompts, dict) or not prompts:
            raise InvalidInput(
                "prompts must map instrument names to prompts, e.g. "
                '{"piano": "Jazz piano comping", "bass": "Walking bass line"}',
                code="INVALID_PROMPT",
            )
        texts = {str(k): validate_prompt(v) for k, v in prompts.items()}
        joined = "; ".join(f"{name}: {text}" for name, text in texts.items())
        plan = plan_music(joined, duration, seed)
        instruments = [_instrument_for(name, text) for name, text in texts.items()]
        return replace(plan, instruments=instruments)

    def generate_multi_track(
        self,
        prompts: dict[str, str],
        duration: float,
        mix_settings: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> dict[str, AudioOutput]:
        """``{name: stem, ..., "mix": mastered mix}``; every stem has the same length."""
        if "mix" in prompts:
            raise InvalidInput("'mix' is the name of the mixed track; rename that instrument")
        if not self.generator.can(Capability.MULTITRACK):
            raise unsupported(
                self.generator.model_name, self.generator.family, "instruments",
                Capability.MULTITRACK,
            )  # fmt: skip
        [seed_used] = resolve_seeds(seed, 1)
        check_duration(duration, self.generator.max_duration)
        plan = self.plan(prompts, float(duration), seed_used)
        scored = self.generator.family_impl.score(plan, mix_settings)
        midi: bytes | None = None
        if scored is not None:
            stems, mix, midi = scored
        else:
            stems = self._generated(plan, prompts, seed_used)
            settings = dict(mix_settings or {})
            target = settings.pop("target_lufs", -14.0)
            mixed = self.mixer.mix_tracks(
                stems, settings.pop("levels", None), settings.pop("panning", None),
                settings.pop("effects", None), preset=settings.pop("preset", None),
            )  # fmt: skip
            if settings:
                raise InvalidInput(
                    f"unknown mix settings: {', '.join(sorted(settings))}", code="INVALID_MIX"
                )
            mix = self.mixer.master(mixed, target_lufs=target)
        mix.midi = midi
        mix.metadata.update(
            engine=self.generator.family,
            model=self.generator.model_name,
            seed=seed_used,
            plan=plan.to_dict(),
            stems=list(stems),
        )
        return {**stems, "mix": mix}

    def _generated(
        self, plan: MusicPlan, prompts: dict[str, str], seed: int
    ) -> dict[str, AudioOutput]:
        gen = self.generator
        bars_seconds = plan.bars * plan.bar_seconds
        mode = "minor" if plan.mode != "major" else "major"
        guide = self._chord_guide(plan, gen.sample_rate) if gen.supports_melody else None
        total = round(plan.duration * gen.sample_rate)
        stems = {}
        for name, prompt in prompts.items():
            text = f"{prompt}, {plan.tempo:g} bpm, in {plan.key} {mode}"
            audio = gen.generate(text, duration=max(plan.duration, bars_seconds), seed=seed,
                                 melody=guide)  # fmt: skip
            samples = audio.samples[:, :total]
            if samples.shape[1] < total:
                samples = np.pad(samples, ((0, 0), (0, total - samples.shape[1])))
            meta = {**audio.metadata, "instrument": name, "stem_prompt": text}
            stems[name] = AudioOutput(samples, audio.sample_rate, meta)
        return stems

    @staticmethod
    def _chord_guide(plan: MusicPlan, sample_rate: int) -> AudioOutput:
        """The plan's chords as sustained organ chords: the melody model's chroma source."""
        from .compose.arrange import _Grid, _pad
        from .compose.harmony import chord_pitches

        chords = [chord_pitches(c, plan.tonic, plan.mode) for c in plan.chords]
        notes = _pad(plan, _Grid(plan), chords)
        organ = Instrument("chord guide", 19, "pad")
        seconds = plan.bars * plan.bar_seconds
        return AudioOutput(render_part(organ, notes, seconds, sample_rate), sample_rate)
