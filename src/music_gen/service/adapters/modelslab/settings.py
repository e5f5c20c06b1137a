"""ModelsLab's settings (``MUSIC_GEN_SYNC_WAIT_SECONDS``, the same variable as before)."""

from __future__ import annotations

from pydantic import Field

from ..common import AdapterSettings

__all__ = ["ModelsLabSettings"]


class ModelsLabSettings(AdapterSettings):
    sync_wait_seconds: float = Field(default=10.0, ge=0)  # then answer "processing"
