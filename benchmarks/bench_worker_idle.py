"""The worker loop while a song runs in the song runner's own thread: wall time, process CPU and
worker turns per second, with the loop as before (a busy turn never waits: ``--spin``) and as
now (a busy turn that did no work of its own waits ``IDLE_TURN_WAIT``).

One in-process worker (SQLite), the tiny test song pipeline, one song (8 s, 60 steps), one
torch thread (set ``OMP_NUM_THREADS=1``). Run each mode in its own process:

    OMP_NUM_THREADS=1 python benchmarks/bench_worker_idle.py --spin
    OMP_NUM_THREADS=1 python benchmarks/bench_worker_idle.py
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spin", action="store_true", help="the loop as before the change")
    args = parser.parse_args()

    from music_gen import MusicGenerator
    from music_gen.service.core.infra.auth import KeyStore
    from music_gen.service.core.infra.db import open_database
    from music_gen.service.core.infra.storage import LocalStorage
    from music_gen.service.core.infra.webhooks import Dispatcher
    from music_gen.service.core.jobs.jobs import JobStore, NewJob
    from music_gen.service.core.jobs.spec import JobSpec
    from music_gen.service.core.runners import worker as worker_module
    from music_gen.service.core.runners.backends import ModelBackend
    from music_gen.testing import make_tiny_song_pipeline

    if args.spin:
        worker_module.IDLE_TURN_SECONDS = 0.0  # never wait while a job runs
    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-idle-"))
    songs = MusicGenerator(str(make_tiny_song_pipeline(tmp / "song")), device="cpu")
    db = open_database(f"sqlite:///{tmp / 'jobs.db'}")
    keys, store = KeyStore(db), JobStore(db)
    worker = worker_module.Worker(
        store, ModelBackend({"song": songs}.__getitem__, capacity=2), LocalStorage(tmp / "audio"),
        Dispatcher(db, keys.webhook_secret, allow_loopback=True),
        audio_url=lambda audio_id: audio_id, worker_id="w",
    )  # fmt: skip
    turns = 0
    turn = worker.turn

    def counted() -> bool:
        nonlocal turns
        turns += 1
        return turn()

    worker.turn = counted  # type: ignore[method-assign]
    song = JobSpec(model="song", seed=1, prompt="upbeat pop", lyrics="[verse]\nla la la",
                   duration=8.0, steps=60)  # fmt: skip
    job, _ = store.create(NewJob(keys.account("a").id, song))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    threading.Thread(target=worker._run, daemon=True).start()
    worker.wake()
    while store.get(job.id).status not in ("succeeded", "failed"):
        time.sleep(0.05)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    worker._stop.set()
    mode = "before (spins)" if args.spin else "now (waits 2 ms)"
    print("| loop | song | wall s | CPU s | worker turns/s |\n|---|---|---:|---:|---:|")
    print(f"| {mode} | {store.get(job.id).status} | {wall:.2f} | {cpu:.2f} | {turns / wall:,.0f} |")


if __name__ == "__main__":
    main()
