"""Generation parameters: typed, frozen, defined once with their defaults and limits.

A request is one ``Request``: what every family shares (``prompts``, ``duration``, ``seed``) and
the parts some families take (``Sampling``, ``Conditioning``, ``Song``, ``Edit``; ``Adapter``:
a LoRA adapter of this request alone); where the result goes is an ``Output``. The library's
keyword API (``generate(prompt, duration=..., temperature=...)``) builds one with
``Request.from_keywords``; the service's ``JobSpec`` stores one; a family validates it once
(``families.base.MusicFamily.check_request``).

Every check raises ``InvalidInput`` with a stable code, so the CLI prints one line and the HTTP
service answers 422 with the same code.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

from ..errors import InvalidInput, UnsupportedFeature

__all__ = [
    "EDIT_TASKS",
    "LANGUAGES",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "PARTS",
    "TIME_SIGNATURES",
    "TRACKS",
    "Adapter",
    "Conditioning",
    "Edit",
    "GenerationParams",
    "Output",
    "Request",
    "Sampling",
    "Song",
    "SongParams",
    "check_duration",
    "resolve_seeds",
    "validate_key",
    "validate_prompt",
]

from ._checks import (
    DEFAULT_DURATION,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    _guidance,
    _number,
    check_duration,
    resolve_seeds,
    validate_prompt,
)


# ---------------------------------------------------------------------- the parts of a request
@dataclass(frozen=True)
class Sampling:
    """How an autoregressive model samples its tokens (MusicGen); ``guidance_scale`` is
    classifier-free guidance."""

    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    guidance_scale: float = 3.0

    def checked(self) -> Sampling:
        t = _number(self.temperature, "temperature", "INVALID_TEMPERATURE")
        if t < 0:
            raise InvalidInput(f"temperature must be >= 0, got {t}", code="INVALID_TEMPERATURE")
        k = self.top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise InvalidInput(f"top_k must be an integer >= 0, got {k!r}", code="INVALID_TOP_K")
        p = _number(self.top_p, "top_p", "INVALID_TOP_P")
        if not 0.0 <= p <= 1.0:
            raise InvalidInput(f"top_p must be within [0, 1], got {p}", code="INVALID_TOP_P")
        return Sampling(t, int(k), p, _guidance(self.guidance_scale))


@dataclass(frozen=True)
class Conditioning:
    """Audio an autoregressive model is conditioned on: a tune to follow (its chroma), audio
    to continue (the output starts with it). A path, bytes, an array or an ``AudioOutput``."""

    melody: Any = None
    continuation: Any = None


#: ACE-Step 1.5's vocal languages (ISO 639-1, plus "yue" Cantonese and "unknown")
# fmt: off
LANGUAGES = frozenset({
    "ar", "az", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he",
    "hi", "hr", "ht", "hu", "id", "is", "it", "ja", "ko", "la", "lt", "ms", "ne", "nl", "no",
    "pa", "pl", "pt", "ro", "ru", "sa", "sk", "sr", "sv", "sw", "ta", "te", "th", "tl", "tr",
    "uk", "ur", "vi", "yue", "zh", "unknown",
})
# fmt: on
#: time signatures as songs take them: beats per bar (2/4, 3/4, 4/4, 6/8)
TIME_SIGNATURES = {"2": "2", "2/4": "2", "3": "3", "3/4": "3", "4": "4", "4/4": "4", "6": "6"}
TIME_SIGNATURES["6/8"] = "6"
MAX_LYRICS_CHARS = 10_000

_NOTES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_MODES = {"": "major", "maj": "major", "major": "major", "m": "minor", "min": "minor"}
_MODES["minor"] = "minor"


def validate_key(key: Any) -> str:
    """``"C major"``, ``"f# minor"``, ``"Bbm"``, ``"A min"`` ... -> ``"F# minor"`` form."""
    text = key.strip() if isinstance(key, str) else ""
    head = text[:1].lower()
    rest = text[1:].strip()
    accidental = 0
    if rest[:1] in ("#", "♯"):
        accidental, rest = 1, rest[1:]
    elif rest[:1] in ("b", "♭") and rest[1:].strip().lower() in _MODES:
        accidental, rest = -1, rest[1:]
    mode = _MODES.get(rest.strip().lower())
    if head not in _NOTES or mode is None:
        raise InvalidInput(
            f"key {key!r} is not a key; write it like 'C major', 'F# minor' or 'Bbm'",
            code="INVALID_KEY",
            details={"key": repr(key)},
        )
    return f"{_NAMES[(_NOTES[head] + accidental) % 12]} {mode}"


def _lyrics(lyrics: Any) -> str:
    if lyrics is None:
        return ""
    if not isinstance(lyrics, str):
        raise InvalidInput("lyrics must be a string", code="INVALID_LYRICS")
    if len(lyrics) > MAX_LYRICS_CHARS:
        raise InvalidInput(
            f"lyrics are {len(lyrics)} characters long; the limit is {MAX_LYRICS_CHARS}",
            code="INVALID_LYRICS",
            details={"length": len(lyrics), "max_length": MAX_LYRICS_CHARS},
        )
    return lyrics


def _negative_prompt(text: Any) -> str | None:
    """A negative prompt: a string of at most ``MAX_PROMPT_CHARS`` characters (blank: none)."""
    if text is not None and (not isinstance(text, str) or len(text.strip()) > MAX_PROMPT_CHARS):
        raise InvalidInput(f"negative_prompt must be a string of at most {MAX_PROMPT_CHARS} "
                           "characters", code="INVALID_NEGATIVE_PROMPT")  # fmt: skip
    return (text or "").strip() or None


@dataclass(frozen=True)
class Song:
    """A song with sung lyrics, or a diffusion model's knobs (``None``: the checkpoint's own
    default). ``lyrics``: one text for every prompt, or one per prompt (a batch)."""

    MIN_BPM: ClassVar[int] = 30
    MAX_BPM: ClassVar[int] = 300
    MAX_STEPS: ClassVar[int] = 200

    #: the language sung where the request names none
    LANGUAGE: ClassVar[str] = "en"

    lyrics: str | tuple[str, ...] | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    bpm: float | None = None
    key: str | None = None
    time_signature: str | None = None
    vocal_language: str | None = None
    reference: Any = None
    negative_prompt: str | None = None  # what to steer away from (guidance's unconditional text)

    def checked(self) -> Song:
        if self.lyrics is None or isinstance(self.lyrics, str):
            lyrics: str | tuple[str, ...] = _lyrics(self.lyrics)
        else:
            lyrics = tuple(_lyrics(x) for x in self.lyrics)
        steps = self.steps
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, int)
            or not 1 <= steps <= self.MAX_STEPS
        ):  # fmt: skip
            raise InvalidInput(
                f"steps must be an integer in 1..{self.MAX_STEPS}, got {steps!r}",
                code="INVALID_STEPS",
            )
        g = None if self.guidance_scale is None else _guidance(self.guidance_scale)
        b = None
        if self.bpm is not None:
            value = _number(self.bpm, "bpm", "INVALID_BPM")
            if not self.MIN_BPM <= value <= self.MAX_BPM or value != int(value):
                raise InvalidInput(
                    f"bpm must be a whole number in {self.MIN_BPM}..{self.MAX_BPM}, "
                    f"got {self.bpm!r}",
                    code="INVALID_BPM",
                    details={"bpm": repr(self.bpm), "min": self.MIN_BPM, "max": self.MAX_BPM},
                )
            b = int(value)
        ts = None
        if self.time_signature is not None:
            ts = TIME_SIGNATURES.get(str(self.time_signature).strip())
            if ts is None:
                raise InvalidInput(
                    f"time_signature {self.time_signature!r} is not one of 2/4, 3/4, 4/4, 6/8",
                    code="INVALID_TIME_SIGNATURE",
                    details={"allowed": sorted(set(TIME_SIGNATURES))},
                )
        # None stays None: the language a song is sung in by default is its family's to fill
        # (a family without the language capability must not find one in a stored job)
        lang = self.vocal_language
        known = isinstance(lang, str) and lang.strip().lower() in LANGUAGES
        if lang is not None and not known:
            raise InvalidInput(
                f"vocal_language {self.vocal_language!r} is not one the model sings; use one of "
                f"{', '.join(sorted(LANGUAGES))}",
                code="INVALID_LANGUAGE",
                details={"vocal_language": repr(self.vocal_language)},
            )
        key = None if self.key is None else validate_key(self.key)
        lang = None if lang is None else str(lang).strip().lower()
        negative = _negative_prompt(self.negative_prompt)
        return Song(lyrics, steps, g, b, key, ts, lang, self.reference, negative)

    def per_prompt(self, count: int) -> list[Song]:
        """One ``Song`` per prompt (each with its own lyrics)."""
        if self.lyrics is None or isinstance(self.lyrics, str):
            return [self] * count
        if len(self.lyrics) != count:
            raise InvalidInput(
                f"{len(self.lyrics)} lyrics given for {count} prompts", code="INVALID_LYRICS"
            )
        return [replace(self, lyrics=x) for x in self.lyrics]


#: what a song edit does to its source
EDIT_TASKS = ("repaint", "cover", "extract", "lego", "complete")
#: the track names of song stems (extract, lego, complete)
TRACKS = (
    "vocals", "backing_vocals", "drums", "bass", "guitar", "keyboard", "percussion", "strings",
    "synth", "fx", "brass", "woodwinds",
)  # fmt: skip


def check_track(name: Any) -> str:
    if not isinstance(name, str) or name.strip().lower() not in TRACKS:
        raise InvalidInput(
            f"unknown track {name!r}; choose one of {', '.join(TRACKS)}",
            code="INVALID_TRACK",
            details={"tracks": list(TRACKS)},
        )
    return name.strip().lower()


@dataclass(frozen=True)
class Edit:
    """An edit of a source song: ``task`` over ``start..end`` seconds (``end`` None or < 0:
    to the end), ``strength`` (cover), ``track`` (extract, lego), ``tracks`` (complete)."""

    DEFAULT_TRACKS: ClassVar[tuple[str, ...]] = ("drums", "bass")
    #: a cover's strength where the request names none (follows the source most closely)
    STRENGTH: ClassVar[float] = 1.0

    task: str
    source: Any = None
    start: float | None = None
    end: float | None = None
    strength: float | None = None
    track: str | None = None
    tracks: tuple[str, ...] | None = None

    def checked(self) -> Edit:
        """The task, strength and track names (the range needs the source's length:
        ``span``)."""
        if self.task not in EDIT_TASKS:
            raise InvalidInput(
                f"unknown edit task {self.task!r}; choose one of {', '.join(EDIT_TASKS)}",
                code="INVALID_TASK",
                details={"task": self.task, "tasks": list(EDIT_TASKS)},
            )
        s = self.STRENGTH if self.strength is None else self.strength
        if self.task == "cover" and (
            isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s <= 1.0
        ):
            raise InvalidInput("strength must be within [0, 1]", code="INVALID_STRENGTH")
        track = check_track(self.track) if self.task in ("extract", "lego") else self.track
        tracks = self.tracks
        if self.task == "complete":
            tracks = tuple(check_track(t) for t in (self.tracks or self.DEFAULT_TRACKS))
        return replace(self, track=track, tracks=tracks)

    def span(self, length: float) -> tuple[float, float]:
        """``start..end`` within a source of ``length`` seconds."""
        lo = 0.0 if self.start is None else float(self.start)
        hi = length if self.end is None or self.end < 0 else float(self.end)
        if not 0.0 <= lo < hi <= length + 1e-6:
            raise InvalidInput(
                f"the range {lo:g}..{hi:g} s must lie within the source's 0..{length:g} s",
                code="INVALID_RANGE",
                details={"start": lo, "end": hi, "source_seconds": length},
            )
        return lo, min(hi, length)


@dataclass(frozen=True)
class Output:
    """Where the audio goes: its file format and sample rate (``None``: the model's)."""

    FORMATS: ClassVar[tuple[str, ...]] = ("wav", "mp3", "flac", "ogg")
    MIN_RATE: ClassVar[int] = 8000
    MAX_RATE: ClassVar[int] = 192000

    format: str = "wav"
    sample_rate: int | None = None

    def checked(self) -> Output:
        if self.format not in self.FORMATS:
            raise InvalidInput(f"unknown format {self.format!r}", code="INVALID_FORMAT")
        rate = self.sample_rate
        if rate is not None and not self.MIN_RATE <= rate <= self.MAX_RATE:
            raise InvalidInput(
                f"sample_rate must be within {self.MIN_RATE}..{self.MAX_RATE} Hz",
                code="INVALID_SAMPLE_RATE",
                details={"sample_rate": rate},
            )
        return self


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter for this request only (families with the ``adapter`` capability; the
    model stays as loaded for every other request): ``name`` an adapter folder (or a name in
    ``families.adapters.adapters_dir``; the service resolves its own names to folders before a
    family sees them) and ``scale`` its strength, ``0 < scale <= MAX_SCALE`` (1: as trained)."""

    MAX_SCALE: ClassVar[float] = 2.0

    name: str
    scale: float = 1.0

    def checked(self) -> Adapter:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("adapter must name an adapter", code="INVALID_ADAPTER")
        s = _number(self.scale, "adapter_scale", "INVALID_ADAPTER_SCALE")
        if not 0.0 < s <= self.MAX_SCALE:
            raise InvalidInput(
                f"adapter_scale must be within (0, {self.MAX_SCALE:g}], got {s:g}",
                code="INVALID_ADAPTER_SCALE",
                details={"adapter_scale": s, "max": self.MAX_SCALE},
            )
        return replace(self, scale=s)


#: the optional parts of a request, by the name ``Request`` holds them under
PARTS: dict[str, type] = {
    "sampling": Sampling,
    "conditioning": Conditioning,
    "song": Song,
    "edit": Edit,
}
#: keyword -> the parts that have a field of that name
_FIELDS: dict[str, list[str]] = {}
for _part, _cls in PARTS.items():
    for _f in fields(_cls):
        _FIELDS.setdefault(_f.name, []).append(_part)


@dataclass(frozen=True)
class Request:
    """One generation request: prompts (one output each), duration (``None``: the family's
    default), seed (one for all, one per prompt, or ``None``: drawn), and the parts the family
    takes."""

    prompts: tuple[str, ...]
    duration: float | None = None
    seed: int | tuple[int, ...] | None = None
    sampling: Sampling | None = None
    conditioning: Conditioning | None = None
    song: Song | None = None
    edit: Edit | None = None
    adapter: Adapter | None = None  # a LoRA adapter of this request alone (not a keyword part)

    @property
    def prompt(self) -> str:
        return self.prompts[0]

    @classmethod
    def from_keywords(
        cls, prompts: Sequence[str], parts: Collection[str], family: str = "this", **kwargs: Any
    ) -> Request:
        """The request that ``generate(prompts, **kwargs)`` asks of a family taking ``parts``:
        a keyword goes to every taken part with a field of its name; one that only other
        families take is ``UnsupportedFeature``, one that none takes a ``TypeError``."""
        if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
            raise InvalidInput("prompts must be a non-empty list of strings", code="INVALID_PROMPT")
        top = {k: kwargs.pop(k) for k in ("duration", "seed") if k in kwargs}
        seed = top.get("seed")
        if isinstance(seed, Sequence) and not isinstance(seed, str | bytes):
            top["seed"] = tuple(seed)
        values: dict[str, dict[str, Any]] = {p: {} for p in parts if p != "edit"}
        for name, value in kwargs.items():
            owners = _FIELDS.get(name)
            if owners is None or name == "task":
                raise TypeError(f"generate() got an unexpected keyword argument {name!r}")
            taken = [p for p in owners if p in values]
            if not taken:
                raise UnsupportedFeature(
                    f"{name} does not apply to {family} models",
                    details={"option": name, "family": family},
                )
            for p in taken:
                values[p][name] = value
        song = values.get("song")
        if song is not None and isinstance(song.get("lyrics"), list):
            song["lyrics"] = tuple(song["lyrics"])
        built: dict[str, Any] = {}
        for part, given in values.items():
            if part == "conditioning" and not any(v is not None for v in given.values()):
                continue  # no audio to condition on
            given = {k: v for k, v in given.items() if v is not None or part != "sampling"}
            built[part] = PARTS[part](**given)
        return cls(tuple(prompts), **top, **built)

    def checked(self, max_duration: float, default_duration: float = DEFAULT_DURATION) -> Request:
        """Every part checked: prompts, duration (``max_duration`` the model's limit), seeds."""
        if self.edit is not None:  # an edit may have no prompt, and lasts as long as its source
            texts = tuple(validate_prompt(p) if (p or "").strip() else "" for p in self.prompts)
        else:
            texts = tuple(validate_prompt(p) for p in self.prompts)
        duration = default_duration if self.duration is None else self.duration
        d = (
            None
            if self.edit is not None and self.duration is None
            else (check_duration(duration, max_duration))
        )
        seed = tuple(resolve_seeds(self.seed, len(texts)))  # drawn here where none is given
        song = None if self.song is None else self.song.checked()
        if song is not None:
            song.per_prompt(len(texts))  # one lyrics text for all, or one per prompt
        return replace(
            self,
            prompts=texts,
            duration=d,
            seed=seed,
            sampling=None if self.sampling is None else self.sampling.checked(),
            song=song,
            edit=None if self.edit is None else self.edit.checked(),
            adapter=None if self.adapter is None else self.adapter.checked(),
        )

    def seeds(self) -> list[int]:
        """One seed per prompt (drawn where none was given)."""
        return resolve_seeds(self.seed, len(self.prompts))

    def features(self) -> dict[str, Any]:
        """The values given, by keyword (what ``families.require`` checks capabilities of)."""
        out: dict[str, Any] = {}
        for part in (self.conditioning, self.song):
            if part is not None:
                out.update({f.name: getattr(part, f.name) for f in fields(part)})
        return out


# ---------------------------------------------------------------------- the older flat forms
@dataclass(frozen=True)
class GenerationParams:
    """A sampled generation's duration and ``Sampling``, validated (what the engine runs)."""

    duration: float = DEFAULT_DURATION
    temperature: float = Sampling.temperature
    top_k: int = Sampling.top_k
    top_p: float = Sampling.top_p
    guidance_scale: float = Sampling.guidance_scale

    @classmethod
    def of(cls, duration: float, sampling: Sampling) -> GenerationParams:
        return cls(duration, **asdict(sampling))

    @classmethod
    def validate(
        cls,
        *,
        duration: Any = DEFAULT_DURATION,
        temperature: Any = Sampling.temperature,
        top_k: Any = Sampling.top_k,
        top_p: Any = Sampling.top_p,
        guidance_scale: Any = Sampling.guidance_scale,
        max_duration: float,
    ) -> GenerationParams:
        d = check_duration(duration, max_duration)
        return cls.of(d, Sampling(temperature, top_k, top_p, guidance_scale).checked())

    def sampling(self) -> Sampling:
        return Sampling(self.temperature, self.top_k, self.top_p, self.guidance_scale)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SongParams:
    """A song's duration and ``Song`` part (one lyrics text), validated, as one flat record."""

    duration: float
    lyrics: str = ""
    steps: int | None = None
    guidance_scale: float | None = None
    bpm: int | None = None
    key: str | None = None
    time_signature: str | None = None
    vocal_language: str = Song.LANGUAGE

    @classmethod
    def of(cls, duration: float, song: Song) -> SongParams:
        lyrics = song.lyrics if isinstance(song.lyrics, str) else ""
        return cls(
            duration, lyrics, song.steps, song.guidance_scale,
            None if song.bpm is None else int(song.bpm), song.key, song.time_signature,
            song.vocal_language or Song.LANGUAGE,
        )  # fmt: skip

    @classmethod
    def validate(
        cls,
        *,
        duration: Any,
        max_duration: float,
        lyrics: Any = None,
        steps: Any = None,
        guidance_scale: Any = None,
        bpm: Any = None,
        key: Any = None,
        time_signature: Any = None,
        vocal_language: Any = Song.LANGUAGE,
    ) -> SongParams:
        d = check_duration(duration, max_duration)
        if lyrics is not None and not isinstance(lyrics, str):
            raise InvalidInput("lyrics must be a string", code="INVALID_LYRICS")
        song = Song(lyrics, steps, guidance_scale, bpm, key, time_signature, vocal_language)
        return cls.of(d, song.checked())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
