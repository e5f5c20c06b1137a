"""ACE-Step's runner: song requests, one pipeline call at a time on a thread of its own.

A song is one diffusion-pipeline call (all of its audio appears at the last denoising step), so
it cannot join a token-by-token batch. ``SongRunner`` runs one call at a time in a thread, so
whoever drives it (the service's worker) keeps stepping other runners meanwhile; the pipeline's
per-step callback records each request's progress and stops the call between steps when the
request is cancelled.

Batching (on CUDA; on the CPU it measured no faster — docs/benchmarks.md — so it is off there
unless ``batch_on_cpu``): queued text-to-music requests that share every shape-defining
parameter (duration, steps, guidance, BPM, key, time signature, language; no reference audio)
run as one ``generate_batch`` call (up to ``max_batch``), each with its own seed and lyrics, so
each output equals its single run. An out-of-memory error splits the group in halves and queues
them again (seeded, so the audio does not change); a single request out of memory fails with
``OUT_OF_MEMORY``. Edit requests (repaint, cover, extract, lego, complete) run alone.

Streaming requests get the whole song as one final chunk (there is no partial audio to send).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

from ..audio import AudioOutput
from ..errors import GenerationFailed
from ..params import Request, Song
from .base import Cancelled, Progress
from .runner import RunEvent, RunKind, Runner, as_error, model_lock

__all__ = ["SongRunner"]

log = logging.getLogger("music_gen.worker")


class _Songs(Protocol):
    """What the runner uses of ``AceStepFamily``."""

    @property
    def device(self) -> Any: ...

    def run(
        self, request: Request, progress: Progress | None = None, cancelled: Cancelled | None = None
    ) -> list[AudioOutput]: ...
    def edit_request(
        self, request: Request, progress: Progress | None = None, cancelled: Cancelled | None = None
    ) -> AudioOutput: ...


def _one(lyrics: str | tuple[str, ...] | None) -> str:
    """A one-prompt request's lyrics."""
    return (lyrics if isinstance(lyrics, str) else "".join(lyrics or ())) or ""


@dataclass
class _Job:
    job_id: str
    request: Request
    stream: bool
    max_group: int = 1 << 30  # lowered when a group with this job ran out of memory

    @property
    def song(self) -> Song:
        return self.request.song or Song()

    @property
    def batchable(self) -> bool:
        return self.request.edit is None and self.song.reference is None

    def shape(self) -> tuple[Any, ...]:
        """What must be equal for two requests to share one pipeline call: everything but the
        prompt, lyrics and seed (duration, steps, guidance, BPM, key, time signature,
        language, the adapter)."""
        return (self.request.duration, replace(self.song, lyrics=None), self.request.adapter)


@dataclass
class SongRunner(Runner):
    family: _Songs
    capacity: int = 4
    max_batch: int = 4
    batch_on_cpu: bool = False
    queue: deque[_Job] = field(default_factory=deque)
    running: list[_Job] = field(default_factory=list)
    progress_of: dict[str, float] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    _done: list[RunEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def submit(self, job_id: str, request: Request, stream: bool = False) -> None:
        self.queue.append(_Job(job_id, request, stream))
        self.progress_of[job_id] = 0.0

    def active(self) -> int:
        return len(self.progress_of)

    def owns(self, job_id: str) -> bool:
        return job_id in self.progress_of

    def progress(self, job_id: str) -> float | None:
        return self.progress_of.get(job_id)

    def cancel(self, job_id: str) -> bool:
        if not self.owns(job_id):
            return False
        self.cancelled.add(job_id)
        for job in list(self.queue):
            if job.job_id == job_id:
                self.queue.remove(job)
        self.progress_of.pop(job_id, None)
        return True

    def step(self) -> list[RunEvent]:
        """Collect finished requests; start the next call when none runs."""
        if (self._thread is None or not self._thread.is_alive()) and self.queue:
            self.running = self._next_group()
            self._thread = threading.Thread(
                target=self._run, args=(self.running,), name="music-gen-songs", daemon=True
            )
            self._thread.start()
        with self._lock:
            events, self._done = self._done, []
        for event in events:
            if event.kind != RunKind.CHUNK:
                self.progress_of.pop(event.job_id, None)
        return events

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the call
    def _next_group(self) -> list[_Job]:
        first = self.queue.popleft()
        group = [first]
        on_cpu = getattr(self.family.device, "type", "cpu") != "cuda"
        if first.batchable and (self.batch_on_cpu or not on_cpu):
            for job in list(self.queue):
                if len(group) >= min(self.max_batch, first.max_group):
                    break
                if job.batchable and job.shape() == first.shape():
                    self.queue.remove(job)
                    group.append(job)
        return group

    def _run(self, group: list[_Job]) -> None:
        events: list[RunEvent] = []
        try:
            with model_lock(self.family):  # a plan's whole run on the same model ends first
                outputs = self._call(group)
        except torch.OutOfMemoryError:
            if len(group) > 1:
                half = len(group) // 2
                log.warning("song batch of %d out of memory; retrying in halves", len(group))
                for job in group:
                    job.max_group = half
                self.queue.extendleft(reversed(group[half:]))  # run after the first half
                self.queue.extendleft(reversed(group[:half]))
                self.running = []
                return
            oom = GenerationFailed("out of memory with one song at a time", code="OUT_OF_MEMORY")
            events = [RunEvent(group[0].job_id, RunKind.ERROR, error=oom)]
        except Exception as exc:  # they fail (a cancelled one just ends); the runner goes on
            error = as_error(exc)
            events = [RunEvent(job.job_id, RunKind.ERROR, error=error) for job in group
                      if job.job_id not in self.cancelled]  # fmt: skip
        else:
            for job, audio in zip(group, outputs, strict=True):
                if job.job_id in self.cancelled:
                    continue
                if job.stream:
                    events.append(RunEvent(job.job_id, RunKind.CHUNK, audio=audio))
                events.append(RunEvent(job.job_id, RunKind.DONE, audio))
        with self._lock:
            self._done.extend(events)
            self.cancelled.difference_update(job.job_id for job in group)
        self.running = []

    def _call(self, group: list[_Job]) -> list[Any]:
        family, request = self.family, group[0].request
        ids = [job.job_id for job in group]

        def progress(step: int, steps: int) -> None:
            for job_id in ids:
                if job_id in self.progress_of:
                    self.progress_of[job_id] = step / max(1, steps)

        def cancelled() -> bool:
            return all(job_id in self.cancelled for job_id in ids)

        if request.edit is not None:
            return [family.edit_request(request, progress, cancelled)]
        if len(group) > 1:  # one request: every prompt with its own lyrics and seed
            lyrics = tuple(_one(job.song.lyrics) for job in group)
            request = replace(
                request,
                prompts=tuple(job.request.prompt for job in group),
                seed=tuple(job.request.seeds()[0] for job in group),
                song=replace(request.song or Song(), lyrics=lyrics),
            )
        return list(family.run(request, progress, cancelled))
