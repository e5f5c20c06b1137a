"""Checks every kind of request shares at the intake (``core.submit``, ``core.edits``): the
model resolved, its duration limit on this server, text that can be stored, the prompt's
length, what a job is delivered as and to."""

from __future__ import annotations

from typing import Any

from ...audio.output import _MP3_SAMPLE_RATES, AUDIO_FORMATS
from ...errors import InvalidInput
from .infra.urlguard import check_public_url
from .state import ServiceState

__all__ = ["check_output", "check_storable", "checked_prompt", "max_duration", "resolve_model"]


def resolve_model(state: ServiceState, requested: str | None) -> str:
    return state.catalog.resolve(requested)


def max_duration(state: ServiceState, model: str) -> float:
    """The longest job this server runs on ``model``: the server's limit, or the model's own
    where that is lower (one limit, the same one the loaded model is given)."""
    return min(state.settings.max_duration, state.catalog.card(model).max_duration)


def checked_prompt(state: ServiceState, prompt: str) -> str:
    """``prompt`` within this server's length limit (the family checks the rest)."""
    prompt = prompt.strip()
    limit = state.settings.max_prompt_chars
    if len(prompt) > limit:
        raise InvalidInput(
            f"prompt is {len(prompt)} characters long; this server allows {limit}",
            code="INVALID_PROMPT",
            details={"length": len(prompt), "max_length": limit},
        )
    return prompt


def check_output(
    state: ServiceState, fmt: str, sample_rate: int | None, webhook_url: str | None
) -> None:
    """What every job is delivered as (format, sample rate) and to (its webhook URL)."""
    if fmt not in AUDIO_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}", code="INVALID_FORMAT")
    if sample_rate is not None and not 8000 <= sample_rate <= 192000:
        raise InvalidInput(
            "sample_rate must be within 8000..192000 Hz",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": sample_rate},
        )
    if fmt == "mp3" and sample_rate not in (None, *_MP3_SAMPLE_RATES):
        raise InvalidInput(
            f"mp3 cannot encode {sample_rate} Hz; choose one of {_MP3_SAMPLE_RATES}",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": sample_rate},
        )
    if webhook_url is not None:
        s = state.settings
        check_public_url(
            webhook_url, s.allow_private_urls, s.allow_loopback_urls, what="webhook url"
        )


def check_storable(value: Any, field: str | None = None) -> None:
    """Every text in ``value`` (a request's fields, an adapter's options; keys too) can be
    stored and sent back as JSON: no lone surrogates, no NUL. The error names the top-level
    field only (the bad text itself cannot be repeated)."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = field or str(key).encode("utf-8", "replace").decode()
            check_storable(key, where)
            check_storable(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable(item, field)
    elif isinstance(value, str):
        name = field or "text"
        code = "INVALID_PROMPT" if name == "prompt" else "INVALID_INPUT"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                f"{name} is not valid Unicode text (it holds a lone surrogate)",
                code=code,
                details={"field": name, "position": exc.start},
            ) from exc
        if "\x00" in value:
            raise InvalidInput(f"{name} must not contain NUL characters", code=code,
                               details={"field": name})  # fmt: skip
