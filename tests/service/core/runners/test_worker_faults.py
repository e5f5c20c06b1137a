"""The worker and the job store under faults, driven directly (no HTTP): a losing run after a
takeover, storage and database write failures while finishing, jobs failed by the lease reaper,
fair claims across accounts, and the clean-up of scratch inputs (issue 14, findings 1-3, 9)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from music_gen.audio import AudioOutput
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import AudioFile, Database, Job, WebhookDelivery, open_database
from music_gen.service.core.infra.storage import LocalStorage
from music_gen.service.core.infra.webhooks import Dispatcher
from music_gen.service.core.jobs.jobs import JobStore, NewJob
from music_gen.service.core.jobs.spec import JobSpec
from music_gen.service.core.runners.backends import Event, ToneBackend
from music_gen.service.core.runners.worker import Worker


def _spec(prompt: str, duration: float = 1.0, model: str = "m") -> JobSpec:
    return JobSpec(model=model, prompt=prompt, duration=duration, seed=1)


class Rig:
    """A database, an account, a job store, storage and webhooks in ``tmp``."""

    def __init__(self, tmp: Path, storage: Any = None) -> None:
        self.db: Database = open_database(f"sqlite:///{tmp / 'jobs.db'}")
        self.keys = KeyStore(self.db)
        self.account = self.keys.account("acct").id
        self.store = JobStore(self.db, max_attempts=3)
        self.storage = storage or LocalStorage(tmp / "audio")
        self.webhooks = Dispatcher(self.db, self.keys.webhook_secret, allow_loopback=True)

    def worker(self, worker_id: str, backend: Any = None, **kw: Any) -> Worker:
        return Worker(
            self.store,
            backend or ToneBackend(),
            self.storage,
            self.webhooks,
            audio_url=lambda audio_id: f"http://127.0.0.1:9/audio/{audio_id}",
            worker_id=worker_id,
            lease_seconds=kw.pop("lease_seconds", 30.0),
            **kw,
        )

    def job(self, webhook_url: str | None = None, **fields: Any) -> Job:
        spec = JobSpec(model="test-tone", **{"prompt": "x", "duration": 0.2, "seed": 1, **fields})
        job, _ = self.store.create(NewJob(self.account, spec, webhook_url=webhook_url))
        return job

    def deliveries(self, job_id: str) -> list[WebhookDelivery]:
        with self.db.session() as s:
            rows = s.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id))
            return list(rows)

    def audio_rows(self, job_id: str) -> list[AudioFile]:
        with self.db.session() as s:
            return list(s.scalars(select(AudioFile).where(AudioFile.job_id == job_id)))


def _run(worker: Worker, job_id: str, turns: int = 200) -> Job:
    for _ in range(turns):
        worker.turn()
        if job_id not in worker.running and worker.store.get(job_id).status != "queued":
            break
    return worker.store.get(job_id)


def _tone() -> AudioOutput:
    return AudioOutput(np.zeros((1, 3200), np.float32), 32000, {"engine": "test"})


# ---------------------------------------------------------------- finding 1: the lost result
def test_a_losing_run_deletes_only_the_files_it_wrote(tmp_path):
    rig = Rig(tmp_path)
    job = rig.job()
    a = rig.worker("A")
    [claimed_by_a] = rig.store.claim("A", 1, 10)
    a.running[job.id] = claimed_by_a
    # A stalls (SIGSTOP) past its lease; B takes the job over and succeeds
    assert rig.store.requeue_stale(0.0) == 1
    b = rig.worker("B")
    winner = _run(b, job.id)
    assert winner.status == "succeeded" and winner.worker_id == "B"
    # A resumes inside its step and hands in its own, late result
    a._handle(Event(job.id, "done", _tone()))
    final = rig.store.get(job.id)
    assert final.status == "succeeded" and final.audio_id == winner.audio_id
    rows = rig.audio_rows(job.id)
    assert [r.id for r in rows] == [winner.audio_id]  # B's row kept, A's own removed
    assert rig.storage.exists(rows[0].key)
    assert len(list((tmp_path / "audio").iterdir())) == 1  # A's file is gone too


# ---------------------------------------------------------------- finding 2: write failures
class FullStorage(LocalStorage):
    """Local storage on a disk that has just filled up (or turned read-only)."""

    def __init__(self, root: Path, error: int) -> None:
        super().__init__(root)
        self.error = error

    def put(self, key: str, data: bytes) -> None:
        raise OSError(self.error, Path(key).name)

    def probe(self, size: int = 0) -> None:
        raise OSError(self.error, "probe")


@pytest.mark.parametrize(
    ("error", "code"), [(errno.ENOSPC, "STORAGE_FULL"), (errno.EROFS, "STORAGE_UNAVAILABLE")]
)
def test_a_storage_write_failure_fails_the_job_with_its_reason(tmp_path, error, code):
    rig = Rig(tmp_path, FullStorage(tmp_path / "audio", error))
    job = rig.job(webhook_url="http://127.0.0.1:9/hook")
    worker = rig.worker("W")
    final = _run(worker, job.id)
    assert final.status == "failed", "the job must not stay running forever"
    assert (final.error or {}).get("code") == code
    assert job.id not in worker.running
    assert len(rig.deliveries(job.id)) == 1  # its webhook says so
    assert worker.health_problems() and code.split("_")[0].lower() in worker.health_problems()[0]


def test_a_database_failure_while_finishing_is_retried(tmp_path, monkeypatch):
    rig = Rig(tmp_path)
    job = rig.job()
    worker = rig.worker("W")
    real_finish = rig.store.finish
    calls = []

    def flaky_finish(*args: Any, **kw: Any) -> bool:
        calls.append(1)
        if len(calls) <= 2:  # the connection was terminated, twice
            raise OperationalError("UPDATE jobs", {}, Exception("server closed the connection"))
        return real_finish(*args, **kw)

    monkeypatch.setattr(rig.store, "finish", flaky_finish)
    for _ in range(200):
        worker.turn()
        if rig.store.get(job.id).status == "succeeded":
            break
    final = rig.store.get(job.id)
    assert final.status == "succeeded" and len(calls) == 3
    assert job.id not in worker.running
    assert [r.id for r in rig.audio_rows(job.id)] == [final.audio_id]  # one result, no strays


def test_a_result_waiting_for_the_database_is_dropped_if_the_job_was_taken_over(
    tmp_path, monkeypatch
):
    rig = Rig(tmp_path)
    job = rig.job()
    a = rig.worker("A")
    real_finish = rig.store.finish

    def down(*args: Any, **kw: Any) -> bool:
        raise OperationalError("UPDATE jobs", {}, Exception("terminating connection"))

    monkeypatch.setattr(rig.store, "finish", down)
    for _ in range(200):
        a.turn()
        if rig.audio_rows(job.id):  # A stored its result, then could not record it
            break
    monkeypatch.setattr(rig.store, "finish", real_finish)
    assert rig.store.requeue_stale(0.0) == 1  # meanwhile A's lease ran out
    winner = _run(rig.worker("B"), job.id)
    assert winner.status == "succeeded"
    a.turn()  # A retries: its finish is refused, so it deletes what it wrote
    assert [r.id for r in rig.audio_rows(job.id)] == [winner.audio_id]
    assert len(list((tmp_path / "audio").iterdir())) == 1
    assert job.id not in a.running


def test_one_bad_event_does_not_stop_the_others(tmp_path, monkeypatch):
    rig = Rig(tmp_path)
    first, second = rig.job(), rig.job(seed=2)
    worker = rig.worker("W")
    calls = []
    real = worker.webhooks.enqueue

    def broken_once(job: Job, url: Any) -> None:
        calls.append(job.id)
        if len(calls) == 1:
            raise RuntimeError("boom")
        real(job, url)

    monkeypatch.setattr(worker.webhooks, "enqueue", broken_once)
    _run(worker, first.id)
    _run(worker, second.id)
    assert rig.store.get(first.id).status == "succeeded"
    assert rig.store.get(second.id).status == "succeeded"
    assert not worker.running


# ---------------------------------------------------------------- finding 3: reaper webhooks
def test_jobs_failed_by_the_reaper_send_their_webhook(tmp_path):
    rig = Rig(tmp_path)
    job = rig.job(webhook_url="http://127.0.0.1:9/hook")
    for _ in range(3):  # interrupted three times
        rig.store.claim("gone", 1, 10)
        rig.store.requeue_stale(0.0)
    assert rig.store.get(job.id).status == "failed"
    doomed = rig.job(webhook_url="http://127.0.0.1:9/hook")
    for _ in range(2):
        rig.store.claim("gone", 1, 10)
        rig.store.requeue_stale(0.0)
    rig.store.claim("gone", 1, 10)  # third run, and its worker dies too
    worker = rig.worker("W", lease_seconds=0.001)
    worker.turn()  # the reaper fails it (third interruption)
    final = rig.store.get(doomed.id)
    assert final.status == "failed" and (final.error or {}).get("code") == "GENERATION_FAILED"
    [delivery] = rig.deliveries(doomed.id)
    assert '"task.failed"' in delivery.body


# ---------------------------------------------------------------- finding 9: fair claims
def test_claims_are_fair_across_accounts(tmp_path):
    rig = Rig(tmp_path)
    other = rig.keys.account("other").id
    for _ in range(224):  # one account's backlog, all older than the other's job
        rig.store.create(NewJob(rig.account, _spec("x")))
    late, _ = rig.store.create(NewJob(other, _spec("y")))
    claimed = rig.store.claim("W", 4, per_account=2)
    assert late.id in [j.id for j in claimed]
    assert sorted(j.account_id for j in claimed).count(rig.account) == 2


# ---------------------------------------------------------------- finding 9: scratch inputs
def test_downloaded_inputs_are_deleted_when_their_job_ends(tmp_path):
    rig = Rig(tmp_path)
    scratch = tmp_path / "inputs"
    scratch.mkdir()
    clip, nested, kept = scratch / "clip.wav", scratch / "ref.wav", tmp_path / "mine.wav"
    for path in (clip, nested, kept):
        _tone().save(path)
    job = rig.job(continuation=str(clip), reference=str(nested), melody=str(kept))
    worker = rig.worker("W", scratch_dir=scratch)
    assert _run(worker, job.id).status == "succeeded"
    assert not clip.exists() and not nested.exists()
    assert kept.exists()  # only scratch files are the worker's to delete


def test_one_audio_row_per_result(tmp_path):
    """Sanity for the tests above: a normal run stores exactly one row and file."""
    rig = Rig(tmp_path)
    job = rig.job()
    final = _run(rig.worker("W"), job.id)
    with rig.db.session() as s:
        n = s.scalar(select(func.count()).select_from(AudioFile).where(AudioFile.job_id == job.id))
    assert final.status == "succeeded" and n == 1
