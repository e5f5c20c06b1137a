"""The service facing an operator's faults (issue 14, findings 2, 4, 5 and 9): full or
read-only storage, PostgreSQL cut off behind a proxy, several servers on one database, and
result conversions that must not outlive their result."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fault_helpers import CuttableProxy, SlowTone, start_server_with, tiny_tmpfs
from service_helpers import (
    free_port,
    keystore,
    postgres_database,
    start_server,
    wait_for,
    wait_until,
)
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from music_gen.service.core.infra.db import Job
from music_gen.service.core.infra.settings import Settings
from music_gen.service.core.state import ServiceState


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/health/ready", timeout=30)


# ---------------------------------------------------------------- finding 2: storage
def test_full_storage_fails_the_job_and_readiness_says_so(tmp_path):
    with tiny_tmpfs(tmp_path / "audio", size="64k"):
        srv = start_server(tmp_path, engine="test-tone")
        try:
            client = srv.client(srv.key())
            # 5 s of 32 kHz 16-bit WAV is 320 kB: more than the disk holds
            task = client.post("/generate", json={"prompt": "x", "duration": 5.0}).json()
            done = wait_for(client, task["task_id"])
            assert done["status"] == "failed", done
            assert done["error"]["code"] == "STORAGE_FULL"
            ready = _ready(srv.url)
            assert ready.status_code == 503 and "storage is full" in ready.json()["detail"]
            small = client.post("/generate", json={"prompt": "x", "duration": 0.2}).json()
            assert wait_for(client, small["task_id"])["status"] == "succeeded"  # what fits, works
        finally:
            srv.stop()


def test_read_only_storage_fails_the_job_and_readiness_says_so(tmp_path):
    with tiny_tmpfs(tmp_path / "audio", read_only=True):
        srv = start_server(tmp_path, engine="test-tone")
        try:
            ready = _ready(srv.url)  # noticed before any job tries to write
            assert ready.status_code == 503 and "cannot be written" in ready.json()["detail"]
            client = srv.client(srv.key())
            task = client.post("/generate", json={"prompt": "x", "duration": 0.2}).json()
            done = wait_for(client, task["task_id"])
            assert done["status"] == "failed" and done["error"]["code"] == "STORAGE_UNAVAILABLE"
        finally:
            srv.stop()


# ---------------------------------------------------------------- finding 4: PostgreSQL cut
def test_postgresql_cut_off_answers_503_and_creates_nothing(tmp_path):
    with postgres_database() as url:  # skips when 127.0.0.1:5432 does not answer
        real = make_url(url)
        proxy = CuttableProxy((real.host or "127.0.0.1", real.port or 5432))
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        srv = start_server(tmp_path, engine="test-tone", database_url=proxied)
        try:
            key = srv.key()
            client = srv.client(key)
            assert _ready(srv.url).status_code == 200
            proxy.cut()
            refused = client.post("/generate", json={"prompt": "x", "duration": 0.2})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
            assert int(refused.headers["Retry-After"]) > 0
            assert refused.headers.get("connection", "").lower() != "close"  # keep-alive kept
            assert client.get("/generate").status_code == 503
            ready = _ready(srv.url)
            assert ready.status_code == 503 and "database" in ready.json()["detail"]
            proxy.restore()
            wait_until(lambda: _ready(srv.url).status_code == 200, 30, "ready again",
                       interval=0.2)  # fmt: skip
            accepted = client.post("/generate", json={"prompt": "y", "duration": 0.2})
            assert accepted.status_code == 202, accepted.text
            assert wait_for(client, accepted.json()["task_id"])["status"] == "succeeded"
            with srv.state.db.session() as s:  # the refused request left no job behind
                assert s.scalar(select(func.count()).select_from(Job)) == 1
        finally:
            srv.stop()
            proxy.close()


def test_a_postgresql_server_that_never_answers_is_503_in_seconds(tmp_path):
    with postgres_database() as url:
        real = make_url(url)
        proxy = CuttableProxy((real.host or "127.0.0.1", real.port or 5432))
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        srv = start_server(tmp_path, engine="test-tone", database_url=proxied)
        try:
            client = srv.client(srv.key())
            proxy.blackhole()  # connections are accepted and never answered
            with httpx.Client(base_url=srv.url, headers=client.headers, timeout=60) as patient:
                r = patient.post("/generate", json={"prompt": "x", "duration": 0.2})
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
        finally:
            proxy.cut()
            srv.stop()
            proxy.close()


def test_postgresql_cut_while_a_job_finishes_is_retried_not_stuck(tmp_path):
    """The database goes away while the worker is inside the step that finishes a job and
    comes back: the job succeeds once (no rerun, no second file), it is never left running."""
    with postgres_database() as url:
        real = make_url(url)
        proxy = CuttableProxy((real.host or "127.0.0.1", real.port or 5432))
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        srv = start_server_with(tmp_path, SlowTone(2.0), database_url=proxied, lease_seconds=30.0)
        try:
            client = srv.client(srv.key())
            task = client.post("/generate", json={"prompt": "x", "duration": 0.1}).json()
            wait_until(lambda: client.get(f"/generate/{task['task_id']}").json()["status"]
                       == "running", 60, "the job to run", interval=0.02)  # fmt: skip
            proxy.cut()  # inside the 2 s step: the result arrives with no database
            time.sleep(4.0)
            proxy.restore()
            done = wait_for(client, task["task_id"], timeout=60)
            assert done["status"] == "succeeded" and done["attempts"] == 1, done
            assert len(list((tmp_path / "audio").iterdir())) == 1
        finally:
            srv.stop()
            proxy.close()


# ---------------------------------------------------------------- finding 5: several servers
def test_servers_sharing_a_data_directory_get_their_own_worker_ids(tmp_path):
    settings = Settings(data_dir=tmp_path, engine="test-tone", port=1)
    first = ServiceState.build(settings)
    second = ServiceState.build(settings)
    try:
        assert first.worker.worker_id != second.worker.worker_id
    finally:
        second.stop()
        first.stop()
    again = ServiceState.build(settings)  # a restart takes the directory's stable id back
    try:
        assert again.worker.worker_id == first.worker.worker_id
    finally:
        again.stop()


def test_any_server_answers_any_audio_url(tmp_path):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    a = start_server(tmp_path / "a", engine="test-tone", database_url=shared)
    b = start_server(tmp_path / "b", engine="test-tone", database_url=shared)
    try:
        key = a.key()
        with a.client(key) as client:
            ids = [client.post("/generate", json={"prompt": "x", "duration": 0.2, "seed": i})
                   .json()["task_id"] for i in range(6)]  # fmt: skip
            done = [wait_for(client, task) for task in ids]
        for job in done:
            path = httpx.URL(job["audio_url"]).path
            bodies = []
            for server in (a, b):
                r = httpx.get(f"{server.settings.base_url}{path}", follow_redirects=True)
                assert r.status_code == 200, (server.settings.base_url, r.text)
                bodies.append(r.content)
            assert bodies[0] == bodies[1]
    finally:
        b.stop()
        a.stop()


def test_routes_and_adapters_read_results_stored_by_another_server(tmp_path):
    """Segmind's synchronous endpoint answers with the audio bytes: asked on server A while
    only server B runs jobs (separate data directories), it used to fail FileNotFoundError."""
    from music_gen.service.core.infra.db import AudioFile

    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    a = start_server(tmp_path / "a", engine="test-tone", database_url=shared)
    b = start_server(tmp_path / "b", engine="test-tone", database_url=shared)
    a.state.worker.stop()  # every job runs on B
    try:
        key = a.key()
        r = httpx.post(f"{a.settings.base_url}/v1/meta-musicgen-medium",
                       json={"prompt": "x", "duration": 1, "seed": 3},
                       headers={"x-api-key": key}, timeout=120)  # fmt: skip
        assert r.status_code == 200, r.text
        with a.state.db.session() as s:
            [row] = s.scalars(select(AudioFile)).all()
        assert not a.state.storage.exists(row.key) and b.state.storage.exists(row.key)
        assert r.content == a.state.storage.get(row.key) == b.state.storage.get(row.key)
    finally:
        b.stop()
        a.stop()


# ---------------------------------------------------------------- finding 9: conversions
def test_conversions_are_bounded_and_deleted_with_their_result(tmp_path):
    srv = start_server(tmp_path, engine="test-tone", retention_days=1.0)
    try:
        client = srv.client(srv.key())
        done = wait_for(client, client.post("/generate", json={"prompt": "x", "duration": 0.2})
                        .json()["task_id"])  # fmt: skip
        audio = tmp_path / "audio"
        for query in ("format=flac", "sample_rate=16000", "sample_rate=12345"):
            assert client.get(f"{done['audio_url']}?{query}").status_code == 200
        stored = sorted(p.name for p in audio.iterdir())
        assert len(stored) == 3  # the result, flac and 16 kHz; the odd rate is not cached
        with srv.state.db.session.begin() as s:
            s.get(Job, done["task_id"]).finished_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        srv.state.worker._expire()
        assert list(Path(audio).iterdir()) == []  # conversions went with their result
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- finding 1: SIGSTOP
_SLOW_SERVER = """
import sys, time, uvicorn
from music_gen.service.app import create_app
from music_gen.service.core.runners.backends import ToneBackend
from music_gen.service.core.infra.settings import Settings

class Slow(ToneBackend):  # every step takes 2 s: long enough to be stopped inside one
    def step(self):
        time.sleep(2.0)
        return super().step()

data, port, lease = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
settings = Settings(data_dir=data, port=port, engine="test-tone", lease_seconds=lease,
                    rate_limit="10000/minute", allow_loopback_urls=True)
uvicorn.run(create_app(settings, backend=Slow()), host="127.0.0.1", port=port, log_level="warning")
"""


def _slow_server(tmp_path: Path, lease: float) -> tuple[subprocess.Popen[bytes], str, str]:
    """Server A: a process on ``tmp_path`` whose steps take 2 s each; returns it, its API base
    and an API key."""
    key, _, _ = keystore(f"sqlite:///{tmp_path / 'music-gen.db'}").create_key("a")
    (tmp_path / "slow.py").write_text(_SLOW_SERVER)
    port = free_port()
    args = [sys.executable, str(tmp_path / "slow.py"), str(tmp_path), str(port), str(lease)]
    proc = subprocess.Popen(args, env={**os.environ}, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1"

    def up() -> bool:
        assert proc.poll() is None, "server A exited"
        return httpx.get(f"{url}/health", timeout=1).status_code == 200

    try:
        wait_until(up, 120, "server A to start", interval=0.1, ignore=(httpx.HTTPError,))
    except AssertionError:
        proc.kill()
        raise
    return proc, url, key


def _running(url: str, task: str, headers: dict[str, str]) -> dict:
    def running() -> dict | None:
        job = httpx.get(f"{url}/generate/{task}", headers=headers).json()
        return job if job["status"] == "running" else None

    return wait_until(running, 60, f"task {task} to run", interval=0.02)


def test_a_second_server_on_the_same_data_directory_leaves_the_first_ones_jobs(tmp_path):
    """Two servers on one data directory used to share a worker id: starting the second
    requeued (and re-ran) the job the first was running."""
    a, url_a, key = _slow_server(tmp_path, lease=60.0)
    headers = {"Authorization": f"Bearer {key}"}
    b = None
    try:
        task = httpx.post(f"{url_a}/generate", json={"prompt": "x", "duration": 0.5},
                          headers=headers).json()["task_id"]  # fmt: skip
        _running(url_a, task, headers)  # A runs it: five steps of 2 s
        b = start_server(tmp_path, engine="test-tone", lease_seconds=60.0)
        with b.client(key) as client:
            done = wait_for(client, task)
        assert done["status"] == "succeeded" and done["attempts"] == 1  # run once, by A
    finally:
        a.kill()
        a.wait(timeout=30)
        if b is not None:
            b.stop()


def test_a_stopped_server_that_lost_its_job_keeps_the_winners_result(tmp_path):
    """Server A (a process) is stopped (SIGSTOP) inside the step that finishes a job; server B
    on the same database and data directory takes the job over and succeeds; A resumes,
    finishes its step and hands in its late result. The job keeps B's audio."""
    a, url_a, key = _slow_server(tmp_path, lease=3.0)
    b = None
    headers = {"Authorization": f"Bearer {key}"}
    try:
        task = httpx.post(f"{url_a}/generate", json={"prompt": "x", "duration": 0.1},
                          headers=headers).json()["task_id"]  # fmt: skip
        _running(url_a, task, headers)  # A claims it and enters its 2 s step
        a.send_signal(signal.SIGSTOP)
        b = start_server(tmp_path, engine="test-tone", lease_seconds=3.0)
        with b.client(key) as client:
            won = wait_for(client, task)
        assert won["status"] == "succeeded" and won["attempts"] == 2
        a.send_signal(signal.SIGCONT)
        wait_until(lambda: httpx.get(f"{url_a}/health/ready", timeout=10).json()["running"] == 0,
                   120, "A to finish its step, handle its result and forget the job",
                   interval=0.1)  # fmt: skip
        for base in (url_a, b.url):
            after = httpx.get(f"{base}/generate/{task}", headers=headers).json()
            path = httpx.URL(won["audio_url"]).path
            assert after["status"] == "succeeded" and httpx.URL(after["audio_url"]).path == path
            assert httpx.get(f"{base.rsplit('/api/v1', 1)[0]}{path}").status_code == 200
        assert len(list((tmp_path / "audio").iterdir())) == 1  # A's own file removed, B's kept
    finally:
        a.send_signal(signal.SIGCONT)
        a.kill()
        a.wait(timeout=30)
        if b is not None:
            b.stop()


# ---------------------------------------------------------------- finding 3: SIGKILL
def test_a_job_failed_by_the_reaper_after_a_kill_sends_its_webhook(tmp_path):
    """Server A is killed (SIGKILL) running a job with a webhook; server B, allowing one run,
    fails it through the lease reaper, and the webhook says so."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    events: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    a, url_a, key = _slow_server(tmp_path, lease=60.0)
    headers = {"Authorization": f"Bearer {key}"}
    b = None
    try:
        body = {"prompt": "x", "duration": 0.5,
                "webhook_url": f"http://127.0.0.1:{hook.server_address[1]}/hook"}  # fmt: skip
        task = httpx.post(f"{url_a}/generate", json=body, headers=headers).json()["task_id"]
        _running(url_a, task, headers)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        b = start_server(tmp_path / "b", engine="test-tone", lease_seconds=1.0, max_attempts=1,
                         database_url=f"sqlite:///{tmp_path / 'music-gen.db'}")  # fmt: skip
        with b.client(key) as client:
            done = wait_for(client, task)
        assert done["status"] == "failed" and done["attempts"] == 1
        wait_until(lambda: events, 30, "the webhook")
        assert [(e["task_id"], e["type"]) for e in events] == [(task, "task.failed")]
    finally:
        a.kill()
        a.wait(timeout=30)
        if b is not None:
            b.stop()
        hook.shutdown()
