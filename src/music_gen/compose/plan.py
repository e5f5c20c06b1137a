"""Prompt → ``MusicPlan``: genre, mood, tempo, key and mode, meter, sections, chords, instruments.

The mapping is a set of word tables, applied in this order (``MusicPlan.reasons`` records which
words decided what, so users see why the music sounds as it does):

1. **Genre**: the first genre whose keywords appear ("funk", "jazz", "lofi", "rock", "edm" …);
   none → "pop". The genre gives the default tempo, mode, meter, swing, drum style, chord
   progressions and instruments.
2. **Tempo**: an explicit "120 bpm" wins; otherwise the genre's tempo scaled by mood words
   ("slow", "calm" ×0.8; "upbeat", "energetic" ×1.12; "fast" ×1.25).
3. **Mode and key**: "in A minor" / "in Eb" wins; "minor", "sad", "dark", "melancholic" …
   → minor; "major", "happy", "bright" … → major; else the genre's mode. The tonic is chosen
   by the seed among keys that suit the genre.
4. **Instruments**: every instrument named ("slap bass", "horns", "rhodes", "strings" …) is
   added with its General MIDI program; the genre's defaults fill the missing roles (drums,
   bass, harmony, melody). "no drums" / "without drums" removes the drums.
5. **Form**: bars = duration × tempo / (60 × beats per bar), split into intro / A / B / A /
   outro sections; the progression (chosen by the seed from the genre's) repeats per section.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GENRES", "INSTRUMENTS", "Instrument", "MusicPlan", "plan_music"]

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_PITCH = {name: i for i, name in enumerate(NOTE_NAMES)}
_PITCH.update({"Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10, "Cb": 11, "B#": 0, "E#": 5, "Fb": 4})


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int  # General MIDI program, 0-based
    role: str  # drums | bass | comp | pad | lead
    is_drum: bool = False


# keyword → instrument (longest keywords are matched first)
INSTRUMENTS: dict[str, Instrument] = {
    "slap bass": Instrument("slap bass", 36, "bass"),
    "synth bass": Instrument("synth bass", 38, "bass"),
    "upright bass": Instrument("acoustic bass", 32, "bass"),
    "acoustic bass": Instrument("acoustic bass", 32, "bass"),
    "walking bass": Instrument("acoustic bass", 32, "bass"),
    "electric bass": Instrument("electric bass", 33, "bass"),
    "bass": Instrument("electric bass", 33, "bass"),
    "electric piano": Instrument("electric piano", 4, "comp"),
    "rhodes": Instrument("electric piano", 4, "comp"),
    "piano": Instrument("piano", 0, "comp"),
    "organ": Instrument("organ", 16, "comp"),
    "acoustic guitar": Instrument("acoustic guitar", 25, "comp"),
    "distorted guitar": Instrument("distortion guitar", 30, "comp"),
    "electric guitar": Instrument("electric guitar", 27, "comp"),
    "guitar": Instrument("electric guitar", 27, "comp"),
    "strings": Instrument("strings", 48, "pad"),
    "violin": Instrument("violin", 40, "lead"),
    "cello": Instrument("cello", 42, "lead"),
    "harp": Instrument("harp", 46, "comp"),
    "choir": Instrument("choir", 52, "pad"),
    "pad": Instrument("synth pad", 89, "pad"),
    "synth": Instrument("synth lead", 81, "lead"),
    "lead": Instrument("synth lead", 81, "lead"),
    "trumpet": Instrument("trumpet", 56, "lead"),
    "trombone": Instrument("trombone", 57, "lead"),
    "horns": Instrument("brass section", 61, "lead"),
    "horn": Instrument("brass section", 61, "lead"),
    "brass": Instrument("brass section", 61, "lead"),
    "saxophone": Instrument("tenor sax", 66, "lead"),
    "sax": Instrument("tenor sax", 66, "lead"),
    "flute": Instrument("flute", 73, "lead"),
    "clarinet": Instrument("clarinet", 71, "lead"),
    "marimba": Instrument("marimba", 12, "lead"),
    "vibraphone": Instrument("vibraphone", 11, "lead"),
    "bells": Instrument("glockenspiel", 9, "lead"),
    "drums": Instrument("drums", 0, "drums", is_drum=True),
    "drum": Instrument("drums", 0, "drums", is_drum=True),
    "beat": Instrument("drums", 0, "drums", is_drum=True),
    "percussion": Instrument("drums", 0, "drums", is_drum=True),
}


@dataclass(frozen=True)
class Genre:
    keywords: tuple[str, ...]
    tempo: float
    mode: str
    drums: str  # drum pattern style
    progressions: tuple[tuple[str, ...], ...]  # roman numerals, one chord per bar
    instruments: tuple[str, ...]  # INSTRUMENTS keys: bass, comp, pad/lead
    swing: float = 0.0  # 0 straight … 1/3 triplet swing
    keys: tuple[str, ...] = ("C", "D", "E", "F", "G", "A", "Bb")
    meter: int = 4


GENRES: dict[str, Genre] = {
    "funk": Genre(("funk", "funky", "disco"), 104, "dorian", "funk",
                  (("i7", "IV7"), ("i7", "i7", "IV7", "IV7")),
                  ("drums", "slap bass", "guitar", "horns"), keys=("E", "A", "D", "G")),
    "jazz": Genre(("jazz", "bebop", "swing", "bossa"), 132, "major", "swing",
                  (("ii7", "V7", "Imaj7", "vi7"), ("Imaj7", "vi7", "ii7", "V7")),
                  ("drums", "walking bass", "piano", "sax"), swing=1 / 3,
                  keys=("F", "Bb", "Eb", "C", "G")),
    "blues": Genre(("blues", "shuffle"), 96, "major", "shuffle",
                   (("I7", "IV7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7"),),
                   ("drums", "bass", "piano", "guitar"), swing=1 / 3, keys=("E", "A", "G", "C")),
    "lofi": Genre(("lofi", "lo-fi", "hip hop", "hiphop", "hip-hop", "chillhop"), 82, "major",
                  "boombap", (("ii7", "V7", "Imaj7", "Imaj7"), ("IVmaj7", "iii7", "ii7", "Imaj7")),
                  ("drums", "bass", "rhodes", "pad"), swing=0.2),
    "rock": Genre(("rock", "punk", "grunge", "metal"), 124, "major", "rock",
                  (("I", "V", "vi", "IV"), ("I", "IV", "V", "IV")),
                  ("drums", "bass", "distorted guitar", "lead"), keys=("E", "A", "D", "G")),
    "edm": Genre(("edm", "house", "techno", "trance", "dance", "electronic", "club"), 126,
                 "minor", "four", (("i", "VI", "III", "VII"), ("i", "iv", "VI", "V")),
                 ("drums", "synth bass", "pad", "synth")),
    "ambient": Genre(("ambient", "drone", "meditation", "atmospheric"), 68, "major", "none",
                     (("Imaj7", "IVmaj7"), ("I", "vi", "IV", "I")), ("pad", "strings", "bells")),
    "cinematic": Genre(("cinematic", "orchestral", "epic", "film", "soundtrack", "classical"),
                       84, "minor", "cinematic",
                       (("i", "VI", "III", "VII"), ("i", "iv", "VI", "V")),
                       ("drums", "cello", "strings", "horns")),
    "reggae": Genre(("reggae", "dub", "ska"), 76, "major", "onedrop",
                    (("I", "IV"), ("I", "V", "IV", "I")), ("drums", "bass", "organ", "guitar")),
    "country": Genre(("country", "folk", "bluegrass", "americana"), 100, "major", "rock",
                     (("I", "IV", "V", "I"), ("I", "V", "IV", "I")),
                     ("drums", "acoustic bass", "acoustic guitar", "violin")),
    "waltz": Genre(("waltz",), 150, "major", "waltz", (("I", "IV", "V7", "I"),),
                   ("acoustic bass", "piano", "strings"), meter=3),
    "pop": Genre(("pop",), 112, "major", "pop", (("I", "V", "vi", "IV"), ("vi", "IV", "I", "V")),
                 ("drums", "bass", "piano", "synth")),
}  # fmt: skip

MINOR_WORDS = ("minor", "sad", "dark", "melancholic", "melancholy", "somber", "sombre",
               "gloomy", "tragic", "moody", "haunting", "mysterious", "ominous")  # fmt: skip
MAJOR_WORDS = ("major", "happy", "bright", "joyful", "cheerful", "uplifting", "sunny",
               "triumphant", "hopeful")  # fmt: skip
TEMPO_WORDS: dict[str, float] = {
    "very slow": 0.65, "ballad": 0.7, "slow": 0.8, "calm": 0.85, "relaxing": 0.85, "relaxed": 0.85,
    "chill": 0.9, "gentle": 0.88, "laid-back": 0.88, "upbeat": 1.12, "energetic": 1.15,
    "driving": 1.1, "fast": 1.25, "very fast": 1.4, "frantic": 1.4,
}  # fmt: skip


@dataclass
class MusicPlan:
    prompt: str
    genre: str
    mood: str
    tempo: float
    key: str  # tonic name
    mode: str  # major | minor | dorian
    meter: int  # beats per bar
    swing: float
    drum_style: str
    bars: int
    sections: list[tuple[str, int]]  # (name, bars)
    chords: list[str]  # one roman numeral per bar, for the whole piece
    instruments: list[Instrument]
    duration: float
    seed: int
    reasons: list[str] = field(default_factory=list)

    @property
    def bar_seconds(self) -> float:
        return 60.0 / self.tempo * self.meter

    @property
    def tonic(self) -> int:
        return _PITCH[self.key]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["instruments"] = [asdict(i) for i in self.instruments]
        data["sections"] = [list(s) for s in self.sections]
        return data


def _has(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None


def plan_music(prompt: str, duration: float, seed: int = 0) -> MusicPlan:
    text = prompt.lower()
    rng = random.Random(seed)
    reasons: list[str] = []
    genre_name = next((n for n, g in GENRES.items() if any(_has(text, k) for k in g.keywords)),
                      None)  # fmt: skip
    if genre_name is None:
        genre_name = "pop"
        reasons.append("no genre word: pop")
    else:
        word = next(k for k in GENRES[genre_name].keywords if _has(text, k))
        reasons.append(f"'{word}' → genre {genre_name}")
    genre = GENRES[genre_name]

    bpm = re.search(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)", text)
    if bpm:
        tempo = min(240.0, max(40.0, float(bpm.group(1))))
        reasons.append(f"'{bpm.group(0)}' → tempo {tempo:g}")
    else:
        tempo = genre.tempo
        for word in sorted(TEMPO_WORDS, key=len, reverse=True):
            if _has(text, word):
                tempo *= TEMPO_WORDS[word]
                reasons.append(f"'{word}' → tempo ×{TEMPO_WORDS[word]:g}")
                break
        tempo = float(round(tempo))

    mode, key = genre.mode, rng.choice(genre.keys)
    explicit = re.search(r"\bin ([a-g](?:#|b|sharp|flat)?)(?:\s*(major|minor|maj|min|m))?\b", text)
    if explicit:
        name = explicit.group(1).replace("sharp", "#").replace("flat", "b")
        key = name[0].upper() + name[1:]
        key = NOTE_NAMES[_PITCH[key]]
        if explicit.group(2):
            mode = "minor" if explicit.group(2).startswith("m") and explicit.group(2) != "major" \
                and explicit.group(2) != "maj" else "major"  # fmt: skip
        reasons.append(f"'{explicit.group(0)}' → key {key} {mode}")
    mood = "neutral"
    minor_word = next((w for w in MINOR_WORDS if _has(text, w)), None)
    major_word = next((w for w in MAJOR_WORDS if _has(text, w)), None)
    if minor_word and not (explicit and explicit.group(2)):
        mode, mood = "minor", minor_word
        reasons.append(f"'{minor_word}' → minor")
    elif major_word and not (explicit and explicit.group(2)):
        mode, mood = "major", major_word
        reasons.append(f"'{major_word}' → major")
    progression = list(rng.choice(genre.progressions))
    if mode == "minor" and genre.mode != "minor":
        progression = [_to_minor(c) for c in progression]
    elif mode == "major" and genre.mode in ("minor", "dorian"):
        progression = [_to_major(c) for c in progression]

    instruments = _instruments(text, genre, reasons)
    meter = genre.meter
    bar_seconds = 60.0 / tempo * meter
    bars = max(1, round(duration / bar_seconds))
    sections = _sections(bars)
    chords = [progression[i % len(progression)] for i in range(bars)]
    if bars >= 2:  # end on the tonic
        chords[-1] = "i" if mode == "minor" else "I"
    return MusicPlan(
        prompt=prompt, genre=genre_name, mood=mood, tempo=tempo, key=key, mode=mode,
        meter=meter, swing=genre.swing, drum_style=genre.drums, bars=bars, sections=sections,
        chords=chords, instruments=instruments, duration=duration, seed=seed, reasons=reasons,
    )  # fmt: skip


def _instruments(text: str, genre: Genre, reasons: list[str]) -> list[Instrument]:
    named: list[Instrument] = []
    taken = text
    for word in sorted(INSTRUMENTS, key=len, reverse=True):
        if _has(taken, word):
            inst = INSTRUMENTS[word]
            if all(i.name != inst.name for i in named):
                named.append(inst)
                reasons.append(f"'{word}' → {inst.name} (GM program {inst.program + 1})"
                               if not inst.is_drum else f"'{word}' → drum kit")  # fmt: skip
            taken = re.sub(rf"(?<![a-z]){re.escape(word)}(?![a-z])", " ", taken)
    no_drums = re.search(r"\b(no|without)\s+(drums|percussion|beat)\b", text) is not None
    if no_drums:
        named = [i for i in named if not i.is_drum]
        reasons.append("'no drums' → no drum kit")
    roles = {i.role for i in named}
    for word in genre.instruments:
        inst = INSTRUMENTS[word]
        if inst.is_drum and no_drums:
            continue
        if inst.role not in roles and all(i.name != inst.name for i in named):
            named.append(inst)
            roles.add(inst.role)
    order = {"drums": 0, "bass": 1, "comp": 2, "pad": 3, "lead": 4}
    return sorted(named, key=lambda i: order[i.role])


def _sections(bars: int) -> list[tuple[str, int]]:
    if bars < 6:
        return [("A", bars)]
    intro = 1 if bars < 16 else 2
    outro = 1 if bars < 16 else 2
    body = bars - intro - outro
    a = body // 3 + body % 3
    b = body // 3
    return [("intro", intro), ("A", a), ("B", b), ("A'", body - a - b), ("outro", outro)]


_MINOR = {"I": "i", "IV": "iv", "V": "v", "vi": "VI", "iii": "III", "ii": "ii°", "Imaj7": "i7",
          "IVmaj7": "iv7", "vi7": "VImaj7", "ii7": "iiø7", "iii7": "IIImaj7", "I7": "i7",
          "IV7": "iv7", "V7": "V7"}  # fmt: skip
_MAJOR = {"i": "I", "iv": "IV", "VI": "vi", "III": "iii", "VII": "V", "i7": "Imaj7",
          "IV7": "IV7", "v": "V"}  # fmt: skip


def _to_minor(chord: str) -> str:
    return _MINOR.get(chord, chord)


def _to_major(chord: str) -> str:
    return _MAJOR.get(chord, chord)
