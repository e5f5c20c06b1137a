"""Segmind's settings (``MUSIC_GEN_KEY_CREDITS`` …, the same variables as before the split)."""

from __future__ import annotations

from pydantic import Field

from ..common import AdapterSettings

__all__ = ["SegmindSettings"]


class SegmindSettings(AdapterSettings):
    key_credits: float | None = Field(default=None, ge=0)  # each key's balance (None: unlimited)
    credits_per_second: float = Field(default=1.0, ge=0)  # … spent per generated second
    sync_timeout_seconds: float = Field(default=600.0, gt=0)  # v1 (blocking) requests give up
