"""What a backend reports to the worker: one ``Event`` per chunk, result or failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...audio import AudioOutput
from ...errors import GenerationFailed, MusicGenError

__all__ = ["Event", "failure"]


@dataclass
class Event:
    job_id: str
    kind: Literal["chunk", "done", "error"]
    audio: AudioOutput | None = None
    error: MusicGenError | None = None
    stems: dict[str, AudioOutput] | None = None  # multitrack jobs: every stem beside the mix


def failure(exc: Exception) -> MusicGenError:
    """Any exception as a job error: the library's own, or GENERATION_FAILED naming it."""
    if isinstance(exc, MusicGenError):
        return exc
    return GenerationFailed(f"{type(exc).__name__}: {exc}")
