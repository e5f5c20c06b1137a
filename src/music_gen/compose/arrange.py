"""``MusicPlan`` → one part (a list of notes) per instrument, all on one beat grid.

Every note starts on a 16th-note step of the plan's tempo (swung 8ths are delayed by
``swing × half a beat``), so stems of one plan line up. Variation comes from the plan's seed
only: the same plan gives the same notes.

- drums: a pattern per style (rock, pop, funk, four-on-the-floor, boom-bap, swing ride,
  shuffle, one-drop, cinematic toms, waltz), a crash at each section start and a fill before it;
- bass: walking quarters (jazz/blues), syncopated 16ths with octave pops (funk), off-beat 8ths
  (edm), root-fifth patterns otherwise — always the chord's root on the downbeat;
- comp: the genre's comping rhythm over voice-led chords (Charleston, funk chops, power-chord
  8ths, reggae skanks, waltz "pah-pah", sustained 7ths for lofi);
- pad: sustained voice-led chords;
- lead: a seeded two-bar motif per section (chord tones on strong beats, scale steps between),
  repeated and varied; silent in the intro, resolving to the tonic at the end.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .harmony import chord_pitches, scale_pitches, voice
from .plan import Instrument, MusicPlan

__all__ = ["Note", "arrange"]

KICK, SNARE, RIM, CLAP, HAT, PEDAL, OPEN_HAT, RIDE, CRASH, LOW_TOM, MID_TOM = (
    36, 38, 37, 39, 42, 44, 46, 51, 49, 45, 47,
)  # fmt: skip


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float  # seconds
    end: float
    velocity: int


# (instrument, 16th steps within a bar, velocity); steps beyond the bar length are dropped
DRUMS: dict[str, list[tuple[int, list[int], int]]] = {
    "rock": [(KICK, [0, 8, 10], 110), (SNARE, [4, 12], 112), (HAT, list(range(0, 16, 2)), 80)],
    "pop": [(KICK, [0, 6, 8], 105), (SNARE, [4, 12], 105), (HAT, list(range(0, 16, 2)), 75)],
    "funk": [(KICK, [0, 3, 10], 112), (SNARE, [4, 12], 115), (SNARE, [7, 9, 15], 45),
             (HAT, list(range(16)), 70), (OPEN_HAT, [14], 80)],
    "four": [(KICK, [0, 4, 8, 12], 118), (CLAP, [4, 12], 100), (OPEN_HAT, [2, 6, 10, 14], 85),
             (HAT, [1, 3, 5, 7, 9, 11, 13, 15], 55)],
    "boombap": [(KICK, [0, 7, 10], 108), (SNARE, [4, 12], 110), (HAT, list(range(0, 16, 2)), 70)],
    "swing": [(RIDE, [0, 4, 6, 8, 12, 14], 85), (PEDAL, [4, 12], 70), (KICK, [0], 60)],
    "shuffle": [(KICK, [0, 8], 100), (SNARE, [4, 12], 105), (HAT, list(range(0, 16, 2)), 75)],
    "onedrop": [(KICK, [8], 105), (RIM, [8], 100), (HAT, list(range(0, 16, 2)), 70)],
    "cinematic": [(KICK, [0], 115), (LOW_TOM, [10, 12], 110), (MID_TOM, [14], 105)],
    "waltz": [(KICK, [0], 95), (HAT, [4, 8], 70)],
    "none": [],
}  # fmt: skip


class _Grid:
    def __init__(self, plan: MusicPlan) -> None:
        self.beat = 60.0 / plan.tempo
        self.step = self.beat / 4
        self.steps_per_bar = plan.meter * 4
        self.swing = plan.swing

    def time(self, bar: int, step: float) -> float:
        t = (bar * self.steps_per_bar + step) * self.step
        if self.swing and int(step) == step and int(step) % 4 == 2:  # the "and" of a beat
            t += self.swing * self.beat / 2
        return t


def arrange(plan: MusicPlan) -> dict[str, tuple[Instrument, list[Note]]]:
    grid = _Grid(plan)
    rng = random.Random(plan.seed * 7919 + 17)
    chords = [chord_pitches(c, plan.tonic, plan.mode) for c in plan.chords]
    starts = _section_starts(plan)
    parts: dict[str, tuple[Instrument, list[Note]]] = {}
    for inst in plan.instruments:
        if inst.role == "drums":
            notes = _drums(plan, grid, starts, rng)
        elif inst.role == "bass":
            notes = _bass(plan, grid, chords, rng)
        elif inst.role == "comp":
            notes = _comp(plan, grid, chords, inst)
        elif inst.role == "pad":
            notes = _pad(plan, grid, chords)
        else:
            notes = _lead(plan, grid, chords, starts, random.Random(plan.seed * 31 + len(parts)))
        name = inst.name if inst.name not in parts else f"{inst.name} {len(parts)}"
        parts[name] = (inst, notes)
    return bridge_silences(parts)


#: how long a drum hit is heard (seconds): hats and rims die out fast, cymbals ring
_DRUM_RING = {HAT: 0.05, PEDAL: 0.05, RIM: 0.06, CLAP: 0.12, SNARE: 0.15, KICK: 0.15,
              OPEN_HAT: 0.3, RIDE: 0.6, CRASH: 1.2, LOW_TOM: 0.25, MID_TOM: 0.25}  # fmt: skip
#: the longest hole in the sound a groove may have (a 16th note at 180 bpm is 83 ms)
MAX_HOLE = 0.03


def bridge_silences(
    parts: dict[str, tuple[Instrument, list[Note]]],
) -> dict[str, tuple[Instrument, list[Note]]]:
    """Let no moment of the piece go silent: where every part rests at once (a staccato
    groove's shared rest, with only a closed hat dying out), the pitched note that ended last
    is held on to the next onset (played legato). Drums alone never bridge: a hole with no
    pitched note before it is left as the arrangement wrote it."""
    heard: list[tuple[float, float]] = []
    for inst, notes in parts.values():
        for n in notes:
            end = n.start + _DRUM_RING.get(n.pitch, 0.1) if inst.role == "drums" else n.end
            heard.append((n.start, end))
    heard.sort()
    holes, reach = [], heard[0][1] if heard else 0.0
    for start, end in heard[1:]:
        if start - reach > MAX_HOLE:
            holes.append((reach, start))
        reach = max(reach, end)
    if not holes:
        return parts
    pitched = [(name, i, n) for name, (inst, notes) in parts.items() if inst.role != "drums"
               for i, n in enumerate(notes)]  # fmt: skip
    lists = {name: list(notes) for name, (_, notes) in parts.items()}
    for lo, hi in holes:
        before = [(n.end, name, i) for name, i, n in pitched if n.end <= lo + 1e-9]
        if not before:
            continue
        _, name, i = max(before)
        lists[name][i] = replace(lists[name][i], end=hi)
    return {name: (inst, lists[name]) for name, (inst, _) in parts.items()}


def _section_starts(plan: MusicPlan) -> list[tuple[str, int]]:
    out, bar = [], 0
    for name, bars in plan.sections:
        out.append((name, bar))
        bar += bars
    return out


def _drums(
    plan: MusicPlan, grid: _Grid, starts: list[tuple[str, int]], rng: random.Random
) -> list[Note]:
    notes: list[Note] = []
    section_bars = {bar for _, bar in starts}
    length = grid.step * 0.9
    for bar in range(plan.bars):
        last_of_section = (bar + 1) in section_bars or bar == plan.bars - 1
        for pitch, steps, velocity in DRUMS[plan.drum_style]:
            for step in steps:
                if step >= grid.steps_per_bar:
                    continue
                if last_of_section and step >= grid.steps_per_bar - 4 and pitch in (KICK, SNARE):
                    continue  # the fill takes the last beat
                v = max(1, min(127, velocity + rng.randint(-6, 6)))
                t = grid.time(bar, step)
                notes.append(Note(pitch, t, t + length, v))
        if bar in section_bars and plan.drum_style != "none":
            t = grid.time(bar, 0)
            notes.append(Note(CRASH, t, t + grid.beat * 2, 100))
        if last_of_section and plan.drum_style not in ("none", "waltz") and bar > 0:
            for i, step in enumerate(range(grid.steps_per_bar - 4, grid.steps_per_bar)):
                t = grid.time(bar, step)
                notes.append(Note(SNARE if i % 2 == 0 else MID_TOM, t, t + length, 90 + 6 * i))
    return notes


def _bass_root(chord: list[int]) -> int:
    return 28 + (chord[0] - 28) % 12  # E1 … D#2


def _bass(plan: MusicPlan, grid: _Grid, chords: list[list[int]], rng: random.Random) -> list[Note]:
    notes: list[Note] = []
    scale = scale_pitches(plan.tonic, plan.mode, 26, 55)
    for bar, chord in enumerate(chords):
        root = _bass_root(chord)
        fifth, third = root + (chord[2] - chord[0]), root + (chord[1] - chord[0])
        nxt = _bass_root(chords[(bar + 1) % len(chords)])
        if plan.genre in ("jazz", "blues"):  # walking quarters
            line = [root, third, fifth]
            while len(line) < plan.meter - 1:
                line.append(fifth + 2)
            approach = nxt + rng.choice([-1, 1, -2])
            line = [*line[: plan.meter - 1], approach]
            pattern = [(4 * i, p, 4) for i, p in enumerate(line)]
        elif plan.genre == "funk":
            octave = root + 12
            pattern = [(0, root, 2), (3, octave, 1), (6, root, 1), (7, root, 1), (10, octave, 1),
                       (11, root + 10, 1), (14, fifth, 2)]  # fmt: skip
            if rng.random() < 0.3:
                pattern[4] = (10, octave + 2, 1)
        elif plan.genre == "edm":
            pattern = [(s, root, 2) for s in (2, 6, 10, 14)]
        elif plan.genre == "reggae":
            pattern = [(0, root, 3), (6, fifth, 2), (8, root + 12, 2), (12, third, 2)]
        elif plan.genre in ("rock", "pop", "country"):
            pattern = [(s, root if s < 12 or rng.random() < 0.6 else fifth, 2)
                       for s in range(0, 16, 2)]  # fmt: skip
        elif plan.meter == 3:
            pattern = [(0, root, 4)]
        else:
            pattern = [(0, root, 6), (8, fifth, 4), (12, rng.choice([root, third, fifth]), 4)]
        for step, pitch, length in pattern:
            if step >= grid.steps_per_bar:
                continue
            pitch = (
                min(scale, key=lambda p: abs(p - pitch)) if pitch not in (root, fifth) else pitch
            )
            t = grid.time(bar, step)
            notes.append(Note(pitch, t, t + length * grid.step * 0.95, 100 if step == 0 else 88))
    return notes


# (16th step, length in steps) of each comping rhythm
COMP = {
    "jazz": [(6, 2), (12, 3)],
    "blues": [(0, 3), (6, 2), (8, 3), (14, 2)],
    "funk": [(2, 1), (6, 1), (7, 1), (10, 1), (14, 1), (15, 1)],
    "rock": [(s, 2) for s in range(0, 16, 2)],
    "reggae": [(2, 1), (6, 1), (10, 1), (14, 1)],
    "lofi": [(0, 15)],
    "waltz": [(4, 3), (8, 3)],
    "pop": [(0, 3), (4, 3), (8, 3), (12, 3)],
    "country": [(0, 2), (4, 2), (6, 2), (8, 2), (12, 2), (14, 2)],
}


def _comp(plan: MusicPlan, grid: _Grid, chords: list[list[int]], inst: Instrument) -> list[Note]:
    rhythm = COMP.get(plan.genre, [(0, 7), (8, 7)])
    notes: list[Note] = []
    previous: list[int] | None = None
    power = inst.program == 30  # distortion guitar plays power chords
    for bar, chord in enumerate(chords):
        pitches = [chord[0], chord[0] + 7, chord[0] + 12] if power else chord
        voiced = voice(pitches, 60, previous) if not power else voice(pitches, 52)
        previous = voiced
        for step, length in rhythm:
            if step >= grid.steps_per_bar:
                continue
            t = grid.time(bar, step)
            end = t + length * grid.step * 0.92
            notes.extend(Note(p, t, end, 82 if step % 4 == 0 else 74) for p in voiced)
    return notes


def _pad(plan: MusicPlan, grid: _Grid, chords: list[list[int]]) -> list[Note]:
    notes: list[Note] = []
    previous: list[int] | None = None
    for bar, chord in enumerate(chords):
        voiced = voice(chord, 64, previous)
        previous = voiced
        t = grid.time(bar, 0)
        notes.extend(Note(p, t, t + grid.steps_per_bar * grid.step * 0.98, 62) for p in voiced)
    return notes


def _motif(rng: random.Random, steps_per_bar: int, density: float) -> list[tuple[int, int]]:
    """(step, length) pairs over two bars: a rhythm with notes on strong beats more often."""
    out, step = [], 0
    total = 2 * steps_per_bar
    while step < total - 2:
        strong = step % 4 == 0
        if rng.random() < (density + 0.25 if strong else density):
            length = rng.choice([2, 2, 4, 4, 6, 8] if density < 0.5 else [1, 2, 2, 3, 4])
            out.append((step, min(length, total - step)))
            step += length
        else:
            step += 2
    return out or [(0, 4)]


def _lead(plan: MusicPlan, grid: _Grid, chords: list[list[int]], starts: list[tuple[str, int]],
          rng: random.Random) -> list[Note]:  # fmt: skip
    density = {"funk": 0.45, "edm": 0.5, "jazz": 0.45, "rock": 0.4, "ambient": 0.2,
               "cinematic": 0.3, "lofi": 0.3}.get(plan.genre, 0.35)  # fmt: skip
    scale = scale_pitches(plan.tonic, plan.mode, 60, 84)
    motifs: dict[str, list[tuple[int, int]]] = {}
    notes: list[Note] = []
    pitch = min(scale, key=lambda p: abs(p - 69))
    bounds = [*[b for _, b in starts], plan.bars]
    for (section, first), last in zip(starts, bounds[1:], strict=True):
        if section == "intro" or (section == "outro" and len(starts) > 1):
            continue
        kind = section.rstrip("'")
        motif = motifs.setdefault(kind, _motif(rng, grid.steps_per_bar, density))
        for bar in range(first, last, 2):
            for step, length in motif:
                b, s = bar + step // grid.steps_per_bar, step % grid.steps_per_bar
                if b >= last:
                    break
                chord_pcs = {p % 12 for p in chords[b]}
                if s % 4 == 0:  # strong: nearest chord tone
                    candidates = [p for p in scale if p % 12 in chord_pcs]
                    pitch = min(candidates, key=lambda p: (abs(p - pitch), p))
                else:  # weak: a step or two along the scale
                    i = scale.index(min(scale, key=lambda p: abs(p - pitch)))
                    i = max(0, min(len(scale) - 1, i + rng.choice([-2, -1, -1, 1, 1, 2])))
                    pitch = scale[i]
                t = grid.time(b, s)
                notes.append(
                    Note(pitch, t, t + length * grid.step * 0.95, 96 if s % 4 == 0 else 84)
                )
    if plan.bars >= 2:  # resolve: the tonic, held through the last bar
        t = grid.time(plan.bars - 1, 0)
        tonic = min((p for p in scale if p % 12 == plan.tonic % 12), key=lambda p: abs(p - 67))
        notes.append(Note(tonic, t, t + grid.steps_per_bar * grid.step * 0.95, 90))
    return notes
