"""The checks of a request's scalar fields (prompt, duration, guidance, seed) and their
limits, shared by the request's parts (``music_gen.params``)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidInput

__all__ = [
    "DEFAULT_DURATION",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "check_duration",
    "resolve_seeds",
    "validate_prompt",
]

MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**63 - 1
#: a request's duration when it names none (families may set their own: songs 30 s)
DEFAULT_DURATION = 10.0


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


def check_duration(duration: Any, max_duration: float) -> float:
    """A duration in seconds, > 0 and at most ``max_duration``."""
    d = _number(duration, "duration", "INVALID_DURATION")
    if d <= 0:
        raise InvalidInput(f"duration must be > 0 seconds, got {d}", code="INVALID_DURATION")
    if d > max_duration:
        raise InvalidInput(
            f"duration {d} s is over this model's limit of {max_duration} s",
            code="INVALID_DURATION",
            details={"duration": d, "max_duration": max_duration},
        )
    return d


def _guidance(value: Any) -> float:
    g = _number(value, "guidance_scale", "INVALID_GUIDANCE")
    if g < 0:
        raise InvalidInput(f"guidance_scale must be >= 0, got {g}", code="INVALID_GUIDANCE")
    return g


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
