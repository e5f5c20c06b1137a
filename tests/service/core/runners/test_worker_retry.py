"""The worker's path for a run lost with the machine it ran on (a Ray replica died: the backend
reports ``RETRY``), without Ray: the job goes back to the queue with its attempt counted and
runs again; after ``max_attempts`` lost runs it fails with the reason; a result names the
replica that made it (``worker``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from music_gen.errors import GenerationFailed
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import open_database
from music_gen.service.core.infra.storage import LocalStorage
from music_gen.service.core.infra.webhooks import Dispatcher
from music_gen.service.core.jobs.events import Event, JobEvent
from music_gen.service.core.jobs.jobs import JobStore, NewJob
from music_gen.service.core.jobs.spec import JobSpec
from music_gen.service.core.runners.backends import ToneBackend
from music_gen.service.core.runners.worker import Worker


class LosingBackend(ToneBackend):
    """A tone backend whose first ``losses`` runs are lost (as a dead replica's would be);
    the results it does make name a replica, as ``RayBackend``'s do."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses
        self.runs = 0

    def step(self) -> list[Event]:
        if self.jobs and self.runs < self.losses:
            self.runs += 1
            job_id = next(iter(self.jobs))
            del self.jobs[job_id]
            lost = GenerationFailed("ray-replica-x@host was lost: ActorDiedError")
            return [Event(job_id, JobEvent.RETRY, error=lost, worker="ray-replica-x@host")]
        events = super().step()
        for event in events:
            event.worker = "ray-replica-y@host"
        return events


def _run(tmp: Path, backend: Any, max_attempts: int = 3) -> Any:
    db = open_database(f"sqlite:///{tmp / 'jobs.db'}")
    keys = KeyStore(db)
    store = JobStore(db, max_attempts=max_attempts)
    worker = Worker(store, backend, LocalStorage(tmp / "audio"),
                    Dispatcher(db, keys.webhook_secret, allow_loopback=True),
                    audio_url=lambda audio_id: audio_id, worker_id="api-node")  # fmt: skip
    spec = JobSpec(model="test-tone", prompt="x", duration=0.2, seed=3)
    job, _ = store.create(NewJob(keys.account("acct").id, spec))
    for _ in range(200):
        worker.turn()
        final = store.get(job.id)
        if final.status in ("succeeded", "failed"):
            break
    db.dispose()
    return final


def test_a_lost_run_is_queued_again_and_its_rerun_names_its_replica(tmp_path):
    job = _run(tmp_path, LosingBackend(losses=1))
    assert job.status == "succeeded"
    assert job.attempts == 2  # the lost run counted
    assert job.result["worker"] == "ray-replica-y@host"


def test_a_job_lost_max_attempts_times_fails_with_the_reason(tmp_path):
    job = _run(tmp_path, LosingBackend(losses=10), max_attempts=2)
    assert job.status == "failed"
    assert job.attempts == 2
    assert job.error["code"] == "GENERATION_FAILED"
    assert "lost" in job.error["message"] and job.error["details"]["attempts"] == 2
