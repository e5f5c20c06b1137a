"""Generation parameters: their defaults, limits and validation, shared by library, CLI and service.

Every check raises ``InvalidInput`` with a stable code, so the CLI prints one line and the HTTP
service answers 422 with the same code.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .errors import InvalidInput

__all__ = [
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "GenerationParams",
    "resolve_seeds",
    "validate_prompt",
]

MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**63 - 1


def _number(value: Any, name: str, code: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(
            f"{name} must be a number, got {value!r}", code=code, details={name: repr(value)}
        )
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be finite, got {value!r}", code=code)
    return float(value)


def validate_prompt(prompt: Any) -> str:
    """A non-empty prompt of at most ``MAX_PROMPT_CHARS`` characters, whitespace-trimmed."""
    if not isinstance(prompt, str):
        raise InvalidInput(
            f"prompt must be a string, got {type(prompt).__name__}", code="INVALID_PROMPT"
        )
    text = prompt.strip()
    if not text:
        raise InvalidInput("Prompt cannot be empty", code="INVALID_PROMPT")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"prompt is {len(text)} characters long; the limit is {MAX_PROMPT_CHARS}",
            code="INVALID_PROMPT",
            details={"length": len(text), "max_length": MAX_PROMPT_CHARS},
        )
    return text


@dataclass(frozen=True)
class GenerationParams:
    """Validated sampling and length parameters of one generation call."""

    duration: float = 10.0
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    guidance_scale: float = 3.0

    @classmethod
    def validate(
        cls,
        *,
        duration: Any = 10.0,
        temperature: Any = 1.0,
        top_k: Any = 250,
        top_p: Any = 0.0,
        guidance_scale: Any = 3.0,
        max_duration: float,
    ) -> GenerationParams:
        d = _number(duration, "duration", "INVALID_DURATION")
        if d <= 0:
            raise InvalidInput(f"duration must be > 0 seconds, got {d}", code="INVALID_DURATION")
        if d > max_duration:
            raise InvalidInput(
                f"duration {d} s is over this model's limit of {max_duration} s",
                code="INVALID_DURATION",
                details={"duration": d, "max_duration": max_duration},
            )
        t = _number(temperature, "temperature", "INVALID_TEMPERATURE")
        if t < 0:
            raise InvalidInput(f"temperature must be >= 0, got {t}", code="INVALID_TEMPERATURE")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise InvalidInput(
                f"top_k must be an integer >= 0, got {top_k!r}", code="INVALID_TOP_K"
            )
        p = _number(top_p, "top_p", "INVALID_TOP_P")
        if not 0.0 <= p <= 1.0:
            raise InvalidInput(f"top_p must be within [0, 1], got {p}", code="INVALID_TOP_P")
        g = _number(guidance_scale, "guidance_scale", "INVALID_GUIDANCE")
        if g < 0:
            raise InvalidInput(f"guidance_scale must be >= 0, got {g}", code="INVALID_GUIDANCE")
        return cls(d, t, int(top_k), p, g)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInput(
            f"seed must be an integer in [0, 2**63 - 1], got {seed!r}", code="INVALID_SEED"
        )
    return seed


def resolve_seeds(seed: int | Sequence[int] | None, count: int) -> list[int]:
    """One seed per output: an int is used for every output (the output of a prompt and a seed
    does not depend on its batch), a sequence gives one each, ``None`` draws fresh ones."""
    if seed is None:
        return [secrets.randbelow(2**31) for _ in range(count)]
    if isinstance(seed, Sequence) and not isinstance(seed, str | bytes):
        seeds = [_check_seed(s) for s in seed]
        if len(seeds) != count:
            raise InvalidInput(f"{len(seeds)} seeds given for {count} prompts", code="INVALID_SEED")
        return seeds
    return [_check_seed(seed)] * count


# ---------------------------------------------------------------------- songs (sung lyrics)

#: ACE-Step 1.5's vocal languages (ISO 639-1, plus "yue" Cantonese and "unknown")
# fmt: off
LANGUAGES = frozenset({
    "ar", "az", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he",
    "hi", "hr", "ht", "hu", "id", "is", "it", "ja", "ko", "la", "lt", "ms", "ne", "nl", "no",
    "pa", "pl", "pt", "ro", "ru", "sa", "sk", "sr", "sv", "sw", "ta", "te", "th", "tl", "tr",
    "uk", "ur", "vi", "yue", "zh", "unknown",
})
# fmt: on
#: time signatures as ACE-Step takes them: beats per bar (2/4, 3/4, 4/4, 6/8)
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


@dataclass(frozen=True)
class SongParams:
    """Validated parameters of a song (sung lyrics) generation."""

    duration: float
    lyrics: str = ""
    steps: int | None = None
    guidance_scale: float | None = None
    bpm: int | None = None
    key: str | None = None
    time_signature: str | None = None
    vocal_language: str = "en"

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
        vocal_language: Any = "en",
    ) -> SongParams:
        d = GenerationParams.validate(duration=duration, max_duration=max_duration).duration
        if lyrics is None:
            lyrics = ""
        if not isinstance(lyrics, str):
            raise InvalidInput("lyrics must be a string", code="INVALID_LYRICS")
        if len(lyrics) > MAX_LYRICS_CHARS:
            raise InvalidInput(
                f"lyrics are {len(lyrics)} characters long; the limit is {MAX_LYRICS_CHARS}",
                code="INVALID_LYRICS",
                details={"length": len(lyrics), "max_length": MAX_LYRICS_CHARS},
            )
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 200
        ):
            raise InvalidInput(
                f"steps must be an integer in 1..200, got {steps!r}", code="INVALID_STEPS"
            )
        g = None
        if guidance_scale is not None:
            g = _number(guidance_scale, "guidance_scale", "INVALID_GUIDANCE")
            if g < 0:
                raise InvalidInput(f"guidance_scale must be >= 0, got {g}", code="INVALID_GUIDANCE")
        b = None
        if bpm is not None:
            value = _number(bpm, "bpm", "INVALID_BPM")
            if not 30 <= value <= 300 or value != int(value):
                raise InvalidInput(
                    f"bpm must be a whole number in 30..300, got {bpm!r}",
                    code="INVALID_BPM",
                    details={"bpm": repr(bpm), "min": 30, "max": 300},
                )
            b = int(value)
        ts = None
        if time_signature is not None:
            ts = TIME_SIGNATURES.get(str(time_signature).strip())
            if ts is None:
                raise InvalidInput(
                    f"time_signature {time_signature!r} is not one of 2/4, 3/4, 4/4, 6/8",
                    code="INVALID_TIME_SIGNATURE",
                    details={"allowed": sorted(set(TIME_SIGNATURES))},
                )
        lang = vocal_language if vocal_language is not None else "en"
        if not isinstance(lang, str) or lang.strip().lower() not in LANGUAGES:
            raise InvalidInput(
                f"vocal_language {vocal_language!r} is not one the model sings; use one of "
                f"{', '.join(sorted(LANGUAGES))}",
                code="INVALID_LANGUAGE",
                details={"vocal_language": repr(vocal_language)},
            )
        return cls(
            d, lyrics, steps, g, b, None if key is None else validate_key(key), ts,
            lang.strip().lower(),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
