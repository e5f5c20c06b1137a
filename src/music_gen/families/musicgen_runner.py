"""MusicGen's runner: its continuous batcher, streams beside it.

Requests join the fast engine's ``ContinuousBatcher`` (``engine.batching``) and leave it at step
boundaries; each ``step`` decodes one token for every request in the batch. Streaming requests
run ``generate_stream`` one chunk per step, interleaved with the batch. A CUDA out-of-memory
error halves the batch and restarts its requests (seeded, so their output does not change); at
one request at a time it fails them with ``OUT_OF_MEMORY``. Without a batcher (the
``reference`` engine) requests run whole, one per step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol

import torch

from ..audio import AudioOutput
from ..engine.batching import ContinuousBatcher
from ..engine.runtime import PreparedRequest
from ..errors import GenerationFailed
from ..params import Request
from .runner import RunEvent, RunKind, WholeRunner, as_error

__all__ = ["MusicGenRunner"]

log = logging.getLogger("music_gen.worker")


class _MusicGen(Protocol):
    """What the runner uses of ``MusicGenFamily``."""

    def run(self, request: Request) -> list[AudioOutput]: ...
    def stream_request(self, request: Request) -> Iterator[AudioOutput]: ...
    def edit_request(self, request: Request) -> AudioOutput: ...
    def prepare_request(self, request: Request) -> PreparedRequest: ...
    def batcher(self, max_requests: int = 4) -> Any: ...


class MusicGenRunner(WholeRunner):
    def __init__(self, family: _MusicGen, capacity: int = 4) -> None:
        super().__init__(family, capacity)
        self.musicgen = family
        self.batcher: ContinuousBatcher | None = family.batcher(capacity)
        self.batched: set[str] = set()  # request ids in the batcher
        self.failed: list[RunEvent] = []  # requests that failed before reaching the batcher

    def _queue(self, job_id: str, request: Request) -> None:
        if self.batcher is None:
            super()._queue(job_id, request)
            return
        try:
            prepared = self.musicgen.prepare_request(request)
        except Exception as exc:
            self.failed.append(RunEvent(job_id, RunKind.ERROR, error=as_error(exc)))
            return
        self.batcher.submit(prepared, job_id)
        self.batched.add(job_id)

    def active(self) -> int:
        return super().active() + len(self.batched) + len(self.failed)

    def owns(self, job_id: str) -> bool:
        return (
            super().owns(job_id)
            or job_id in self.batched
            or any(e.job_id == job_id for e in self.failed)
        )

    def step(self) -> list[RunEvent]:
        events, self.failed = self.failed, []
        events += super().step()
        batcher = self.batcher
        if batcher is None or batcher.idle:
            return events
        try:
            finished = batcher.step()
        except torch.OutOfMemoryError:
            events += self._split(batcher)
        except Exception as exc:  # its requests fail, the runner goes on
            error = as_error(exc)
            events += [RunEvent(rid, RunKind.ERROR, error=error) for rid, _ in batcher.drain()]
        else:
            events += [RunEvent(rid, RunKind.DONE, audio) for rid, audio in finished]
        for event in events:
            self.batched.discard(event.job_id)
        return events

    def _split(self, batcher: ContinuousBatcher) -> list[RunEvent]:
        """Out of memory: restart the same requests with half as many decoded at once."""
        requests = batcher.drain()
        if batcher.max_requests == 1:
            error = GenerationFailed(
                "out of memory even with one request at a time", code="OUT_OF_MEMORY"
            )
            return [RunEvent(rid, RunKind.ERROR, error=error) for rid, _ in requests]
        smaller = ContinuousBatcher(batcher.runtime, batcher.max_requests // 2)
        log.warning(
            "out of memory at batch %d; retrying at %d", batcher.max_requests, smaller.max_requests
        )
        for rid, prepared in requests:
            smaller.submit(prepared, rid)
        self.batcher = smaller
        return []

    def progress(self, job_id: str) -> float | None:
        if job_id in self.batched and self.batcher is not None:
            return self.batcher.progress(job_id)
        return super().progress(job_id)

    def cancel(self, job_id: str) -> bool:
        self.failed = [e for e in self.failed if e.job_id != job_id]
        if job_id in self.batched:
            self.batched.discard(job_id)
            if self.batcher is not None:
                self.batcher.cancel(job_id)
            return True
        return super().cancel(job_id)
