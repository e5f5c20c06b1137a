"""The in-process worker: claims queued jobs, decodes them together, stores the results.

One thread owns the models (the backend). Each turn of its loop:
1. housekeeping on a timer: heartbeats and progress of running jobs, requeueing jobs whose
   worker died (``JobStore.requeue_stale``), noticing jobs cancelled by another process, and
   deleting results older than the retention period;
2. admitting: claims as many queued jobs as the backend has free slots (at most
   ``max_concurrent_per_account`` running per account) and submits them — invalid parameters
   fail the job with their error code;
3. one backend step; finished jobs get their audio stored and their webhook queued; chunks of
   streaming jobs go to their listener (the WebSocket that asked for them).

Stopping releases the running jobs back to the queue; a crash leaves them running, and the
next start requeues them (the same worker id) — so no accepted job is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..audio import AudioOutput
from ..errors import GenerationFailed, InvalidInput, MusicGenError
from .backends import Backend, Event
from .db import AudioFile, Database, Job, utcnow
from .jobs import JobStore
from .storage import Storage
from .webhooks import Dispatcher

__all__ = ["Worker", "store_audio"]

log = logging.getLogger("music_gen.worker")

Listener = Callable[[str, Any], None]  # (event kind, payload)


def store_audio(
    db: Database,
    storage: Storage,
    audio: AudioOutput,
    account_id: str,
    job_id: str | None,
    format: str = "wav",
    sample_rate: int | None = None,
) -> AudioFile:
    if sample_rate is not None and sample_rate != audio.sample_rate:
        audio = audio.resample(sample_rate)
    data = audio.to_bytes(format)
    return store_file(db, storage, data, account_id, job_id, format, audio)


def store_file(
    db: Database,
    storage: Storage,
    data: bytes,
    account_id: str,
    job_id: str | None,
    format: str,
    audio: AudioOutput,
) -> AudioFile:
    """Store encoded ``data`` (audio, or ``format="mid"`` for MIDI) under a fresh random id."""
    audio_id = secrets.token_urlsafe(18)
    key = f"{audio_id}.{format}"
    storage.put(key, data)
    record = AudioFile(
        id=audio_id,
        job_id=job_id,
        account_id=account_id,
        key=key,
        format=format,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        duration=audio.duration,
        size=len(data),
    )
    with db.session.begin() as s:
        s.add(record)
    return record


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
        self.running: dict[str, Job] = {}
        self.progress: dict[str, float] = {}  # running job id -> progress, refreshed every step
        self.listeners: dict[str, Listener] = {}
        self.last_beat = time.monotonic()
        self.engine_seconds = 0.0  # time spent in backend steps (for the overhead benchmark)
        self.audio_seconds = 0.0
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timers: dict[str, float] = {}

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self.store.requeue_stale(self.lease, worker_id=self.worker_id)
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
            try:
                busy = self.turn()
            except Exception:
                log.error("worker turn failed:\n%s", traceback.format_exc())
                busy = False
                time.sleep(0.5)
            if not busy:
                self._wake.wait(0.25)
                self._wake.clear()

    def turn(self) -> bool:
        self._every("beat", self.lease / 3, self._beat)
        self._every("reap", max(1.0, self.lease / 2), self._reap)
        self._every("retention", 600.0, self._expire)
        self._apply_cancellations()
        self._admit()
        if not self.backend.active():
            return False
        started = time.perf_counter()
        try:
            events = self.backend.step()
        except Exception as exc:  # a backend bug fails its jobs, not the loop
            log.error("backend step failed:\n%s", traceback.format_exc())
            error = GenerationFailed(f"{type(exc).__name__}: {exc}")
            events = [Event(job_id, "error", error=error) for job_id in list(self.running)]
        self.engine_seconds += time.perf_counter() - started
        for event in events:
            self._handle(event)
        self.progress = {job_id: self.backend.progress(job_id) for job_id in self.running}
        return True

    def _every(self, name: str, seconds: float, action: Callable[[], None]) -> None:
        now = time.monotonic()
        if now - self._timers.get(name, 0.0) >= seconds:
            self._timers[name] = now
            action()

    def _beat(self) -> None:
        self.last_beat = time.monotonic()
        jobs = list(self.running.values())
        if jobs:
            self.store.heartbeat(jobs, self.progress)

    def _reap(self) -> None:
        if self.store.requeue_stale(self.lease):
            self._wake.set()
        # jobs cancelled through another server process sharing this database
        for job_id, status in self.store.statuses(list(self.running)).items():
            if status != "running":
                self.cancel(job_id)

    def _expire(self) -> None:
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
            if job_id in self.running:
                self.backend.cancel(job_id)
                self.running.pop(job_id)
                self._notify(job_id, "cancelled", None)

    def _admit(self) -> None:
        free = self.backend.capacity - self.backend.active()
        for job in self.store.claim(self.worker_id, free, self.per_account):
            self.running[job.id] = job
            try:
                self.backend.submit(job.id, job.model, job.params, stream=job.kind == "stream")
            except MusicGenError as exc:
                self._fail(job, exc)
            except Exception as exc:
                self._fail(job, MusicGenError(f"{type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------ results
    def _handle(self, event: Event) -> None:
        job = self.running.get(event.job_id)
        if job is None:
            return
        if event.kind == "chunk":
            self._notify(job.id, "chunk", event.audio)
        elif event.kind == "error":
            assert event.error is not None
            self._fail(job, event.error)
        else:
            assert event.audio is not None
            self._succeed(job, event.audio, event.stems or {})

    def _succeed(self, job: Job, audio: AudioOutput, stems: dict[str, AudioOutput]) -> None:
        self.running.pop(job.id, None)
        self.audio_seconds += audio.duration
        fmt, rate = job.params.get("format") or "wav", job.params.get("sample_rate")
        db, account = self.store.db, job.account_id
        try:
            record = store_audio(db, self.storage, audio, account, job.id, fmt, rate)
            extra = {name: store_audio(db, self.storage, stem, account, job.id, fmt, rate).id
                     for name, stem in stems.items()}  # fmt: skip
            midi = None
            if audio.midi is not None:
                midi = store_file(db, self.storage, audio.midi, account, job.id, "mid", audio).id
        except InvalidInput as exc:
            self._fail(job, exc)
            return
        result = {
            "duration": record.duration,
            "sample_rate": record.sample_rate,
            "channels": record.channels,
            "format": record.format,
            "metadata": _jsonable(audio.metadata),
            "stems": extra,
            "midi_id": midi,
        }
        if self.store.finish(job, result, record.id):
            final = self.store.get(job.id)
            self.webhooks.enqueue(final, self.audio_url(record.id))
            self._notify(job.id, "done", final)
        else:  # cancelled (or reclaimed) meanwhile: the files are not anyone's result
            self._delete_files(job.id)

    def _delete_files(self, job_id: str) -> None:
        from sqlalchemy import select

        with self.store.db.session.begin() as s:
            for record in s.scalars(select(AudioFile).where(AudioFile.job_id == job_id)):
                self.storage.delete(record.key)
                s.delete(record)

    def _fail(self, job: Job, error: MusicGenError) -> None:
        self.running.pop(job.id, None)
        self.backend.cancel(job.id)
        if self.store.fail(job, error.to_dict()["error"]):
            final = self.store.get(job.id)
            self.webhooks.enqueue(final, None)
            self._notify(job.id, "failed", final)

    def _notify(self, job_id: str, kind: str, payload: Any) -> None:
        listener = self.listeners.get(job_id)
        if listener is not None:
            try:
                listener(kind, payload)
            except Exception:
                log.warning("listener for job %s failed", job_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
