"""``MusicGenerator.generate(prompt, loop=True, bpm=120, bars=4)``: a seamless loop from any
family with the ``loop`` capability.

The family makes the loop's length plus one bar at ``bpm`` (``audio.loop.loop_source_seconds``)
and ``audio.loop.make_loop`` cuts it on the beat grid and crossfades the wrap. How the tempo
reaches the model is asked of its capabilities, never its name: a family with the ``bpm``
capability takes ``bpm=`` (and ``time_signature=`` from ``beats_per_bar``); any other is told
in its prompt (``"…, 120 bpm"``), which the composer reads as its exact tempo and MusicGen as a
description. Loops are instrumental: ``lyrics`` are refused.
"""

from __future__ import annotations

import re
from typing import Any

from .audio import AudioOutput
from .audio.loop import LoopSpec, generate_loop
from .errors import InvalidInput, UnsupportedFeature
from .families.base import Capability, require, unsupported
from .params import TIME_SIGNATURES, validate_prompt

__all__ = ["generate_loop_with", "prompt_with_tempo"]

_TEMPO = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)", re.IGNORECASE)


def prompt_with_tempo(prompt: str, bpm: float) -> str:
    """``prompt`` saying ``bpm``: as it is when it already names that tempo, with ``", 120 bpm"``
    appended when it names none; INVALID_BPM when it names another."""
    text = validate_prompt(prompt)
    named = _TEMPO.search(text)
    if named is None:
        return validate_prompt(f"{text}, {bpm:g} bpm")
    if abs(float(named.group(1)) - bpm) > 1e-9:
        raise InvalidInput(
            f"the prompt asks for {named.group(0)!r} but the loop is at {bpm:g} BPM; give one "
            "tempo",
            code="INVALID_BPM",
            details={"prompt_bpm": float(named.group(1)), "bpm": bpm},
        )
    return text


def generate_loop_with(
    gen: Any,  # a MusicGenerator (its card, family_impl and max_duration)
    prompt: str,
    *args: Any,
    bpm: Any = None,
    bars: Any = None,
    beats_per_bar: Any = 4,
    crossfade: float | None = None,
    duration: float | None = None,
    **kwargs: Any,
) -> AudioOutput:
    """A loop of ``bars`` bars of ``beats_per_bar`` beats at ``bpm`` from ``gen``'s family;
    the other keyword arguments are the family's own (seed, temperature, steps, ...)."""
    card = gen.card
    if not card.can(Capability.LOOP):
        raise unsupported(card.name, card.family, "loop", Capability.LOOP)
    if args:
        raise TypeError("a loop takes keyword arguments only (bpm=, bars=, seed=, ...)")
    if kwargs.get("lyrics"):
        raise UnsupportedFeature(
            "a loop is instrumental: leave the lyrics out",
            code="LOOP_NOT_INSTRUMENTAL",
            details={"model": card.name},
        )
    kwargs.pop("lyrics", None)
    spec = LoopSpec.validate(bpm, bars, beats_per_bar)
    if duration is not None and abs(float(duration) - spec.seconds) > 1e-6:
        raise InvalidInput(
            f"a {spec.bars}-bar loop at {spec.bpm:g} BPM lasts {spec.seconds:g} s, not "
            f"{duration} s; leave duration out",
            code="INVALID_DURATION",
            details={"duration": duration, "loop_seconds": spec.seconds},
        )
    if card.can(Capability.BPM):
        kwargs["bpm"] = int(spec.bpm) if spec.bpm == int(spec.bpm) else spec.bpm
        meter = str(spec.beats_per_bar)
        if card.can(Capability.TIME_SIGNATURE) and meter in TIME_SIGNATURES.values():
            kwargs.setdefault("time_signature", meter)
        text = validate_prompt(prompt)
    else:
        text = prompt_with_tempo(prompt, spec.bpm)
    require(card, kwargs)
    impl = gen.family_impl

    def source(seconds: float) -> AudioOutput:
        return impl.generate(text, duration=seconds, **kwargs)

    return generate_loop(source, spec, gen.max_duration, crossfade=crossfade)
