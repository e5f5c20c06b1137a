"""Roman-numeral chords in a key and mode → MIDI pitches; scales; voice leading.

>>> chord_pitches("V7", tonic=0, mode="major")   # G7 in C: G B D F
[7, 11, 14, 17]
>>> chord_pitches("VI", tonic=9, mode="minor")   # F in A minor
[17, 21, 24]
"""

from __future__ import annotations

import re

__all__ = ["SCALES", "chord_pitches", "scale_pitches", "voice"]

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
}
_NUMERALS = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
_CHORD = re.compile(r"^(?P<num>[ivIV]+)(?P<suffix>maj7|ø7|°7|°|7)?$")


def chord_pitches(symbol: str, tonic: int, mode: str) -> list[int]:
    """Pitch classes lifted into one octave above the tonic: root first, ascending."""
    match = _CHORD.match(symbol)
    if match is None:
        raise ValueError(f"not a roman-numeral chord: {symbol!r}")
    numeral, suffix = match["num"], match["suffix"] or ""
    degree = _NUMERALS[numeral.lower()]
    root = tonic + SCALES[mode][degree]
    upper = numeral.isupper()
    if suffix in ("°", "°7"):
        shape = [0, 3, 6] + ([9] if suffix == "°7" else [])
    elif suffix == "ø7":
        shape = [0, 3, 6, 10]
    elif suffix == "maj7":
        shape = [0, 4, 7, 11] if upper else [0, 3, 7, 11]
    elif suffix == "7":
        shape = [0, 4, 7, 10] if upper else [0, 3, 7, 10]
    else:
        shape = [0, 4, 7] if upper else [0, 3, 7]
    return [root + s for s in shape]


def scale_pitches(tonic: int, mode: str, low: int, high: int) -> list[int]:
    """Every pitch of the scale within [low, high]."""
    classes = {(tonic + s) % 12 for s in SCALES[mode]}
    return [p for p in range(low, high + 1) if p % 12 in classes]


def voice(chord: list[int], around: int, previous: list[int] | None = None) -> list[int]:
    """The chord's tones placed near ``around`` (or near the previous voicing: smooth motion)."""
    centre = around if not previous else round(sum(previous) / len(previous))
    out = []
    for pc in chord:
        candidates = [pc % 12 + 12 * o for o in range(2, 9)]
        out.append(min(candidates, key=lambda p: abs(p - centre)))
    return sorted(set(out))
