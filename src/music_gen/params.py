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
