"""What happens to a running job, in one vocabulary from the backend to the WebSocket.

A backend reports ``Event``s to the worker (``CHUNK``, ``DONE``, ``ERROR``, and ``RETRY``: the
run was lost with the machine it ran on, a Ray replica, so the worker puts the job back in the
queue with its attempt counted); the worker stores the outcome and tells the job's listener (a
WebSocket, a synchronous adapter call) ``CHUNK`` with the audio, then ``DONE``, ``FAILED`` or
``CANCELLED`` with the stored job. ``Event.worker`` names what ran the job where that is not
this process (a replica); it is recorded with the result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ....audio import AudioOutput
from ....errors import GenerationFailed, MusicGenError

__all__ = ["Event", "JobEvent", "failure"]


class JobEvent(enum.StrEnum):
    CHUNK = "chunk"  # a piece of a streamed job's audio (backend -> worker -> listener)
    DONE = "done"  # backend: the result; listener: the job, stored as succeeded
    ERROR = "error"  # backend -> worker: the job failed (``Event.error`` says why)
    RETRY = "retry"  # backend -> worker: the run was lost (a Ray replica died); run it again
    FAILED = "failed"  # worker -> listener: the job, stored as failed
    CANCELLED = "cancelled"  # worker -> listener: the job was cancelled

    @property
    def final(self) -> bool:
        return self is not JobEvent.CHUNK


@dataclass
class Event:
    job_id: str
    kind: JobEvent
    audio: AudioOutput | None = None
    error: MusicGenError | None = None
    stems: dict[str, AudioOutput] | None = None  # multitrack jobs: every stem beside the mix
    worker: str | None = None  # what ran the job, when not this process (a Ray replica)


def failure(exc: Exception) -> MusicGenError:
    """Any exception as a job error: the library's own, or GENERATION_FAILED naming it."""
    if isinstance(exc, MusicGenError):
        return exc
    return GenerationFailed(f"{type(exc).__name__}: {exc}")
