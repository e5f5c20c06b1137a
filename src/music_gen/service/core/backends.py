"""What the worker drives: a ``Backend`` decodes many jobs together, one step at a time.

- ``MusicGenBackend``: every model family, kept warm (loaded once per model name). What a job
  runs on follows the model's capabilities: MusicGen's fast engine feeds its
  ``ContinuousBatcher`` (jobs join and leave at step boundaries; a CUDA out-of-memory error
  halves the batch and restarts its requests, seeded, so their output does not change);
  streaming jobs run ``generate_stream`` one chunk per step, interleaved with the batch; song
  models (the ``lyrics`` capability) run in ``SongJobs`` (``service.songs``); the rest run
  whole, one per step.
- ``ToneBackend`` (``engine="test-tone"``): no model; deterministic tones, ten steps per second of
  audio. It measures the service's own overhead and lets the service run where no weights are.

Backends know nothing about the database or HTTP: the worker hands them ``(job_id, spec)``
(a validated ``JobSpec``; nothing here validates it again) and collects ``Event``s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from ...audio import AudioOutput
from ...errors import GenerationFailed
from .events import Event, JobEvent, failure
from .songs import SongJobs
from .spec import JobSpec

__all__ = [
    "Backend",
    "Event",
    "JobEvent",
    "MusicGenBackend",
    "ToneBackend",
    "failure",
    "make_backend",
]

log = logging.getLogger("music_gen.worker")


class Backend(Protocol):
    capacity: int

    def active(self) -> int: ...
    def submit(self, job_id: str, spec: JobSpec, stream: bool) -> None: ...
    def step(self) -> list[Event]: ...
    def progress(self, job_id: str) -> float: ...
    def cancel(self, job_id: str) -> None: ...
    def loaded_models(self) -> list[str]: ...


class _Streams:
    """Streaming jobs: one iterator each, advanced one chunk per ``step``."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[Iterator[AudioOutput], list[AudioOutput], float]] = {}

    def add(self, job_id: str, chunks: Iterator[AudioOutput], duration: float) -> None:
        self.running[job_id] = (chunks, [], duration)

    def step(self) -> list[Event]:
        events: list[Event] = []
        for job_id, (chunks, seen, _) in list(self.running.items()):
            try:
                chunk = next(chunks)
            except Exception as exc:  # the job fails, the worker goes on
                del self.running[job_id]
                events.append(Event(job_id, JobEvent.ERROR, error=failure(exc)))
                continue
            seen.append(chunk)
            events.append(Event(job_id, JobEvent.CHUNK, audio=chunk))
            if chunk.metadata.get("final"):
                del self.running[job_id]
                whole = np.concatenate([c.samples for c in seen], axis=-1)
                meta = {k: v for k, v in chunk.metadata.items() if k not in ("chunk_index",)}
                meta.update(start_s=0.0, chunks=len(seen))
                events.append(
                    Event(job_id, JobEvent.DONE, AudioOutput(whole, chunk.sample_rate, meta))
                )
        return events

    def progress(self, job_id: str) -> float | None:
        if job_id not in self.running:
            return None
        _, seen, duration = self.running[job_id]
        done = sum(c.duration for c in seen)
        return min(1.0, done / max(duration, 1e-9))

    def cancel(self, job_id: str) -> bool:
        return self.running.pop(job_id, None) is not None


class MusicGenBackend:
    def __init__(
        self,
        load: Callable[[str], Any],
        capacity: int = 4,
    ) -> None:
        self.load = load  # model name -> MusicGenerator
        self.capacity = capacity
        self.generators: dict[str, Any] = {}
        self.batchers: dict[str, Any] = {}
        self.owner: dict[str, str] = {}  # job id -> model
        self.sequential: dict[str, JobSpec] = {}  # run whole, one per step
        self.streams = _Streams()
        self.songs = SongJobs(max_batch=capacity)

    def generator(self, model: str) -> Any:
        if model not in self.generators:
            self.generators[model] = self.load(model)
        return self.generators[model]

    def loaded_models(self) -> list[str]:
        return list(self.generators)

    def active(self) -> int:
        return len(self.owner)

    def submit(self, job_id: str, spec: JobSpec, stream: bool) -> None:
        from ...families import Capability

        model = spec.model
        gen = self.generator(model)
        if spec.instruments or spec.loop:  # multitrack, loops: one call, run whole in a step
            self.sequential[job_id] = spec
        elif gen.can(Capability.LYRICS):  # a song model: its own runner
            self.songs.submit(job_id, gen, spec, stream)
        elif stream:
            chunks = gen.generate_stream(spec.prompt, **spec.sampling(), **spec.conditioning())
            self.streams.add(job_id, chunks, spec.duration)
        else:
            batcher = self.batchers.get(model)
            if batcher is None and gen.can(Capability.BATCH) and hasattr(gen, "batcher"):
                batcher = gen.batcher(self.capacity)  # None where the engine cannot batch
                if batcher is not None:
                    self.batchers[model] = batcher
            if batcher is None:
                self.sequential[job_id] = spec
            else:
                prepared = gen.prepare(spec.prompt, **spec.sampling(), **spec.conditioning())
                batcher.submit(prepared, job_id)
        self.owner[job_id] = model

    def step(self) -> list[Event]:
        import torch

        events = self.streams.step() + self.songs.step()
        for model, batcher in list(self.batchers.items()):
            if batcher.idle:
                continue
            try:
                finished = batcher.step()
            except torch.OutOfMemoryError:
                events += self._split(model, batcher)
                continue
            except Exception as exc:  # its jobs fail, the worker goes on
                error = failure(exc)
                events += [Event(rid, JobEvent.ERROR, error=error) for rid, _ in batcher.drain()]
                continue
            events += [Event(job_id, JobEvent.DONE, audio) for job_id, audio in finished]
        if self.sequential:
            job_id, spec = next(iter(self.sequential.items()))
            del self.sequential[job_id]
            try:
                events.append(self._run_whole(job_id, spec))
            except Exception as exc:
                events.append(Event(job_id, JobEvent.ERROR, error=failure(exc)))
        for event in events:
            if event.kind != JobEvent.CHUNK:
                self.owner.pop(event.job_id, None)
        return events

    def _run_whole(self, job_id: str, spec: JobSpec) -> Event:
        gen = self.generator(spec.model)
        if spec.instruments:
            from ...compose.multitrack import MultiInstrumentGenerator

            multi = MultiInstrumentGenerator.from_generator(gen)  # the warm model, no reload
            tracks = multi.generate_multi_track(
                spec.instruments, spec.duration, spec.mix_settings, seed=spec.seed
            )
            mix = tracks.pop("mix")
            return Event(job_id, JobEvent.DONE, mix, stems=tracks)
        if spec.loop:  # the loop sets the duration, tempo and meter
            from ...families import Capability

            given = spec.song() if gen.can(Capability.LYRICS) else spec.sampling()
            skip = ("duration", "bpm", "lyrics", "time_signature")
            args = {k: v for k, v in given.items() if k not in skip}
            audio = gen.generate(spec.prompt, **spec.loop_options(), **args)
            return Event(job_id, JobEvent.DONE, audio)
        audio = gen.generate(spec.prompt, **spec.sampling(), **spec.conditioning())
        return Event(job_id, JobEvent.DONE, audio)

    def _split(self, model: str, batcher: Any) -> list[Event]:
        """Out of memory: restart the same requests with half as many decoded at once."""
        from ...engine.batching import ContinuousBatcher

        requests = batcher.drain()
        if batcher.max_requests == 1:
            error = GenerationFailed(
                "out of memory even with one request at a time", code="OUT_OF_MEMORY"
            )
            return [Event(rid, JobEvent.ERROR, error=error) for rid, _ in requests]
        smaller = ContinuousBatcher(batcher.runtime, batcher.max_requests // 2)
        log.warning(
            "out of memory at batch %d; retrying at %d", batcher.max_requests, smaller.max_requests
        )
        for rid, prepared in requests:
            smaller.submit(prepared, rid)
        self.batchers[model] = smaller
        return []

    def progress(self, job_id: str) -> float:
        p = self.streams.progress(job_id)
        if p is None:
            p = self.songs.progress(job_id)
        if p is None:
            model = self.owner.get(job_id)
            batcher = self.batchers.get(model) if model else None
            p = batcher.progress(job_id) if batcher is not None else None
        return p or 0.0

    def cancel(self, job_id: str) -> None:
        self.streams.cancel(job_id)
        self.songs.cancel(job_id)
        self.sequential.pop(job_id, None)
        model = self.owner.pop(job_id, None)
        if model in self.batchers:
            self.batchers[model].cancel(job_id)


class ToneBackend:
    """A trivial engine: each job is a seeded sine chord, made in ten steps per second."""

    sample_rate = 32000
    steps_per_second = 10

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.jobs: dict[str, tuple[JobSpec, int, int, bool]] = {}

    def loaded_models(self) -> list[str]:
        return ["test-tone"]

    def active(self) -> int:
        return len(self.jobs)

    def submit(self, job_id: str, spec: JobSpec, stream: bool) -> None:
        steps = max(1, round(spec.duration * self.steps_per_second))
        self.jobs[job_id] = (spec, 0, steps, stream)

    def _tone(self, spec: JobSpec, start: float, end: float) -> np.ndarray:
        seed = spec.seed
        f0 = 220.0 * 2 ** ((seed % 12) / 12)
        n = np.arange(round(start * self.sample_rate), round(end * self.sample_rate))
        t = n / self.sample_rate
        return (0.2 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(3 * np.pi * f0 * t)).astype(
            np.float32
        )

    def step(self) -> list[Event]:
        events: list[Event] = []
        for job_id, (spec, done, steps, stream) in list(self.jobs.items()):
            duration = spec.duration
            done += 1
            if stream:
                a, b = (done - 1) / steps * duration, done / steps * duration
                chunk = AudioOutput(self._tone(spec, a, b), self.sample_rate, {"start_s": a})
                events.append(Event(job_id, JobEvent.CHUNK, chunk))
            if done < steps:
                self.jobs[job_id] = (spec, done, steps, stream)
                continue
            del self.jobs[job_id]
            meta = {
                "engine": "test-tone",
                "prompt": spec.prompt,
                "seed": spec.seed,
            }
            audio = AudioOutput(self._tone(spec, 0.0, duration), self.sample_rate, meta)
            events.append(Event(job_id, JobEvent.DONE, audio))
        return events

    def progress(self, job_id: str) -> float:
        if job_id not in self.jobs:
            return 0.0
        _, done, steps, _ = self.jobs[job_id]
        return done / steps

    def cancel(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)


def make_backend(settings: Any) -> Backend:
    """The backend ``settings`` name; every model it loads gets the server's limits and
    options (``max_duration``, and MusicGen's ``engine`` and ``quantize``), so what
    ``core.submit`` validated is what the model accepts."""
    if settings.engine == "test-tone":
        return ToneBackend(settings.max_batch)

    def load(model: str) -> Any:
        from ...families import detect_family
        from ...generator import MusicGenerator

        if getattr(settings, "commercial_only", False):  # never load refused weights
            from .catalog import ModelCatalog

            ModelCatalog(settings).check_license(model)
        options: dict[str, Any] = {"max_duration": settings.max_duration}
        if detect_family(model, settings.cache_dir) == "musicgen":  # MusicGen's own options
            options.update(engine=settings.engine, quantize=settings.quantize)
        return MusicGenerator(
            model, device=settings.device, cache_dir=settings.cache_dir, **options
        )

    return MusicGenBackend(load, settings.max_batch)
