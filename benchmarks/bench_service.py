"""Service overhead benchmark: what the HTTP service adds around the engine.

Runs the real app under uvicorn on 127.0.0.1 with the trivial ``test-tone`` engine (no model;
one step per 0.1 s of audio), so what is measured is HTTP, validation, the database, the
worker loop, audio encoding and storage. Prints one table:

- per job, one at a time: submit → done (server timestamps) minus the engine's own time;
- throughput: N jobs submitted by concurrent clients, jobs finished per second.

    python benchmarks/bench_service.py --jobs 200 --clients 8
    python benchmarks/bench_service.py --postgres   # a scratch database on the local server
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_helpers import postgres_database, start_server


def _parse(value: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _wait(client: httpx.Client, task_id: str) -> dict:
    while True:
        body = client.get(f"/generate/{task_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--duration", type=float, default=0.1)
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database")
    args = parser.parse_args()
    if args.postgres:
        with postgres_database() as url:
            run(args, url)
    else:
        run(args, None)


def run(args: argparse.Namespace, database_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="music-gen-service-bench-"))
    srv = start_server(
        tmp,
        engine="test-tone",
        rate_limit="1000000/minute",
        max_concurrent_per_account=1000,
        max_batch=16,
        database_url=database_url,
    )
    key = srv.key("bench")
    body = {"prompt": "benchmark", "duration": args.duration, "seed": 1}
    rows = []
    try:
        with srv.client(key) as client:
            overheads, engine = [], []
            for _ in range(args.sequential):
                before = srv.state.worker.engine_seconds
                task = client.post("/generate", json=body).json()
                done = _wait(client, task["task_id"])
                spent = srv.state.worker.engine_seconds - before
                wall = (_parse(done["finished_at"]) - _parse(done["created_at"])).total_seconds()
                overheads.append(wall - spent)
                engine.append(spent)
            rows.append(("one job at a time: overhead ms (median)",
                         f"{1000 * statistics.median(overheads):.1f}"))  # fmt: skip
            rows.append(("one job at a time: overhead ms (p90)",
                         f"{1000 * statistics.quantiles(overheads, n=10)[-1]:.1f}"))  # fmt: skip
            rows.append(
                ("engine ms per job (test-tone)", f"{1000 * statistics.median(engine):.2f}")
            )

        lock = threading.Lock()
        ids: list[str] = []
        local = threading.local()

        def submit(_: int) -> None:
            if not hasattr(local, "client"):  # one connection per client thread
                local.client = srv.client(key)
            task_id = local.client.post("/generate", json=body).json()["task_id"]
            with lock:
                ids.append(task_id)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(submit, range(args.jobs)))
        submitted = time.perf_counter() - started
        with srv.client(key) as client:
            for task_id in ids:
                _wait(client, task_id)
        total = time.perf_counter() - started
        rows.append(
            (f"submit rate, {args.clients} clients (req/s)", f"{args.jobs / submitted:.0f}")
        )
        rows.append((f"throughput, {args.jobs} jobs (jobs/s)", f"{args.jobs / total:.1f}"))
    finally:
        srv.stop()
    db = "PostgreSQL" if database_url else "SQLite"
    print(f"\nmusic-gen service overhead ({db}, test-tone engine, {args.duration:g} s jobs)")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
