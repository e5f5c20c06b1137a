"""Songs beside MusicGen jobs in one worker: each runner has its own capacity, so songs that
fill the song runner never hold up another account's MusicGen job (issue 20, item 7)."""

from __future__ import annotations

from pathlib import Path

from service_helpers import wait_until

from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import open_database
from music_gen.service.core.infra.storage import LocalStorage
from music_gen.service.core.infra.webhooks import Dispatcher
from music_gen.service.core.jobs.jobs import JobStore, NewJob
from music_gen.service.core.jobs.spec import JobSpec
from music_gen.service.core.runners.backends import ModelBackend
from music_gen.service.core.runners.worker import Worker

LYRICS = "[verse]\nwalking down the street"


def _worker(tmp: Path, models: dict, capacity: int) -> tuple[Worker, JobStore, KeyStore]:
    db = open_database(f"sqlite:///{tmp / 'jobs.db'}")
    keys = KeyStore(db)
    store = JobStore(db)
    backend = ModelBackend(models.__getitem__, capacity=capacity)
    worker = Worker(store, backend, LocalStorage(tmp / "audio"),
                    Dispatcher(db, keys.webhook_secret, allow_loopback=True),
                    audio_url=lambda audio_id: audio_id, worker_id="w")  # fmt: skip
    return worker, store, keys


def test_a_musicgen_job_starts_while_songs_fill_their_runner(tmp_path, songs, mono):
    worker, store, keys = _worker(tmp_path, {"song": songs, "mono": mono}, capacity=2)
    a, b = keys.account("a").id, keys.account("b").id
    song = {"prompt": "upbeat pop song", "lyrics": LYRICS, "duration": 2.0, "steps": 40}
    ids = [store.create(NewJob(a, JobSpec(model="song", seed=i, **song)))[0].id for i in range(4)]
    worker.turn()  # the song runner takes two songs (its capacity), two stay queued
    assert [store.get(i).status for i in ids] == ["running", "running", "queued", "queued"]

    tune, _ = store.create(NewJob(b, JobSpec(model="mono", prompt="tune", duration=1.0, seed=7)))
    worker.wake()  # as a submission in this process does
    seen: list[tuple[str, list[str]]] = []  # (the tune's status, the songs') after each turn

    def turn() -> bool:
        worker.turn()
        statuses = [store.get(i).status for i in ids]
        seen.append((store.get(tune.id).status, statuses))
        assert "failed" not in [*statuses, seen[-1][0]]
        return all(s == "succeeded" for s in [*statuses, seen[-1][0]])

    wait_until(turn, 300, "the songs and the tune to succeed", interval=0.01)

    # the MusicGen job started at once: before any song ended (and so before the queued songs
    # could start); before the fix it waited for a song to end, then behind the queued songs
    started = next(songs_then for tune_status, songs_then in seen if tune_status != "queued")
    assert started == ["running", "running", "queued", "queued"]
