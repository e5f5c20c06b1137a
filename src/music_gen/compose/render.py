"""Parts → a General MIDI file (pretty_midi) and audio stems (a SoundFont via tinysoundfont).

SoundFont: ``$MUSIC_GEN_SOUNDFONT`` if set, else Debian's FluidR3_GM.sf2 when installed, else
the TimGM6mb.sf2 that ships inside the pretty_midi wheel — so rendering needs no network and no
system library.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelNotAvailable
from .arrange import Note
from .plan import Instrument, MusicPlan

__all__ = ["build_midi", "render_part", "soundfont_path"]

_SYSTEM_FONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)


def soundfont_path() -> Path:
    explicit = os.environ.get("MUSIC_GEN_SOUNDFONT")
    if explicit:
        return Path(explicit)
    for candidate in _SYSTEM_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    import pretty_midi

    bundled = Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")
    if not bundled.is_file():
        raise ModelNotAvailable(
            "no General MIDI SoundFont found: install Debian's fluid-soundfont-gm or set "
            "MUSIC_GEN_SOUNDFONT",
            code="SOUNDFONT_NOT_FOUND",
        )
    return bundled


def build_midi(plan: MusicPlan, parts: dict[str, tuple[Instrument, list[Note]]]) -> bytes:
    """A type-1 MIDI file: tempo, meter and key of the plan, one track per part."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=plan.tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(plan.meter, 4, 0.0))
    mode = "major" if plan.mode == "major" else "minor"
    pm.key_signature_changes.append(
        pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(f"{plan.key} {mode}"), 0.0)
    )
    for name, (inst, notes) in parts.items():
        track = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=name)
        track.notes = [
            pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=n.end)
            for n in notes
        ]
        pm.instruments.append(track)
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


@lru_cache(maxsize=2)
def _font_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def render_part(
    inst: Instrument, notes: list[Note], seconds: float, sample_rate: int
) -> np.ndarray:
    """One part as stereo float32 ``[2, round(seconds * sample_rate)]``."""
    import tinysoundfont

    total = round(seconds * sample_rate)
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(_font_bytes(str(soundfont_path())))
    synth.program_select(0, sfid, 0, 0 if inst.is_drum else inst.program, is_drums=inst.is_drum)
    events: list[tuple[int, int, int, int]] = []  # (sample, 0 = off / 1 = on, pitch, velocity)
    for n in notes:
        start = round(n.start * sample_rate)
        if start >= total:
            continue
        events.append((start, 1, n.pitch, n.velocity))
        events.append((min(round(n.end * sample_rate), total), 0, n.pitch, 0))
    events.sort()
    out = np.zeros((total, 2), dtype=np.float32)
    cursor = 0
    for at, on, pitch, velocity in events:
        if at > cursor:
            out[cursor:at] = np.frombuffer(synth.generate(at - cursor), dtype=np.float32).reshape(
                -1, 2
            )
            cursor = at
        if on:
            synth.noteon(0, pitch, velocity)
        else:
            synth.noteoff(0, pitch)
    if cursor < total:
        out[cursor:] = np.frombuffer(synth.generate(total - cursor), dtype=np.float32).reshape(
            -1, 2
        )
    return np.ascontiguousarray(out.T)
