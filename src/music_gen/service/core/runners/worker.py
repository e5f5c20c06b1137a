"""The in-process worker: claims queued jobs, decodes them together, stores the results.

One thread owns the models (the backend). Each turn of its loop:
0. outcomes that could not be written (database down) are retried;
1. housekeeping on a timer: heartbeats and progress of running jobs, requeueing jobs whose
   worker died (``JobStore.requeue_stale``; the ones it fails get their webhook), noticing jobs
   cancelled by another process, deleting results older than the retention period (with their
   conversions) and downloaded inputs left behind;
2. admitting: claims queued jobs for which the backend's runner has free slots (each runner —
   MusicGen's batcher, the song runner, … — has its own capacity, so a full one never holds up
   jobs for another), fairly across accounts, at most ``max_concurrent_per_account`` running
   per account, and submits them — invalid parameters fail the job with their error code. It
   asks the database when told (a submission in this process, a job that left), when idle,
   and otherwise every ``CLAIM_SECONDS`` (jobs queued by other processes): not between every
   two decode steps;
3. one backend step; each event is handled on its own (one that fails fails its job, never the
   loop): chunks of streaming jobs go to their listener (the WebSocket that asked for them); a
   run lost with the machine it ran on (``RETRY``: a Ray replica died) goes back to the queue,
   its attempt counted (failed after ``max_attempts``); a finished job is settled in steps —
   store its files, record the outcome, announce it (webhook, listener). A storage failure fails
   the job with its reason (STORAGE_FULL, STORAGE_UNAVAILABLE) and is reported by readiness
   until a write would fit again; a database failure keeps the step for the next turn with the
   job still held (and heart-beating). A run whose outcome is refused (the job was cancelled or
   taken over by another worker) deletes exactly the files it wrote. A job's downloaded inputs
   (files under ``scratch_dir``) are deleted when it ends.

Stopping releases the running jobs back to the queue; a crash leaves them running, and the
next start requeues them (the same worker id when it is the data directory's only process;
otherwise their lease runs out) — so no accepted job is lost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from ....audio import AudioOutput
from ....errors import GenerationFailed, InvalidInput, MusicGenError
from ..infra.db import AudioFile, Job, utcnow
from ..infra.storage import Storage, remove_conversions, storage_failure
from ..infra.webhooks import Dispatcher
from ..jobs.events import Event, JobEvent
from ..jobs.jobs import JobStore
from ..jobs.spec import INPUT_FILES, JobSpec, JobType
from .backends import Backend
from .results import jsonable, result_size, store_audio, store_file

__all__ = ["Worker", "store_audio", "store_file"]

log = logging.getLogger("music_gen.worker")

Listener = Callable[[JobEvent, Any], None]  # (event, its audio or the stored job)
Step = Callable[[], "Step | None"]  # a piece of settling a job; returns the next one
#: a busy turn shorter than this did no work of its own (its jobs run in their runners' own
#: threads): the loop waits IDLE_TURN_WAIT before the next instead of spinning a core
IDLE_TURN_SECONDS = 0.0005
IDLE_TURN_WAIT = 0.002
CLAIM_SECONDS = 0.25  # while decoding: how often to look for jobs nobody told this worker of
UNKNOWN_ERROR_RETRIES = 5  # database errors are retried for as long as the process lives


class Worker:
    def __init__(
        self,
        store: JobStore,
        backend: Backend,
        storage: Storage,
        webhooks: Dispatcher,
        *,
        audio_url: Callable[[str], str],
        worker_id: str,
        per_account: int = 10,
        lease_seconds: float = 30.0,
        retention_days: float | None = None,
        scratch_dir: Path | None = None,
        node: str | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.storage = storage
        self.webhooks = webhooks
        self.audio_url = audio_url
        self.worker_id = worker_id
        self.per_account = per_account
        self.lease = lease_seconds
        self.retention_days = retention_days
        self.scratch_dir = scratch_dir  # downloaded inputs: deleted when their job ends
        self.node = node  # this server's base URL, recorded with the audio it stores
        self.running: dict[str, Job] = {}
        self.progress: dict[str, float] = {}  # running job id -> progress, refreshed every step
        self.progress_detail: dict[str, dict[str, Any]] = {}  # what a run says it is doing
        self.listeners: dict[str, Listener] = {}
        self.last_beat = time.monotonic()
        self.queue_depth = 0  # queued jobs at the last heartbeat (for ETAs without a query)
        self.engine_seconds = 0.0  # time spent in backend steps (for the overhead benchmark)
        self.audio_seconds = 0.0
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # claim new jobs now (set by ``wake`` and when a job leaves); otherwise at most every
        # CLAIM_SECONDS while busy, so a decode step is not followed by a query each time
        self._claim_now = threading.Event()
        self._claim_now.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timers: dict[str, float] = {}
        # jobs whose outcome could not be written yet (database down): the next step to retry
        self._pending: dict[str, tuple[Step, int]] = {}
        # dependency -> (what failed, bytes a write needed): reported by readiness until it heals
        self.problems: dict[str, tuple[str, int]] = {}

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self.store.requeue_stale(self.lease, worker_id=self.worker_id, on_failed=self._reaped)
        self._thread = threading.Thread(target=self._run, name="music-gen-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for job in list(self.running.values()):
            self.store.release(job)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._claim_now.set()
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancelled.add(job_id)
        self._wake.set()

    def listen(self, job_id: str, listener: Listener) -> None:
        self.listeners[job_id] = listener

    def unlisten(self, job_id: str) -> None:
        self.listeners.pop(job_id, None)

    @property
    def rtf(self) -> float:
        """Engine seconds per audio second so far (1.0 until something has finished)."""
        return self.engine_seconds / self.audio_seconds if self.audio_seconds else 1.0

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                busy = self.turn()
            except Exception:
                log.error("worker turn failed:\n%s", traceback.format_exc())
                busy = False
                time.sleep(0.5)
            if not busy:
                self._wake.wait(0.25)
                self._wake.clear()
            elif time.perf_counter() - started < IDLE_TURN_SECONDS:
                self._wake.wait(IDLE_TURN_WAIT)
                self._wake.clear()

    def turn(self) -> bool:
        self._retry_pending()
        self._every("beat", self.lease / 3, self._beat)
        self._every("reap", max(1.0, self.lease / 2), self._reap)
        self._every("retention", 600.0, self._expire)
        self._apply_cancellations()
        if self._claim_now.is_set() or not self.backend.active():
            self._claim_now.clear()
            self._timers["claim"] = time.monotonic()
            self._admit()
        else:  # jobs queued by other processes sharing the database
            self._every("claim", CLAIM_SECONDS, self._admit)
        if not self.backend.active():
            return False  # (outcomes waiting for the database are retried at the next turn)
        started = time.perf_counter()
        try:
            events = self.backend.step()
        except Exception as exc:  # a backend bug fails its jobs, not the loop
            log.error("backend step failed:\n%s", traceback.format_exc())
            error = GenerationFailed(f"{type(exc).__name__}: {exc}")
            events = [Event(job_id, JobEvent.ERROR, error=error) for job_id in list(self.running)]
        self.engine_seconds += time.perf_counter() - started
        for event in events:
            try:
                self._handle(event)
            except Exception as exc:  # one event's failure is its job's, never the loop's
                log.error("handling %s of job %s failed:\n%s", event.kind, event.job_id,
                          traceback.format_exc())  # fmt: skip
                job = self.running.get(event.job_id)
                if job is not None and event.job_id not in self._pending:
                    self._fail(job, GenerationFailed(f"{type(exc).__name__}: {exc}"))
        self.progress = {
            job_id: 1.0 if job_id in self._pending else self.backend.progress(job_id)
            for job_id in self.running
        }
        details = {job_id: self.backend.progress_detail(job_id) for job_id in self.running}
        self.progress_detail = {k: v for k, v in details.items() if v is not None}
        return True

    def _every(self, name: str, seconds: float, action: Callable[[], None]) -> None:
        now = time.monotonic()
        if now - self._timers.get(name, 0.0) >= seconds:
            self._timers[name] = now
            action()

    def _beat(self) -> None:
        self.last_beat = time.monotonic()
        self.queue_depth = self.store.queue_depth()
        jobs = list(self.running.values())
        if jobs:
            self.store.heartbeat(jobs, self.progress, self.progress_detail)

    def _reap(self) -> None:
        if self.store.requeue_stale(self.lease, on_failed=self._reaped):
            self.wake()
        # jobs cancelled through another server process sharing this database
        for job_id, status in self.store.statuses(list(self.running)).items():
            if status != "running":
                self.cancel(job_id)

    def _reaped(self, job: Job) -> None:
        """A job the lease reaper failed (interrupted too often): its webhook and listener."""
        self.webhooks.enqueue(job, None)
        self._notify(job.id, JobEvent.FAILED, job)

    def _expire(self) -> None:
        self._sweep_scratch()
        if self.retention_days is None:
            return
        cutoff = utcnow() - dt.timedelta(days=self.retention_days)
        old = self.store.expired(cutoff)
        if not old:
            return
        for job in old:
            self._delete_files(job.id)
        self.store.delete([job.id for job in old])
        log.info("retention: deleted %d finished jobs and their audio", len(old))

    def _apply_cancellations(self) -> None:
        with self._lock:
            cancelled, self._cancelled = self._cancelled, set()
        for job_id in cancelled:
            # a job whose outcome is being written finds out by itself (its finish is refused,
            # and then it deletes the files it wrote)
            if job_id in self.running and job_id not in self._pending:
                self.backend.cancel(job_id)
                self._ended(self.running[job_id])
                self._notify(job_id, JobEvent.CANCELLED, None)

    def _sweep_scratch(self, max_age: float = 86400.0) -> None:
        """Downloaded inputs left behind (jobs cancelled before they ran, crashes)."""
        if self.scratch_dir is None or not self.scratch_dir.is_dir():
            return
        cutoff = time.time() - max_age
        for path in self.scratch_dir.iterdir():
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()

    def _admit(self) -> None:
        taken: Counter[str] = Counter()  # claimed this round, per runner (not submitted yet)

        def fits(model: str, params: dict[str, Any]) -> bool:
            try:
                key = self.backend.runner_key(JobSpec.from_stored(params, model))
            except Exception:  # claimed, then failed with its error below
                return True
            if self.backend.free(key) - taken[key] <= 0:
                return False
            taken[key] += 1
            return True

        # each runner has its own capacity: ``fits`` passes over jobs whose runner is full
        # (finetune jobs are the trainer's: ``runners.training``)
        claim = self.store.claim(self.worker_id, self.backend.capacity, self.per_account, fits,
                                 skip=(JobType.FINETUNE,))  # fmt: skip
        for job in claim:
            self.running[job.id] = job
            try:
                spec = JobSpec.from_stored(job.params, job.model)
                self.backend.submit(job.id, spec, stream=job.type == JobType.STREAM)
            except MusicGenError as exc:
                self._fail(job, exc)
            except Exception as exc:
                self._fail(job, MusicGenError(f"{type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------ results
    def _handle(self, event: Event) -> None:
        job = self.running.get(event.job_id)
        if job is None or event.job_id in self._pending:
            return
        if event.kind == JobEvent.CHUNK:
            self._notify(job.id, JobEvent.CHUNK, event.audio)
        elif event.kind == JobEvent.ERROR:
            assert event.error is not None
            self._fail(job, event.error)
        elif event.kind == JobEvent.RETRY:  # its run was lost with the machine it ran on
            self._settle(job, self._requeue_step(job, event.error))
        else:
            assert event.audio is not None
            self.audio_seconds += event.audio.duration
            store = self._store_step(job, event.audio, event.stems or {}, event.worker)
            self._settle(job, store)

    # Settling a job is a chain of steps (store the files, record the outcome, announce it).
    # A step that fails on the database is kept and retried on the next turns, with the job
    # still in ``running`` (so it keeps its heartbeat and nobody else takes it over); a storage
    # failure fails the job with its reason.
    def _settle(self, job: Job, step: Step | None, tries: int = 0) -> None:
        while step is not None:
            current: Step = step
            try:
                step = current()
            except SQLAlchemyError as exc:
                self._problem("database", f"database unreachable: {type(exc).__name__}")
                log.warning("job %s: its outcome could not be written yet (%s); will retry",
                            job.id, type(exc).__name__)  # fmt: skip
                self._pending[job.id] = (current, tries)
                return
            except Exception as exc:
                if tries >= UNKNOWN_ERROR_RETRIES:
                    log.error("job %s: giving up settling it:\n%s", job.id, traceback.format_exc())
                    self._pending.pop(job.id, None)
                    self.running.pop(job.id, None)
                    return
                log.warning("job %s: settling failed (%s); will retry", job.id, exc)
                self._pending[job.id] = (current, tries + 1)
                return
        self.problems.pop("database", None)
        self._pending.pop(job.id, None)

    def _retry_pending(self) -> None:
        for job_id, (step, tries) in list(self._pending.items()):
            job = self.running.get(job_id)
            if job is None:  # cancelled meanwhile: nothing left to announce
                self._pending.pop(job_id, None)
                continue
            self._settle(job, step, tries)

    def _requeue_step(self, job: Job, error: MusicGenError | None) -> Step:
        """Back to the queue (another run, attempt counted), or failed after ``max_attempts``."""

        def requeue() -> Step | None:
            if job.attempts >= self.store.max_attempts:
                reason = error or GenerationFailed("its run was lost")
                details = {**reason.details, "attempts": job.attempts}
                lost = GenerationFailed(f"{reason.message} ({job.attempts} runs lost; giving up)",
                                        details=details)  # fmt: skip
                return self._fail_step(job, lost)
            self.store.release(job, reason="lost")
            self.running.pop(job.id, None)  # (its inputs stay for the next run)
            self.wake()
            return None

        return requeue

    def _store_step(
        self,
        job: Job,
        audio: AudioOutput,
        stems: dict[str, AudioOutput],
        runner: str | None = None,
    ) -> Step:
        def store() -> Step | None:
            spec = JobSpec.from_stored(job.params, job.model)
            fmt, rate = spec.format, spec.sample_rate
            db, account, node = self.store.db, job.account_id, self.node
            written: list[AudioFile] = []
            try:
                record = store_audio(db, self.storage, audio, account, job.id, fmt, rate, node)
                written.append(record)
                extra = {}
                for name, stem in stems.items():
                    extra[name] = store_audio(db, self.storage, stem, account, job.id, fmt,
                                              rate, node)  # fmt: skip
                    written.append(extra[name])
                midi = None
                if audio.midi is not None:
                    midi = store_file(db, self.storage, audio.midi, account, job.id, "mid", audio,
                                      node)  # fmt: skip
                    written.append(midi)
            except InvalidInput as exc:
                self._discard(written)
                return self._fail_step(job, exc)
            except OSError as exc:
                self._discard(written)
                self._problem("storage", str(storage_failure(exc)), result_size(audio, stems))
                return self._fail_step(job, storage_failure(exc))
            except BaseException:
                self._discard(written)
                raise
            self.problems.pop("storage", None)
            result = {
                "duration": record.duration,
                "sample_rate": record.sample_rate,
                "channels": record.channels,
                "format": record.format,
                "metadata": jsonable(audio.metadata),
                "stems": {name: r.id for name, r in extra.items()},
                "midi_id": None if midi is None else midi.id,
            }
            if runner is not None:  # a Ray replica: which one ran it
                result["worker"] = runner
            return self._finish_step(job, result, record, written)

        return store

    def _finish_step(
        self, job: Job, result: dict[str, Any], record: AudioFile, written: list[AudioFile]
    ) -> Step:
        def finish() -> Step | None:
            if self.store.finish(job, result, record.id):
                self._ended(job)
                return self._announce_step(job, JobEvent.DONE, self.audio_url(record.id))
            # cancelled, or taken over by another worker that may have won: the files this
            # run wrote are nobody's result (and only those go; the winner's stay)
            self._ended(job)
            self._discard(written)
            return None

        return finish

    def _fail_step(self, job: Job, error: MusicGenError) -> Step:
        def fail() -> Step | None:
            won = self.store.fail(job, error.to_dict()["error"])
            self._ended(job)
            return self._announce_step(job, JobEvent.FAILED, None) if won else None

        return fail

    def _announce_step(self, job: Job, kind: JobEvent, audio_url: str | None) -> Step:
        def announce() -> Step | None:
            final = self.store.get(job.id)
            self.webhooks.enqueue(final, audio_url)
            self._notify(job.id, kind, final)
            return None

        return announce

    def _ended(self, job: Job) -> None:
        """The job left this worker for good: forget it and delete its downloaded inputs."""
        self.running.pop(job.id, None)
        self._claim_now.set()  # room for the next queued job
        self._remove_inputs(job)

    def _remove_inputs(self, job: Job) -> None:
        """Delete the job's input files that are scratch copies (under ``scratch_dir``)."""
        if self.scratch_dir is None:
            return
        scratch = self.scratch_dir.resolve()
        for name in INPUT_FILES:
            value = job.params.get(name)
            if isinstance(value, str) and Path(value).resolve().parent == scratch:
                Path(value).unlink(missing_ok=True)

    def _discard(self, written: list[AudioFile]) -> None:
        """Delete exactly these stored results (files first; rows when the database answers)."""
        for record in written:
            self.storage.delete(record.key)
            remove_conversions(self.storage, record.id)
        ids = [record.id for record in written]
        if ids:
            try:
                with self.store.db.session.begin() as s:
                    s.execute(delete(AudioFile).where(AudioFile.id.in_(ids)))
            except SQLAlchemyError:
                log.warning("could not delete the rows of discarded audio %s", ids)

    def _delete_files(self, job_id: str) -> None:
        """Retention: every stored file of an expired job (and its conversions)."""
        with self.store.db.session.begin() as s:
            for record in s.scalars(select(AudioFile).where(AudioFile.job_id == job_id)):
                self.storage.delete(record.key)
                remove_conversions(self.storage, record.id)
                s.delete(record)

    def _fail(self, job: Job, error: MusicGenError) -> None:
        self.backend.cancel(job.id)
        self._settle(job, self._fail_step(job, error))

    def _problem(self, dependency: str, message: str, size: int = 0) -> None:
        self.problems[dependency] = (message, size)

    def health_problems(self) -> list[str]:
        """What is broken now (storage full or read-only, database unreachable); a storage
        problem clears once a write of the size that failed would fit again."""
        if "storage" in self.problems:
            size = self.problems["storage"][1]
            probe = getattr(self.storage, "probe", None)
            if probe is not None:
                try:
                    probe(size)
                    self.problems.pop("storage", None)
                except OSError:
                    pass
        return [message for message, _ in self.problems.values()]

    def _notify(self, job_id: str, kind: JobEvent, payload: Any) -> None:
        listener = self.listeners.get(job_id)
        if listener is not None:
            try:
                listener(kind, payload)
            except Exception:
                log.warning("listener for job %s failed", job_id)
