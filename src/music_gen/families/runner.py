"""How a family runs many requests at once: the ``Runner`` every family gives its caller.

A server (the service's worker, a Ray replica) holds many requests of one model at a time. It
does not know how a family runs them: it asks the family for a runner (``family.runner``) and
drives every runner the same way — ``submit`` requests, call ``step`` (each call does a bounded
piece of work: one token of a batch, one chunk of a stream, one whole request, or collecting
what a background call finished) and collect ``RunEvent``s, ask ``progress``, ``cancel``.

Each runner has its own ``capacity`` (how many requests it holds, queued or running); a server
gives a runner at most ``free()`` new requests, so a full runner never holds up requests for
another (a song filling its runner does not stop MusicGen jobs).

- ``WholeRunner``: one request whole per step; streaming requests chunk by chunk
  (``ChunkStreams``), interleaved. The composer's runner, and the base of MusicGen's.
- ``BackgroundRunner``: whole requests one at a time on a thread of its own, with the progress
  (and its detail: a plan's section i of n and step) each run reports (``reporter``); a
  server's plans, extends and section replacements. Its run holds ``model_lock(family)`` (as
  ACE-Step's song calls do), and its driver steps none of the model's other runners meanwhile.
- ``families.musicgen_runner.MusicGenRunner``: MusicGen's continuous batcher.
- ``families.acestep_runner.SongRunner``: ACE-Step songs, one pipeline call at a time on a
  thread of its own.

Requests are typed ``params.Request``s already validated for the model (``check_request``: the
service validates every job once at the door); runners hand them to the family's paths for
validated requests (``run``, ``stream_request``, ``edit_request``, MusicGen's
``prepare_request``).
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..audio import AudioOutput
from ..errors import GenerationFailed, MusicGenError
from ..params import Request

__all__ = [
    "BackgroundRunner",
    "ChunkStreams",
    "RunEvent",
    "RunKind",
    "Runner",
    "Whole",
    "WholeRunner",
    "as_error",
    "model_lock",
]


class RunKind(enum.StrEnum):
    CHUNK = "chunk"  # a piece of a streaming request's audio
    DONE = "done"  # the whole result
    ERROR = "error"  # the request failed (``RunEvent.error`` says why)


@dataclass
class RunEvent:
    job_id: str
    kind: RunKind
    audio: AudioOutput | None = None
    error: MusicGenError | None = None
    stems: dict[str, AudioOutput] | None = None  # separate parts beside the mix, where made


def as_error(exc: BaseException) -> MusicGenError:
    """Any exception as a request's error: the library's own, or GENERATION_FAILED naming it."""
    if isinstance(exc, MusicGenError):
        return exc
    return GenerationFailed(f"{type(exc).__name__}: {exc}")


class Runner(ABC):
    """Runs the requests of one loaded model. Not thread-safe: one thread drives it."""

    capacity: int

    @abstractmethod
    def submit(self, job_id: str, request: Request, stream: bool = False) -> None:
        """Take a validated one-prompt request (``stream``: its audio in chunks while it is
        made); errors in it surface as an ``ERROR`` event of a later step."""

    @abstractmethod
    def step(self) -> list[RunEvent]:
        """A bounded piece of work; the events of requests that moved or ended."""

    @abstractmethod
    def active(self) -> int:
        """Requests held, queued or running."""

    @abstractmethod
    def owns(self, job_id: str) -> bool: ...

    @abstractmethod
    def progress(self, job_id: str) -> float | None:
        """Fraction done (None: not held here)."""

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Drop the request (no event follows for it); False if not held here."""

    def free(self) -> int:
        """How many more requests it takes now."""
        return max(0, self.capacity - self.active())


class ChunkStreams:
    """Streaming requests: one iterator each, advanced one chunk per ``step``; the last chunk
    (``metadata["final"]``) is followed by the whole audio."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[Iterator[AudioOutput], list[AudioOutput], float]] = {}

    def add(self, job_id: str, chunks: Iterator[AudioOutput], duration: float) -> None:
        self.running[job_id] = (chunks, [], duration)

    def step(self) -> list[RunEvent]:
        events: list[RunEvent] = []
        for job_id, (chunks, seen, _) in list(self.running.items()):
            try:
                chunk = next(chunks)
            except Exception as exc:  # the request fails, the others go on
                del self.running[job_id]
                events.append(RunEvent(job_id, RunKind.ERROR, error=as_error(exc)))
                continue
            seen.append(chunk)
            events.append(RunEvent(job_id, RunKind.CHUNK, audio=chunk))
            if chunk.metadata.get("final"):
                del self.running[job_id]
                whole = np.concatenate([c.samples for c in seen], axis=-1)
                meta = {k: v for k, v in chunk.metadata.items() if k != "chunk_index"}
                meta.update(start_s=0.0, chunks=len(seen))
                audio = AudioOutput(whole, chunk.sample_rate, meta, chunk.midi)
                events.append(RunEvent(job_id, RunKind.DONE, audio))
        return events

    def progress(self, job_id: str) -> float | None:
        if job_id not in self.running:
            return None
        _, seen, duration = self.running[job_id]
        done = sum(c.duration for c in seen)
        return min(1.0, done / max(duration, 1e-9))

    def cancel(self, job_id: str) -> bool:
        return self.running.pop(job_id, None) is not None

    def __len__(self) -> int:
        return len(self.running)


class _Runs(Protocol):
    """What a whole runner uses of a family (``MusicFamily``'s paths for validated requests)."""

    def run(self, request: Request) -> list[AudioOutput]: ...
    def stream_request(self, request: Request) -> Iterator[AudioOutput]: ...
    def edit_request(self, request: Request) -> AudioOutput: ...


#: a whole run: (job id, request) -> the audio, and its stems where it has them
Whole = Callable[[str, Request], tuple[AudioOutput, dict[str, AudioOutput] | None]]


class WholeRunner(Runner):
    """Each request run whole, one per ``step`` (first come, first served); streaming requests
    advance one chunk per step beside them.

    ``family``'s ``run`` / ``edit_request`` / ``stream_request`` run the requests, or ``whole``
    (a call that makes a request's audio and stems, such as a multitrack mix) where given."""

    def __init__(self, family: _Runs, capacity: int = 4, whole: Whole | None = None) -> None:
        self.family = family
        self.capacity = capacity
        self.whole: Whole = whole or self._generate
        self.queue: dict[str, Request] = {}
        self.streams = ChunkStreams()

    def _generate(
        self, job_id: str, request: Request
    ) -> tuple[AudioOutput, dict[str, AudioOutput] | None]:
        if request.edit is not None:
            return self.family.edit_request(request), None
        [audio] = self.family.run(request)
        return audio, None

    def submit(self, job_id: str, request: Request, stream: bool = False) -> None:
        if stream:
            duration = request.duration or 0.0
            self.streams.add(job_id, self.family.stream_request(request), duration)
        else:
            self._queue(job_id, request)

    def _queue(self, job_id: str, request: Request) -> None:
        self.queue[job_id] = request

    def active(self) -> int:
        return len(self.queue) + len(self.streams)

    def owns(self, job_id: str) -> bool:
        return job_id in self.queue or job_id in self.streams.running

    def step(self) -> list[RunEvent]:
        events = self.streams.step()
        if self.queue:
            job_id, request = next(iter(self.queue.items()))
            del self.queue[job_id]
            try:
                audio, stems = self.whole(job_id, request)
            except Exception as exc:  # the request fails, the others go on
                events.append(RunEvent(job_id, RunKind.ERROR, error=as_error(exc)))
            else:
                events.append(RunEvent(job_id, RunKind.DONE, audio, stems=stems))
        return events

    def progress(self, job_id: str) -> float | None:
        if job_id in self.queue:
            return 0.0
        return self.streams.progress(job_id)

    def cancel(self, job_id: str) -> bool:
        return self.streams.cancel(job_id) or self.queue.pop(job_id, None) is not None


def model_lock(family: Any) -> threading.RLock:
    """The lock of one loaded model that threads running it take (a whole run on its thread,
    a song runner's call): one call on the model's weights and caches at a time."""
    lock: threading.RLock = family.__dict__.setdefault("_run_lock", threading.RLock())
    return lock


class Reporter:
    """A run's progress callback ``(done, total)`` with ``detail(dict)`` (what the run says it
    is doing: ``plans.PlanProgress``) and ``cancelled()`` (the run's job was dropped)."""

    def __init__(self, runner: BackgroundRunner, job_id: str) -> None:
        self.runner, self.job_id = runner, job_id

    def __call__(self, done: int, total: int) -> None:
        self.runner.fractions[self.job_id] = min(1.0, done / max(total, 1))

    def detail(self, detail: dict[str, Any]) -> None:
        self.runner.details[self.job_id] = dict(detail)

    def cancelled(self) -> bool:
        return self.job_id in self.runner.dropped


class BackgroundRunner(WholeRunner):
    """Whole requests one at a time on a thread of its own (``whole`` may take the job's
    ``reporter(job_id)`` for its progress), so the driver keeps stepping other runners and
    writing heartbeats meanwhile; ``progress`` and ``detail`` are what the run last reported.
    A cancelled run is asked to stop (``Reporter.cancelled``) and its outcome dropped."""

    def __init__(self, family: _Runs, capacity: int = 4, whole: Whole | None = None) -> None:
        super().__init__(family, capacity, whole)
        self.fractions: dict[str, float] = {}
        self.details: dict[str, dict[str, Any]] = {}
        self.dropped: set[str] = set()
        self.current: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._done: list[RunEvent] = []

    def reporter(self, job_id: str) -> Reporter:
        return Reporter(self, job_id)

    def submit(self, job_id: str, request: Request, stream: bool = False) -> None:
        if job_id == self.current and job_id not in self.dropped:
            return  # handed again while it runs (a lease taken over by its own worker): one run
        super().submit(job_id, request, stream)

    def _run(self, job_id: str, request: Request) -> None:
        try:
            with model_lock(self.family):  # a song call of the model's own runner ends first
                audio, stems = self.whole(job_id, request)
            event = RunEvent(job_id, RunKind.DONE, audio, stems=stems)
        except Exception as exc:  # the request fails, the others go on
            event = RunEvent(job_id, RunKind.ERROR, error=as_error(exc))
        with self._lock:
            if job_id not in self.dropped:
                self._done.append(event)

    def step(self) -> list[RunEvent]:
        events = self.streams.step()
        with self._lock:
            events += self._done
            self._done = []
        if self._thread is not None and not self._thread.is_alive():
            self._thread.join()
            self._forget(self.current)
            self._thread = self.current = None
        if self._thread is None and self.queue:
            job_id, request = next(iter(self.queue.items()))
            del self.queue[job_id]
            self.current = job_id
            self._thread = threading.Thread(
                target=self._run, args=(job_id, request), name=f"whole-{job_id}", daemon=True
            )
            self._thread.start()
        return events

    def _forget(self, job_id: str | None) -> None:
        self.fractions.pop(job_id or "", None)
        self.details.pop(job_id or "", None)
        self.dropped.discard(job_id or "")

    def active(self) -> int:
        running = self.current is not None and self.current not in self.dropped
        return super().active() + int(running) + len(self._done)

    def owns(self, job_id: str) -> bool:
        return super().owns(job_id) or (job_id == self.current and job_id not in self.dropped)

    def progress(self, job_id: str) -> float | None:
        if job_id == self.current:
            return self.fractions.get(job_id, 0.0)
        return super().progress(job_id)

    def detail(self, job_id: str) -> dict[str, Any] | None:
        """What the run of ``job_id`` last said it was doing (None: nothing, or not here)."""
        return self.details.get(job_id) if job_id == self.current else None

    def cancel(self, job_id: str) -> bool:
        if job_id == self.current and job_id not in self.dropped:
            self.dropped.add(job_id)
            return True
        return super().cancel(job_id)
