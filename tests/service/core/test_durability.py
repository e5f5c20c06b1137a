"""Jobs are never lost: kill the server mid-generation, start it again, the job completes once.
Also: the claim/finish protocol, retention, migrations, settings that refuse insecure runs."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from service_helpers import free_port, start_server, wait_for, wait_until
from sqlalchemy import func, select

from music_gen.service.core.infra.db import AudioFile, Job, open_database
from music_gen.service.core.infra.settings import Settings
from music_gen.service.core.jobs.jobs import JobStore, NewJob
from music_gen.service.core.jobs.spec import JobSpec


def _spec(prompt: str, duration: float = 1.0, model: str = "m") -> JobSpec:
    return JobSpec(model=model, prompt=prompt, duration=duration, seed=1)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "music_gen.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _serve(data: Path, model: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = ["serve", "--port", str(port), "--model", str(model), "--data-dir", str(data)]
    return subprocess.Popen(
        [sys.executable, "-m", "music_gen.cli", *args, "--device", "cpu"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    def up() -> bool:
        assert proc.poll() is None, "server exited"
        return httpx.get(f"{url}/health", timeout=1).status_code == 200

    wait_until(up, 90, "the server to come up", interval=0.2, ignore=(httpx.HTTPError,))


def test_killed_server_finishes_the_job_after_restart(tmp_path, checkpoints):
    env = {
        **os.environ,
        "MUSIC_GEN_LEASE_SECONDS": "1.5",
        "MUSIC_GEN_RATE_LIMIT": "100000/minute",
        "HF_HUB_OFFLINE": "1",
    }
    created = _cli("keys", "create", "--name", "durable", "--data-dir", str(tmp_path), env=env)
    assert created.returncode == 0, created.stderr
    key = re.search(r"(mgk_\S+)", created.stdout).group(1)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}
    proc = _serve(tmp_path, checkpoints["mono"], port, env)
    try:
        _healthy(url, proc)
        task = httpx.post(f"{url}/generate", json={"prompt": "survivor", "duration": 30,
                                                   "seed": 5}, headers=headers).json()  # fmt: skip

        def mid_generation() -> bool:  # running, with progress reported
            job = httpx.get(f"{url}/generate/{task['task_id']}", headers=headers).json()
            assert job["status"] in ("queued", "running"), job
            return job["status"] == "running" and 0 < job["progress"] < 0.8

        wait_until(mid_generation, 60, "the job mid-generation")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = _serve(tmp_path, checkpoints["mono"], port, env)
        _healthy(url, proc)
        with httpx.Client(base_url=url, headers=headers) as client:
            done = wait_for(client, task["task_id"], timeout=120)
        assert done["status"] == "succeeded" and done["attempts"] == 2
        assert done["duration"] == pytest.approx(30.0)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    db = open_database(f"sqlite:///{tmp_path / 'music-gen.db'}")
    with db.session() as s:  # completed exactly once: one stored result
        n = s.scalar(
            select(func.count()).select_from(AudioFile).where(AudioFile.job_id == task["task_id"])
        )
    assert n == 1


def test_a_reclaimed_job_completes_only_under_its_latest_claim(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'jobs.db'}")
    from music_gen.service.core.infra.auth import KeyStore

    account = KeyStore(db).account("acct")
    store = JobStore(db, max_attempts=3)
    job, _ = store.create(NewJob(account.id, _spec("x", 1.0)))
    [first] = store.claim("w1", 1, 10)
    assert store.claim("w2", 1, 10) == []  # nobody else can claim a running job
    assert store.requeue_stale(0.0) == 1  # w1 went silent
    [second] = store.claim("w2", 1, 10)
    assert second.attempts == 2
    assert not store.finish(first, {}, None)  # the stale worker's late result is refused
    assert store.finish(second, {}, None)
    assert not store.fail(second, {"code": "X"})  # and it cannot be finished twice
    assert store.get(job.id).status == "succeeded"
    # a job interrupted max_attempts times fails with a reason instead of looping forever
    doomed, _ = store.create(NewJob(account.id, _spec("y")))
    for _ in range(3):
        store.claim("w", 1, 10)
        store.requeue_stale(0.0)
    final = store.get(doomed.id)
    assert final.status == "failed" and final.error["code"] == "GENERATION_FAILED"


def test_per_account_claims(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'jobs.db'}")
    from music_gen.service.core.infra.auth import KeyStore

    a, b = KeyStore(db).account("a"), KeyStore(db).account("b")
    store = JobStore(db)
    for _ in range(3):
        store.create(NewJob(a.id, _spec("x")))
    store.create(NewJob(b.id, _spec("x")))
    claimed = store.claim("w", 10, per_account=2)
    assert sorted(j.account_id for j in claimed) == sorted([a.id, a.id, b.id])


def test_retention_deletes_old_results(tmp_path, checkpoints):
    srv = start_server(tmp_path, model=str(checkpoints["mono"]), retention_days=1.0)
    try:
        client = srv.client(srv.key("old"))
        done = wait_for(
            client,
            client.post("/generate", json={"prompt": "x", "duration": 0.2}).json()["task_id"],
        )
        assert client.get(done["audio_url"]).status_code == 200
        with srv.state.db.session.begin() as s:
            s.get(Job, done["task_id"]).finished_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        srv.state.worker._expire()
        assert client.get(done["audio_url"]).status_code == 404
        assert client.get(f"/generate/{done['task_id']}").status_code == 404
        assert not list((tmp_path / "audio").glob("*.wav"))
    finally:
        srv.stop()


def test_migrations_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from music_gen.service.core.infra.db import Base

    db = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    open_database(f"sqlite:///{tmp_path / 'm.db'}")  # upgrading again is a no-op


def test_settings_refuse_unauthenticated_public_bind(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        Settings(auth=False, host="0.0.0.0", data_dir=tmp_path)
    assert not Settings(auth=False, host="127.0.0.1", data_dir=tmp_path).auth
    env = {**os.environ}
    refused = _cli("serve", "--no-auth", "--host", "0.0.0.0", "--data-dir", str(tmp_path),
                   env=env)  # fmt: skip
    assert refused.returncode == 1 and "INVALID_SETTINGS" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_no_auth_on_loopback_uses_the_local_account(tmp_path, checkpoints):
    srv = start_server(tmp_path, model=str(checkpoints["mono"]), auth=False)
    try:
        client = srv.client(None)
        done = wait_for(
            client,
            client.post("/generate", json={"prompt": "x", "duration": 0.2}).json()["task_id"],
        )
        assert done["status"] == "succeeded"
    finally:
        srv.stop()
