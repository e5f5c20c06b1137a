"""What the worker drives: a ``Backend`` decodes many jobs together, one step at a time.

- ``ModelBackend``: every model family, kept warm (loaded once per model name). It does not know
  how a family runs jobs: each loaded model gives it a runner (``family.runner``, see
  ``families.runner``) — MusicGen its continuous batcher, ACE-Step its song runner, the composer
  whole runs — and it drives every runner the same way. Multitrack jobs run whole in a runner of
  their own per model (``MultiInstrumentGenerator`` over the warm model), and so do loops
  (``generate(loop=True, ...)`` on the warm model: the source audio, cut and crossfaded).
- ``ToneBackend`` (``engine="test-tone"``): no model; deterministic tones, ten steps per second of
  audio. It measures the service's own overhead and lets the service run where no weights are.

Capacity is per runner: each holds at most ``capacity`` jobs, and the worker asks ``free``
for the runner a queued job needs (``runner_key``, known from the job alone, without loading
anything) before it claims it — so songs filling their runner never hold up MusicGen jobs.
``capacity`` is also what ``submit`` uses for its ETAs.

Backends know nothing about the database or HTTP: the worker hands them ``(job_id, spec)``
(a validated ``JobSpec``; nothing here validates it again) and collects ``Event``s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ....audio import AudioOutput
from ....families.runner import BackgroundRunner, RunEvent, Runner, Whole, WholeRunner
from ....params import Request
from ..jobs.events import Event, JobEvent, failure
from ..jobs.spec import JobSpec

__all__ = [
    "Backend",
    "Event",
    "JobEvent",
    "ModelBackend",
    "ToneBackend",
    "failure",
    "make_backend",
]

log = logging.getLogger("music_gen.worker")


class Backend(Protocol):
    capacity: int  # jobs each runner holds (one runner for the simpler backends)

    def active(self) -> int: ...
    def runner_key(self, spec: JobSpec) -> str: ...
    def free(self, key: str) -> int: ...
    def warm(self, model: str) -> None: ...
    def submit(self, job_id: str, spec: JobSpec, stream: bool) -> None: ...
    def step(self) -> list[Event]: ...
    def progress(self, job_id: str) -> float: ...
    def progress_detail(self, job_id: str) -> dict[str, Any] | None: ...
    def cancel(self, job_id: str) -> None: ...
    def loaded_models(self) -> list[str]: ...


MULTITRACK = "multitrack"
LOOP = "loop"
PLAN = "plan"
REWORK = "rework"


def whole_kind(spec: JobSpec) -> str | None:
    """The kind of whole job ``spec`` is (run from the spec itself on a runner of its own per
    model, first come first served), or None for the model's own runner."""
    if spec.instruments:
        return MULTITRACK
    if spec.loop is not None:
        return LOOP
    if spec.rework is not None:
        return REWORK
    return PLAN if spec.plan is not None else None


def run_request(spec: JobSpec, family: Any) -> Request:
    """The job's typed request as the family runs it: ``spec.request``, normalised by the
    family's own check against its card (seeds per prompt, defaults filled in; the same check
    ``core.submit`` made, so it cannot refuse a stored job that passed it)."""
    checked: Request = family.check_request(family.card, spec.request)
    return checked


def _event(event: RunEvent) -> Event:
    return Event(event.job_id, JobEvent(event.kind.value), event.audio, event.error, event.stems)


class ModelBackend:
    def __init__(
        self, load: Callable[[str], Any], capacity: int = 4, adapters: Path | None = None
    ) -> None:
        self.load = load  # model name -> MusicGenerator
        self.capacity = capacity
        self.adapters = adapters  # the adapter store's root (jobs name adapters in it)
        self.adapter_of: dict[str, str] = {}  # job id -> its adapter's name
        self.generators: dict[str, Any] = {}
        self.runners: dict[str, Runner] = {}  # runner key -> runner
        self.owner: dict[str, str] = {}  # job id -> runner key
        self.held: dict[str, JobSpec] = {}  # whole jobs held (instruments, loops, plans)

    def generator(self, model: str) -> Any:
        if model not in self.generators:
            self.generators[model] = self.load(model)
        return self.generators[model]

    def warm(self, model: str) -> None:
        self.generator(model)

    def loaded_models(self) -> list[str]:
        return list(self.generators)

    def active(self) -> int:
        return len(self.owner)

    def runner_key(self, spec: JobSpec) -> str:
        """Which runner runs the job: its model's, or that model's multitrack, loop or plan
        runner (whole runs, first come first served)."""
        kind = whole_kind(spec)
        return spec.model if kind is None else f"{spec.model}#{kind}"

    def free(self, key: str) -> int:
        runner = self.runners.get(key)
        return self.capacity if runner is None else runner.free()

    def _runner(self, key: str, spec: JobSpec) -> Runner:
        runner = self.runners.get(key)
        if runner is None:
            gen = self.generator(spec.model)
            if spec.instruments:
                runner = WholeRunner(gen.family_impl, self.capacity, whole=self._multitrack(gen))
            elif spec.loop is not None:
                runner = WholeRunner(gen.family_impl, self.capacity, whole=self._loop(gen))
            elif spec.rework is not None or spec.plan is not None:  # on a thread of its own
                background = BackgroundRunner(gen.family_impl, self.capacity)
                make = self._rework if spec.rework is not None else self._plan
                background.whole = make(gen, background)
                runner = background
            else:
                runner = gen.family_impl.runner(self.capacity)
            self.runners[key] = runner
        return runner

    def submit(self, job_id: str, spec: JobSpec, stream: bool) -> None:
        key = self.runner_key(spec)
        runner = self._runner(key, spec)
        if whole_kind(spec) is not None:  # whole, from the spec itself
            runner.submit(job_id, spec.request)
            self.held[job_id] = spec
        else:
            family = self.generator(spec.model).family_impl
            request = run_request(spec, family)
            if request.adapter is not None:
                self.adapter_of[job_id] = request.adapter.name
            runner.submit(job_id, self._with_folder(request), stream)
        self.owner[job_id] = key

    def _with_folder(self, request: Request) -> Request:
        """The request with its adapter's name (in the adapter store) as the adapter's folder,
        which the family loads (once; evicted least recently used)."""
        if request.adapter is None or self.adapters is None:
            return request
        folder = str(self.adapters / request.adapter.name)
        return replace(request, adapter=replace(request.adapter, name=folder))

    def step(self) -> list[Event]:
        """One step of every runner with work; while a model's whole run is on its thread (a
        plan, an extend), that model's other runners wait: one model, one run at a time."""
        events: list[Event] = []
        runners = sorted(
            self.runners.items(), key=lambda kv: not isinstance(kv[1], BackgroundRunner)
        )
        for key, runner in runners:
            if not runner.active():
                continue
            model = key.split("#")[0]
            if not isinstance(runner, BackgroundRunner) and any(
                isinstance(r, BackgroundRunner) and r.current is not None
                for k, r in self.runners.items() if k.split("#")[0] == model
            ):  # fmt: skip
                continue
            try:
                events += [_event(e) for e in runner.step()]
            except Exception as exc:  # a runner's bug fails its jobs, not the others'
                log.exception("runner %s failed", key)
                error = failure(exc)
                for job_id in [j for j, k in self.owner.items() if k == key]:
                    runner.cancel(job_id)
                    events.append(Event(job_id, JobEvent.ERROR, error=error))
        for event in events:
            name = self.adapter_of.get(event.job_id)
            if name is not None and event.audio is not None and "adapter" in event.audio.metadata:
                # the output names the adapter as the job did, not by its server folder
                event.audio.metadata["adapter"] = {**event.audio.metadata["adapter"],
                                                   "adapter": name}  # fmt: skip
            if event.kind != JobEvent.CHUNK:
                self.owner.pop(event.job_id, None)
                self.held.pop(event.job_id, None)
                self.adapter_of.pop(event.job_id, None)
        return events

    def progress(self, job_id: str) -> float:
        key = self.owner.get(job_id)
        runner = self.runners.get(key) if key is not None else None
        return (runner.progress(job_id) if runner is not None else None) or 0.0

    def progress_detail(self, job_id: str) -> dict[str, Any] | None:
        """What the job's run last said it was doing (a plan: section i of n, its step)."""
        key = self.owner.get(job_id)
        runner = self.runners.get(key) if key is not None else None
        return runner.detail(job_id) if isinstance(runner, BackgroundRunner) else None

    def _multitrack(self, gen: Any) -> Whole:
        """A multitrack job, whole: one call per instrument on the warm model, mixed."""

        def run(job_id: str, request: Request) -> tuple[AudioOutput, dict[str, AudioOutput]]:
            from ....multitrack import MultiInstrumentGenerator

            spec = self.held.pop(job_id)
            multi = MultiInstrumentGenerator.from_generator(gen)  # the warm model, no reload
            tracks = multi.generate_multi_track(
                spec.instruments or {}, spec.duration, spec.mix_settings, seed=spec.seed
            )
            mix = tracks.pop("mix")
            return mix, tracks

        return run

    def _loop(self, gen: Any) -> Whole:
        """A loop job, whole: the loop sets the duration, tempo and meter; the rest of the
        spec's values are the family's own."""

        def run(job_id: str, request: Request) -> tuple[AudioOutput, None]:
            from ....families import FEATURE_CAPABILITIES

            spec = self.held.pop(job_id)
            skip = ("duration", "bpm", "lyrics", "time_signature")

            # the values the model's family takes (a feature only where it has the capability)
            def wanted(k: str) -> bool:
                cap = FEATURE_CAPABILITIES.get(k)
                return k not in skip and gen.takes(k) and (cap is None or gen.can(cap))

            args = {k: v for k, v in {**spec.sampling(), **spec.song()}.items() if wanted(k)}
            return gen.generate(spec.prompt, **spec.loop_options(), **args), None

        return run

    def _plan(self, gen: Any, runner: BackgroundRunner) -> Whole:
        """A plan's job, whole: the family's ``generate_plan`` on the warm model (its
        ``metadata["plan"]``: each section's start and end), reporting section i of n."""

        def run(job_id: str, request: Request) -> tuple[AudioOutput, None]:
            spec = self.held.pop(job_id)
            report = runner.reporter(job_id)
            out = gen.family_impl.generate_plan(
                spec.plan, seed=spec.seed, progress=report, cancelled=report.cancelled
            )
            return out, None

        return run

    def _rework(self, gen: Any, runner: BackgroundRunner) -> Whole:
        """An extend or a section replacement of the job's source, whole, on the warm model
        (``extend`` / ``replace_section``: outside what is new, every sample the source's)."""

        def run(job_id: str, request: Request) -> tuple[AudioOutput, None]:
            spec = self.held.pop(job_id)
            rework, family = spec.rework, gen.family_impl
            assert rework is not None
            if rework.task == "replace":
                section = rework.section if rework.section is not None else 0
                out = family.replace_section(rework.source, spec.plan, section, seed=spec.seed)
            else:
                what = spec.plan if spec.plan is not None else spec.prompt
                out = family.extend(rework.source, what, rework.added, seed=spec.seed)
            out.metadata.setdefault("prompt", spec.prompt)
            return out, None

        return run

    def cancel(self, job_id: str) -> None:
        self.held.pop(job_id, None)
        self.adapter_of.pop(job_id, None)
        key = self.owner.pop(job_id, None)
        if key is not None and key in self.runners:
            self.runners[key].cancel(job_id)


class ToneBackend:
    """A trivial engine: each job is a seeded sine chord, made in ten steps per second."""

    sample_rate = 32000
    steps_per_second = 10

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.jobs: dict[str, tuple[JobSpec, int, int, bool]] = {}

    def loaded_models(self) -> list[str]:
        return ["test-tone"]

    def warm(self, model: str) -> None:
        pass

    def runner_key(self, spec: JobSpec) -> str:
        return "test-tone"

    def free(self, key: str) -> int:
        return max(0, self.capacity - self.active())

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

    def progress_detail(self, job_id: str) -> dict[str, Any] | None:
        return None

    def cancel(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)


def make_backend(settings: Any) -> Backend:
    """The backend ``settings`` name; every model it loads gets the server's limits and
    options (``max_duration``, and MusicGen's ``engine`` and ``quantize``), so what
    ``core.submit`` validated is what the model accepts."""
    if settings.engine == "test-tone":
        return ToneBackend(settings.max_batch)

    from ..infra.adapter_store import adapters_root

    def load(model: str) -> Any:
        from ....families import family_options
        from ....generator import MusicGenerator

        if getattr(settings, "commercial_only", False):  # never load refused weights
            from ..infra.catalog import ModelCatalog

            ModelCatalog(settings).check_license(model)
        where = {"device": settings.device, "cache_dir": settings.cache_dir}
        limits = {"max_duration": settings.max_duration}
        engine = {"engine": settings.engine, "quantize": settings.quantize}
        options = family_options(  # those the model's family takes (MusicGen's engine & co)
            model, settings.cache_dir, **limits, **engine
        )
        return MusicGenerator(model, **where, **options)

    return ModelBackend(load, settings.max_batch, adapters_root(settings).resolve())
