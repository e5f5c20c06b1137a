"""What a backend reports to the worker: one ``Event`` per chunk, result or failure.

``retry``: the job's run was lost with the machine it ran on (a Ray replica died); the worker
puts the job back in the queue (its attempt counted). ``worker`` names what ran the job, where
it is not this process (a replica); it is recorded with the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...audio import AudioOutput
from ...errors import GenerationFailed, MusicGenError

__all__ = ["Event", "failure"]


@dataclass
class Event:
    job_id: str
    kind: Literal["chunk", "done", "error", "retry"]
    audio: AudioOutput | None = None
    error: MusicGenError | None = None
    stems: dict[str, AudioOutput] | None = None  # multitrack jobs: every stem beside the mix
    worker: str | None = None  # what ran the job, when not this process (a Ray replica)


def failure(exc: Exception) -> MusicGenError:
    """Any exception as a job error: the library's own, or GENERATION_FAILED naming it."""
    if isinstance(exc, MusicGenError):
        return exc
    return GenerationFailed(f"{type(exc).__name__}: {exc}")
