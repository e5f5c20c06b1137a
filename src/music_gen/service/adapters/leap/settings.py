"""Leap's settings (``MUSIC_GEN_LEAP_MELODY_MODEL``, the same variable as before)."""

from __future__ import annotations

from ..common import AdapterSettings

__all__ = ["LeapSettings"]


class LeapSettings(AdapterSettings):
    leap_melody_model: str | None = None  # mode "melody" → this checkpoint (else the default)
