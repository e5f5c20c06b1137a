"""Ray hop benchmark: the in-process worker against the same worker on Ray Serve replicas.

One process, one run: a local Ray cluster (CPU replicas), a scratch PostgreSQL database, and
for each engine (``test-tone``: no model, so only the dispatch is measured; the tiny random
checkpoint: a real MusicGen decode) three back ends behind the same ``Worker`` and job store:

- ``in-process``: ``make_backend`` behind the worker in one process (the embedded default; run
  in a fresh process with one torch thread, as a replica has);
- ``ray x1`` / ``ray x2``: ``RayBackend`` on one / two ``Generator`` replicas (0.5 logical CPU
  each: Ray gives each one torch thread).

Per back end: the latency of single jobs run one at a time (create -> settled, the result
stored), and the throughput of a burst of jobs submitted together; beside them "engine only",
the backend stepped directly in this process (no worker, no database), the floor. Overheads: a
single job's latency minus the engine's, and minus the in-process worker's (the Ray hop).
Prints one table.

    python benchmarks/bench_ray.py --jobs 16 --single 5 --duration 1.0
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_helpers import postgres_database

from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import open_database
from music_gen.service.core.infra.settings import Settings
from music_gen.service.core.infra.storage import LocalStorage
from music_gen.service.core.infra.webhooks import Dispatcher
from music_gen.service.core.jobs.jobs import JobStore, NewJob
from music_gen.service.core.jobs.spec import JobSpec
from music_gen.service.core.runners.backends import make_backend
from music_gen.service.core.runners.worker import Worker


class Rig:
    """A worker on ``backend`` with its job store on ``url``; ``run`` times a set of jobs."""

    def __init__(self, url: str, tmp: Path, backend: Any, model: str, name: str) -> None:
        self.db = open_database(url)
        keys = KeyStore(self.db)
        self.account = keys.account(f"bench-{name}").id
        self.store = JobStore(self.db)
        self.model = model
        self.worker = Worker(
            self.store,
            backend,
            LocalStorage(tmp / name),
            Dispatcher(self.db, keys.webhook_secret),
            audio_url=lambda audio_id: audio_id,
            worker_id=f"bench-{name}",
            per_account=1000,
        )
        self.worker.start()

    def run(self, n: int, duration: float, seed: int) -> list[float]:
        """Submit ``n`` jobs at once; seconds from each one's creation to its settling."""
        done: dict[str, float] = {}
        finished = threading.Event()
        started: dict[str, float] = {}

        def listener(job_id: str) -> Any:
            def heard(kind: str, payload: Any) -> None:
                if kind in ("done", "failed"):
                    assert kind == "done", payload.error
                    done[job_id] = time.perf_counter()
                    if len(done) == n:
                        finished.set()

            return heard

        for i in range(n):
            spec = JobSpec(model=self.model, prompt=f"bench {i}", duration=duration, seed=seed + i)
            job, _ = self.store.create(NewJob(self.account, spec))
            self.worker.listen(job.id, listener(job.id))
            started[job.id] = time.perf_counter()
        self.worker.wake()
        if not finished.wait(600):
            raise RuntimeError("jobs did not finish in 600 s")
        return [done[i] - started[i] for i in started]

    def close(self) -> None:
        self.worker.stop()
        self.db.dispose()


def engine_only(backend: Any, model: str, args: argparse.Namespace) -> float:
    """Median seconds of one job on the backend alone (no worker, no database): the floor."""
    times = []
    for i in range(args.single + 1):  # (the first one warms up)
        spec = JobSpec(model=model, prompt=f"bench {i}", duration=args.duration, seed=10 + i)
        t0 = time.perf_counter()
        backend.submit(f"engine-{i}", spec, False)
        while not any(event.kind == "done" for event in backend.step()):
            pass
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def measure(rig: Rig, args: argparse.Namespace) -> dict[str, float]:
    rig.run(2, args.duration, seed=1)  # warm-up (first model use, routes)
    single = [rig.run(1, args.duration, seed=10 + i)[0] for i in range(args.single)]
    t0 = time.perf_counter()
    rig.run(args.jobs, args.duration, seed=100)
    wall = time.perf_counter() - t0
    return {"single": statistics.median(single), "jobs_per_s": args.jobs / wall}


def _local(kind: str, base: dict[str, Any], url: str, tmp: str, args: dict[str, Any]) -> Any:
    """One in-process measurement, run in a fresh process (``spawn``) with one torch thread,
    like a replica: torch used from two threads of one process (the floor in the main thread,
    the worker in its own) runs each much slower on this box, which would be measured as the
    worker's overhead."""
    import torch

    torch.set_num_threads(1)
    settings = Settings(**base)
    model = str(settings.model)
    ns = argparse.Namespace(**args)
    if kind == "engine":
        return {"single": engine_only(make_backend(settings), model, ns),
                "jobs_per_s": float("nan")}  # fmt: skip
    rig = Rig(url, Path(tmp), make_backend(settings), model, f"{model[-8:]}-local")
    try:
        return measure(rig, ns)
    finally:
        rig.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=16, help="jobs in the burst")
    parser.add_argument("--single", type=int, default=5, help="single jobs timed one by one")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds of audio per job")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=4, help="logical CPUs of the Ray cluster")
    parser.add_argument("--engines", default="test-tone,tiny")
    args = parser.parse_args()

    import ray
    from ray import serve

    from music_gen.service.core.runners.ray_backend import connect
    from music_gen.testing import make_tiny_checkpoint

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    serve.start(proxy_location="Disabled")
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp_name, postgres_database() as url:
        tmp = Path(tmp_name)
        tiny = str(make_tiny_checkpoint(tmp / "tiny", "mono", seed=0))
        for engine in args.engines.split(","):
            base = {"device": "cpu", "max_batch": args.max_batch, "database_url": url}
            if engine == "test-tone":
                base.update(engine="test-tone", model="test-tone")
            else:
                base.update(engine="fast", model=tiny)
            settings = Settings(**base)  # type: ignore[arg-type]
            spawn = multiprocessing.get_context("spawn")
            for kind, name in (("engine", "engine only"), ("worker", "in-process")):
                with spawn.Pool(1) as pool:
                    result = pool.apply(_local, (kind, base, url, str(tmp), vars(args)))
                rows.append((engine, name, result))
            for replicas in (1, 2):
                app = f"bench-{engine}-{replicas}"
                sizing = {"ray_address": "local", "ray_app": app, "ray_replicas": replicas,
                          "ray_cpus_per_replica": 0.5}  # fmt: skip
                ray_settings = Settings(**base, **sizing)  # type: ignore[arg-type]
                backend = connect(ray_settings)
                rig = Rig(url, tmp, backend, str(settings.model), f"{engine}-ray{replicas}")
                rows.append((engine, f"ray x{replicas}", measure(rig, args)))
                rig.close()
                backend.close()
                serve.delete(app)
            print(f"done: {engine}", file=sys.stderr, flush=True)
    serve.shutdown()
    ray.shutdown()

    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.jobs} jobs per burst, {args.duration} s of audio each, max_batch "
          f"{args.max_batch}")  # fmt: skip
    print(f"{'engine':<10} {'backend':<12} {'one job s':>10} {'over engine ms':>15} "
          f"{'vs in-process ms':>17} {'jobs/s':>8}")  # fmt: skip
    floor: dict[str, float] = {}
    local: dict[str, float] = {}
    for engine, name, result in rows:
        floor.setdefault(engine, result["single"])
        if name == "in-process":
            local[engine] = result["single"]
        over = (result["single"] - floor[engine]) * 1000
        hop = (result["single"] - local[engine]) * 1000 if engine in local else 0.0
        print(f"{engine:<10} {name:<12} {result['single']:>10.3f} {over:>15.1f} {hop:>17.1f} "
              f"{result['jobs_per_s']:>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
