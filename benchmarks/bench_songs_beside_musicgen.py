"""Songs beside MusicGen jobs: how long another account's MusicGen job waits to start while one
account's songs fill the song runner (issue 20, item 7).

One in-process worker (SQLite, ``capacity`` jobs per runner), the tiny test models: account A
queues ``songs`` songs (2 s, 40 steps) and the worker claims what fits; then account B submits
a 1 s MusicGen job. Prints one table: how long after its submission B's job started and ended,
and when the first song ended (``-``: none had yet).

    python benchmarks/bench_songs_beside_musicgen.py --songs 4 12
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run(songs: int, capacity: int) -> tuple[float, float, float | None]:
    import torch

    from music_gen import MusicGenerator
    from music_gen.service.core.infra.auth import KeyStore
    from music_gen.service.core.infra.db import open_database
    from music_gen.service.core.infra.storage import LocalStorage
    from music_gen.service.core.infra.webhooks import Dispatcher
    from music_gen.service.core.jobs.jobs import JobStore, NewJob
    from music_gen.service.core.jobs.spec import JobSpec
    from music_gen.service.core.runners.backends import ModelBackend
    from music_gen.service.core.runners.worker import Worker
    from music_gen.testing import make_tiny_checkpoint, make_tiny_song_pipeline

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    mono = make_tiny_checkpoint(tmp / "mono", "mono", seed=0)
    models = {
        "mono": MusicGenerator(model=str(mono), device="cpu"),
        "song": MusicGenerator(model=str(make_tiny_song_pipeline(tmp / "song")), device="cpu"),
    }
    db = open_database(f"sqlite:///{tmp / 'jobs.db'}")
    keys, store = KeyStore(db), JobStore(db)
    worker = Worker(store, ModelBackend(models.__getitem__, capacity), LocalStorage(tmp / "a"),
                    Dispatcher(db, keys.webhook_secret, allow_loopback=True),
                    audio_url=lambda audio_id: audio_id, worker_id="w")  # fmt: skip
    a, b = keys.account("a").id, keys.account("b").id
    song = {"prompt": "upbeat pop song", "lyrics": "[verse]\nla la", "duration": 2.0, "steps": 40}
    ids = [store.create(NewJob(a, JobSpec(model="song", seed=i, **song)))[0].id
           for i in range(songs)]  # fmt: skip
    worker.turn()
    t0 = time.monotonic()
    tune, _ = store.create(NewJob(b, JobSpec(model="mono", prompt="tune", duration=1.0, seed=7)))
    worker.wake()
    started = first_song = None
    while True:
        worker.turn()
        now, status = time.monotonic() - t0, store.get(tune.id).status
        if started is None and status != "queued":
            started = now
        if first_song is None and any(store.get(i).status == "succeeded" for i in ids):
            first_song = now
        if status in ("succeeded", "failed"):
            assert started is not None
            return started, now, first_song


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--capacity", type=int, default=4)
    args = parser.parse_args()
    print("| songs queued | MusicGen job started (s) | ended (s) | first song ended (s) |")
    print("|---:|---:|---:|---:|")
    for n in args.songs:
        started, ended, first = run(n, args.capacity)
        first_s = "-" if first is None else f"{first:.2f}"
        print(f"| {n} | {started:.2f} | {ended:.2f} | {first_s} |")


if __name__ == "__main__":
    main()
