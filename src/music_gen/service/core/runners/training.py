"""The trainer: runs ``finetune`` jobs beside the generation worker, which never claims them.

One control thread claims queued finetune jobs while this node has a free training slot
(``Settings.training_slots``, default 1), runs each on an executor in a thread of its own,
records its progress and report (``jobs.report``: ``step``, ``total``, ``loss``, the loss
``history`` of ``{step, loss}`` points, ``paused_s``) with its heartbeat, and settles it:

- **succeeded**: the adapter's files (without the checkpoints) are copied into a new folder
  of the adapter store (``AdapterStore.create``: the name's owner is the job's account), and
  the job's ``result`` names it; a name taken meanwhile fails the job (ADAPTER_EXISTS). A
  job cancelled while its adapter was being stored loses that adapter again;
- **failed** with the training's own error (INVALID_DATASET, TRAINING_DIVERGED, …);
- **cancelled** (``DELETE /finetunes/{id}``, or any node of the database): the run stops at
  its next step and nothing is stored;
- the server **stopping**: the run stops at its next step and the job goes back to the queue.
  Its folder (dataset and checkpoints) stays, so the next run — here after a restart, or the
  lease reaper's requeue after a crash — resumes from the last checkpoint
  (``train.loop``); after ``max_attempts`` interrupted runs it fails, saying so.

**Sharing the machine with generation** (the local executor): training yields. Before it
loads its model and after every optimiser step, a run waits while generation has work —
jobs held by the worker, or queued generation jobs in the database (asked at most every
``GATE_SECONDS``) — so a generation submitted during a training run gets the whole machine
within one training step, and training continues when generation is idle. The time it waited
is ``paused_s`` in its report. With ``serve --ray`` the runs are Ray tasks with the resources
they ask for (``runners.ray_training``), never on the API node, and do not yield.

The worker's lease reaper covers finetune jobs too: a node that dies leaves its runs to be
requeued and resumed by another node (from the checkpoints on its own disk: with several
nodes, ``data_dir`` must be shared for a resume to find them; otherwise the run starts over).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ....errors import GenerationFailed, MusicGenError
from ..infra.db import Job
from ..infra.webhooks import Dispatcher
from ..jobs.events import failure
from ..jobs.finetune import FinetuneSpec, history_point, trim_history
from ..jobs.jobs import JobStore
from ..jobs.spec import JobType

__all__ = [
    "GenerationGate",
    "LocalTraining",
    "RunLost",
    "Stopped",
    "Trainer",
    "TrainingRun",
    "publish_adapter",
]

log = logging.getLogger("music_gen.training")

GATE_SECONDS = 0.1  # how often a paused run asks whether generation still waits
REPORT_SECONDS = 1.0  # how often a running job's report is written (and heart-beaten)
CLAIM_SECONDS = 1.0  # how often queued finetunes nobody told this node of are looked for
SWEEP_SECONDS = 600.0  # how often folders of ended jobs are looked for
SWEEP_AGE = 3600.0  # … and how old such a folder must be (the intake writes it before the job)
#: what of a training output an adapter keeps (the checkpoints stay behind)
_SKIP = ("checkpoints",)


class Stopped(Exception):
    """Raised inside a run's progress callback: cancelled, or the server is stopping."""


class RunLost(Exception):
    """The run was lost with the machine it ran on (a Ray node): the job goes back to the
    queue, its attempt counted, and resumes from its last checkpoint."""


class AdapterSink(Protocol):
    """Where finished adapters go (``infra.adapter_store.AdapterStore``)."""

    def create(self, name: str, account: str, base_model: str) -> Path: ...
    def delete(self, name: str, account: str) -> None: ...


class TrainingRun:
    """One finetune job running on this node, as its thread and the control loop share it."""

    def __init__(self, job: Job, spec: FinetuneSpec) -> None:
        self.job, self.spec = job, spec
        report = dict(job.report or {})
        self.history: list[dict[str, Any]] = list(report.get("history") or [])
        self.step = int(self.history[-1]["step"]) if self.history else 0
        self.total = spec.steps
        self.loss: float | None = self.history[-1]["loss"] if self.history else None
        self.paused_s = float(report.get("paused_s") or 0.0)
        self.resumed_from: int | None = None
        self.dataset: dict[str, Any] | None = report.get("dataset")
        self.cancelled = threading.Event()
        self.stopping = threading.Event()
        self.outcome: tuple[str, Any] | None = None  # ("done", info) | ("error", exc) | …
        self.thread: threading.Thread | None = None
        self.actor: Any = None  # what trains it where that is not this process (a Ray actor)
        self.published: Path | None = None  # its adapter's folder, once stored
        self._lock = threading.Lock()

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "step": self.step,
                "total": self.total,
                "loss": self.loss,
                "history": list(self.history),
                "paused_s": round(self.paused_s, 3),
                "resumed_from": self.resumed_from,
                "dataset": self.dataset,
            }

    def on_step(self, step: int, total: int, loss: float) -> None:
        """The training loop's progress callback: record the step, then stop or yield."""
        with self._lock:
            if self.resumed_from is None:  # the first step of this run: where it resumed
                self.resumed_from = step - 1
                self.history = self._history_until(step - 1, total)
            self.step, self.total = step, total
            point = history_point(step, loss)
            self.loss = point["loss"]
            self.history = trim_history([*self.history, point], total)
        self.check()

    def _history_until(self, step: int, total: int) -> list[dict[str, Any]]:
        """The history of the steps up to ``step``: the log of the checkpoint this run
        resumed from (what the run itself logged), else what the job last reported."""
        state = Path(self.spec.work) / "run" / _SKIP[0] / f"step-{step:06d}" / "state.json"
        try:
            log = json.loads(state.read_text())["log"]
            points = [history_point(int(e["step"]), float(e["loss"])) for e in log]
        except (OSError, ValueError, KeyError, TypeError):
            points = [p for p in self.history if p["step"] <= step]
        return trim_history(points, total)

    def check(self) -> None:
        if self.cancelled.is_set() or self.stopping.is_set():
            raise Stopped


class Executor(Protocol):
    """Runs one finetune to the end (blocking), calling ``run.on_step`` after every step and
    ``run.wait_turn`` where it may yield; returns the folder holding the adapter's files and
    what the run reports (``steps``, ``final_loss``, ``resumed_from``, ``dataset``)."""

    def run(
        self, run: TrainingRun, wait_turn: Callable[[], None]
    ) -> tuple[Path, dict[str, Any]]: ...


class GenerationGate:
    """Whether generation has work: jobs the worker holds, or generation jobs queued (the
    database is asked at most every ``GATE_SECONDS``)."""

    def __init__(self, store: JobStore, held: Callable[[], int]) -> None:
        self.store, self.held = store, held
        self._queued, self._asked = False, 0.0

    def waiting(self) -> bool:
        if self.held():
            return True
        now = time.monotonic()
        if now - self._asked >= GATE_SECONDS:
            self._asked = now
            with contextlib.suppress(Exception):  # the database down: do not hold training
                self._queued = self.store.queue_depth(skip=(JobType.FINETUNE,)) > 0
        return self._queued


class LocalTraining:
    """Training in this process (``music_gen.train``) on ``device``, into ``work/run``."""

    def __init__(self, device: str = "auto", cache_dir: Path | None = None) -> None:
        self.device, self.cache_dir = device, cache_dir

    def run(self, run: TrainingRun, wait_turn: Callable[[], None]) -> tuple[Path, dict[str, Any]]:
        from ....train.api import train

        spec = run.spec
        work = Path(spec.work)
        wait_turn()

        def progress(step: int, total: int, loss: float) -> None:
            run.on_step(step, total, loss)
            wait_turn()

        result = train(
            spec.model, work / "data", work / "run", device=self.device,
            cache_dir=self.cache_dir, progress=progress, **spec.config,
        )  # fmt: skip
        info = _adapter_info(work / "run")
        return work / "run", {
            "steps": result.steps,
            "final_loss": result.loss,
            "resumed_from": result.resumed_from,
            "dataset": info.get("dataset"),
        }


def _adapter_info(folder: Path) -> dict[str, Any]:
    from ....families.adapters import INFO_FILE

    try:
        data = json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def publish_adapter(adapters: AdapterSink, spec: FinetuneSpec, account: str, source: Path) -> Path:
    """Copy the trained adapter in ``source`` (not its checkpoints) into a new folder of the
    adapter store owned by ``account``; the folder is removed again if the copy fails."""
    folder = adapters.create(spec.adapter, account, spec.model)
    try:
        for path in sorted(source.iterdir()):
            if path.name in _SKIP or path.name.startswith("."):
                continue
            if path.is_dir():
                shutil.copytree(path, folder / path.name)
            else:
                shutil.copy2(path, folder / path.name)
    except BaseException:
        with contextlib.suppress(Exception):
            adapters.delete(spec.adapter, account)
        raise
    return folder


class Trainer:
    def __init__(
        self,
        store: JobStore,
        webhooks: Dispatcher,
        adapters: Callable[[], AdapterSink],
        executor: Executor,
        *,
        worker_id: str,
        work_root: Path | None = None,
        slots: int = 1,
        per_account: int = 10,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        self.store, self.webhooks, self.adapters = store, webhooks, adapters
        self.executor = executor
        self.worker_id = worker_id
        self.work_root = work_root  # the jobs' folders: swept of those no job needs
        self.slots = slots
        self.per_account = per_account
        self.gate = gate  # True while training should yield (local executor only)
        self.runs: dict[str, TrainingRun] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported = 0.0
        self._swept = 0.0
        self._claimed = 0.0
        self._claim_now = threading.Event()  # a finetune was queued here, or a slot freed

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        if self.slots <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="music-gen-trainer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every run at its next step and give its job back to the queue (a run that
        ended meanwhile is settled as it ended)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for run in list(self.runs.values()):
            run.stopping.set()
        deadline = time.monotonic() + timeout
        for run in list(self.runs.values()):
            if run.thread is not None:
                run.thread.join(timeout=max(0.0, deadline - time.monotonic()))
            try:
                if run.outcome is not None and run.outcome[0] != "stopped":
                    self._settle(run)
                    continue
                self.store.report(run.job, run.progress, run.report())
                self.store.release(run.job, reason="server stopping")
            except Exception:
                log.warning("finetune %s: could not be given back:\n%s", run.job.id,
                            traceback.format_exc())  # fmt: skip
        self.runs.clear()

    def wake(self) -> None:
        self._claim_now.set()
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        run = self.runs.get(job_id)
        if run is not None:
            run.cancelled.set()
            self._wake.set()

    def snapshot(self, job_id: str) -> tuple[float, dict[str, Any]] | None:
        """A run of this node: its progress and report now (None: not running here)."""
        run = self.runs.get(job_id)
        return None if run is None else (run.progress, run.report())

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.turn()
            except Exception:
                log.error("trainer turn failed:\n%s", traceback.format_exc())
            self._wake.wait(0.2)
            self._wake.clear()

    def turn(self) -> None:
        if time.monotonic() - self._swept >= SWEEP_SECONDS:
            self._swept = time.monotonic()
            self._sweep()
        for run in [r for r in self.runs.values() if r.outcome is not None]:
            try:
                self._settle(run)
            except Exception:  # the database down: kept (heart-beating), settled next turn
                log.warning("finetune %s: its outcome could not be recorded yet:\n%s",
                            run.job.id, traceback.format_exc())  # fmt: skip
                self.runs[run.job.id] = run
        now = time.monotonic()
        if self.runs and now - self._reported >= REPORT_SECONDS:
            self._reported = now
            self._report()
        free = self.slots - len(self.runs)
        due = self._claim_now.is_set() or now - self._claimed >= CLAIM_SECONDS
        if free > 0 and due and not self._stop.is_set():
            self._claim_now.clear()
            self._claimed = now
            claimed = self.store.claim(self.worker_id, free, self.per_account,
                                       only=(JobType.FINETUNE,))  # fmt: skip
            for job in claimed:
                self._start(job)

    def _start(self, job: Job) -> None:
        try:
            spec = FinetuneSpec.from_stored(job.params, job.model)
        except Exception as exc:
            error = GenerationFailed(f"unreadable finetune job: {exc}")
            self.store.fail(job, error.to_dict()["error"])
            return
        run = TrainingRun(job, spec)
        self.runs[job.id] = run
        run.thread = threading.Thread(
            target=self._execute, args=(run,), name=f"music-gen-train-{job.id[:8]}", daemon=True
        )
        run.thread.start()

    def _wait_turn(self, run: TrainingRun) -> None:
        run.check()
        if self.gate is None:
            return
        started = None
        while self.gate():
            if started is None:
                started = time.monotonic()
                log.info("finetune %s yields to generation", run.job.id)
            time.sleep(GATE_SECONDS)
            run.check()
        if started is not None:
            run.paused_s += time.monotonic() - started

    def _execute(self, run: TrainingRun) -> None:
        try:
            folder, info = self.executor.run(run, lambda: self._wait_turn(run))
            run.dataset = info.get("dataset") or run.dataset
            run.outcome = ("done", (folder, info))
        except Stopped:
            run.outcome = ("cancelled" if run.cancelled.is_set() else "stopped", None)
        except RunLost as exc:
            run.outcome = ("lost", exc)
        except Exception as exc:
            if run.cancelled.is_set() or run.stopping.is_set():
                run.outcome = ("cancelled" if run.cancelled.is_set() else "stopped", None)
            else:
                log.warning("finetune %s failed: %s", run.job.id, exc)
                run.outcome = ("error", failure(exc))
        self._wake.set()

    def _sweep(self) -> None:
        """Delete job folders no queued or running finetune needs (jobs cancelled before they
        ran, failed by the lease reaper, or deleted), once they are ``SWEEP_AGE`` old."""
        root = self.work_root
        if root is None or not root.is_dir():
            return
        needed = {str(j.params.get("work")) for j in self.store.active(None, JobType.FINETUNE)}
        cutoff = time.time() - SWEEP_AGE
        for folder in root.iterdir():
            with contextlib.suppress(OSError):
                if str(folder) not in needed and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)

    def _report(self) -> None:
        for run in list(self.runs.values()):  # (those waiting to be settled too: heart-beaten)
            if not self.store.report(run.job, run.progress, run.report()):
                # no longer running under this claim: cancelled (here or on another node),
                # or taken over after a lost lease
                status = self.store.statuses([run.job.id]).get(run.job.id)
                (run.cancelled if status == "cancelled" else run.stopping).set()

    # ------------------------------------------------------------------ settling
    def _settle(self, run: TrainingRun) -> None:
        job = run.job
        outcome: tuple[str, Any] = run.outcome or ("stopped", None)
        kind, value = outcome
        if kind == "stopped" and self._stop.is_set():
            return  # ``stop`` gives it back to the queue
        self.runs.pop(job.id, None)
        if kind == "done":
            self._succeed(run, *value)
        elif kind == "error":
            self._fail(run, value)
        elif kind == "lost":
            self._requeue(run, value)
            return
        elif kind == "stopped":  # taken over by another node: its folder is theirs now
            log.info("finetune %s is no longer ours", job.id)
            return
        else:
            log.info("finetune %s cancelled at step %d", job.id, run.step)
        _remove(run.spec)
        self.wake()

    def _succeed(self, run: TrainingRun, folder: Path, info: dict[str, Any]) -> None:
        job, spec = run.job, run.spec
        try:
            if run.published is None:  # (a retried settling does not store it twice)
                run.published = publish_adapter(self.adapters(), spec, job.account_id, folder)
            stored = run.published
        except MusicGenError as exc:
            self._fail(run, exc)
            return
        except OSError as exc:
            self._fail(run, GenerationFailed(f"the adapter could not be stored: {exc}"))
            return
        result = {
            "adapter": spec.adapter,
            "model": spec.model,
            "steps": info.get("steps"),
            "final_loss": info.get("final_loss"),
            "resumed_from": info.get("resumed_from"),
            "dataset": info.get("dataset"),
        }
        if info.get("worker"):  # where it trained, when not in this process (a Ray actor)
            result.update(worker=info["worker"], pid=info.get("pid"))
        self.store.report(job, 1.0, run.report())
        if not self.store.finish(job, result, None):  # cancelled while it was being stored
            with contextlib.suppress(Exception):
                self.adapters().delete(spec.adapter, job.account_id)
            log.info("finetune %s ended elsewhere; adapter %s removed", job.id, stored.name)
            return
        self.webhooks.enqueue(self.store.get(job.id), None)

    def _requeue(self, run: TrainingRun, lost: RunLost) -> None:
        job = run.job
        if job.attempts >= self.store.max_attempts:
            self._fail(run, GenerationFailed(
                f"{lost} ({job.attempts} runs lost; giving up)",
                details={"attempts": job.attempts},
            ))  # fmt: skip
            _remove(run.spec)
            return
        with contextlib.suppress(Exception):
            self.store.report(job, run.progress, run.report())
        self.store.release(job, reason="lost")
        self.wake()

    def _fail(self, run: TrainingRun, error: MusicGenError) -> None:
        job = run.job
        with contextlib.suppress(Exception):
            self.store.report(job, run.progress, run.report())
        if self.store.fail(job, error.to_dict()["error"]):
            self.webhooks.enqueue(self.store.get(job.id), None)


def _remove(spec: FinetuneSpec) -> None:
    shutil.rmtree(spec.work, ignore_errors=True)
