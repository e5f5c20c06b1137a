"""Generation on Ray Serve replicas (issue 12), on a real local Ray cluster started here (CPU
replicas, the tiny checkpoint) and PostgreSQL: jobs spread over two replicas, a replica killed
mid-job (every job succeeds once, the rerun equals its solo run), an API node killed and
restarted mid-run, streaming through Ray, autoscaling 1 -> 2 -> 1.

One cluster for the module (starting Ray takes ~10 s here); skipped with the reason when Ray or
PostgreSQL is not there."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from service_helpers import (
    Server,
    free_port,
    postgres_database,
    start_server,
    wait_for,
    wait_until,
)
from sqlalchemy import func, select

from music_gen import load_audio
from music_gen.audio import AudioOutput
from music_gen.service.core.infra.db import AudioFile, open_database

# autoscaling metrics every 0.2 s instead of 10 s (read when Serve is imported; the cluster
# started here passes them on to its controller and replicas)
for _name in ("HANDLE", "REPLICA"):
    os.environ.setdefault(f"RAY_SERVE_{_name}_AUTOSCALING_METRIC_PUSH_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")  # (no new cluster after shutdown)

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'music-gen[ray]'")
serve = pytest.importorskip("ray.serve")

APP = "music-gen-test"  # the two-replica application the module's server deploys


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray cluster with Serve (no HTTP proxy); yields its GCS address."""
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(proxy_location="Disabled")
        yield ray.get_runtime_context().gcs_address
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def _ray_settings(checkpoint: Path, url: str, app: str, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": url,
        "model": str(checkpoint),
        "ray_address": "local",  # (the module's cluster is already up: it is used)
        "ray_app": app,
        "ray_cpus_per_replica": 0.5,
        "max_batch": 2,
        "max_duration": 30.0,
        **extra,
    }


@pytest.fixture(scope="module")
def server(cluster, pg, checkpoints, tmp_path_factory) -> Iterator[Server]:
    """An API node on PostgreSQL whose jobs run on two Serve replicas."""
    settings = _ray_settings(
        checkpoints["mono"], pg, APP, ray_replicas=2, models=[str(checkpoints["melody"])],
        ray_caller_check_seconds=0.5,
    )  # fmt: skip
    srv = start_server(tmp_path_factory.mktemp("ray-api"), **settings)
    try:
        yield srv
    finally:
        srv.stop()
        serve.delete(APP)


def _stored_rows(server: Server, job_id: str) -> int:
    with server.state.db.session() as s:
        count = s.scalar(
            select(func.count()).select_from(AudioFile).where(AudioFile.job_id == job_id)
        )
    return int(count or 0)


def _submit(client: httpx.Client, n: int, **body: Any) -> list[str]:
    ids = []
    for i in range(n):
        response = client.post("/generate", json={"prompt": f"job {i}", "seed": 100 + i, **body})
        assert response.status_code in (200, 201, 202), response.text
        ids.append(response.json()["task_id"])
    return ids


def test_jobs_spread_over_two_replicas(server):
    client = server.client(server.key())
    ids = _submit(client, 8, duration=1.0)
    jobs = [wait_for(client, task_id, timeout=300) for task_id in ids]
    assert [job["status"] for job in jobs] == ["succeeded"] * 8, jobs
    workers = {job["worker"] for job in jobs}
    assert len(workers) == 2 and all(w.startswith("ray-replica-") for w in workers), workers
    assert all(_stored_rows(server, task_id) == 1 for task_id in ids)
    ready = client.get("/health/ready").json()  # the replicas' warm model counts as loaded
    assert ready["model_loadable"] and ready["ready"], ready


def test_a_killed_replica_loses_nothing_and_duplicates_nothing(server, generators):
    client = server.client(server.key())
    ids = _submit(client, 4, duration=30.0)
    backend = server.state.backend

    def mid_run() -> tuple[str, int, str] | None:  # a job on a replica that said who it is
        for task_id in ids:
            call = backend.calls.get(task_id)
            if call is not None and call.pid is not None and 0 < call.progress < 0.6:
                return (task_id, call.pid, call.replica)
        return None

    task_id, pid, replica = wait_until(mid_run, 120, "a job to get going")
    os.kill(pid, signal.SIGKILL)
    jobs = {i: wait_for(client, i, timeout=300) for i in ids}
    assert all(job["status"] == "succeeded" for job in jobs.values()), jobs
    assert all(_stored_rows(server, i) == 1 for i in ids)  # each result stored once
    rerun = jobs[task_id]
    assert rerun["attempts"] == 2 and rerun["worker"] != replica
    # the rerun's stored audio is the job's solo run (same seed), not a mix of two runs
    stored = load_audio(client.get(rerun["audio_url"]).content).samples
    index = ids.index(task_id)
    solo = generators("mono").generate(prompt=f"job {index}", duration=30.0, seed=100 + index)
    np.testing.assert_allclose(stored, solo.samples, atol=1 / 32767 + 1e-6)


def test_streaming_through_ray_equals_the_stored_result(server):
    from websockets.sync.client import connect

    key = server.key()
    url = server.url.replace("http://", "ws://") + f"/ws/stream?api_key={key}"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "ray stream", "stream": True,
                            "duration": 1.5, "seed": 9}))  # fmt: skip
        started = json.loads(ws.recv())
        assert started["type"] == "started", started
        chunks, final = [], None
        while final is None:
            message = json.loads(ws.recv(timeout=300))
            if message["type"] == "audio_chunk":
                chunks.append(message)
            else:
                final = message
    assert final["type"] == "complete", final
    assert len(chunks) >= 2
    client = server.client(key)
    whole = load_audio(client.get(final["audio_url"]).content).samples
    joined = np.concatenate([load_audio(base64.b64decode(c["data"])).samples for c in chunks],
                            axis=-1)  # fmt: skip
    np.testing.assert_allclose(joined, whole, atol=1 / 32767 + 1e-6)
    job = client.get(f"/generate/{started['task_id']}").json()
    assert job["worker"].startswith("ray-replica-")


def test_input_audio_travels_with_the_call(server, generators, tmp_path):
    """A melody job: the API node sends the uploaded tune with the call (the replica's machine
    need not share the data directory); the result equals the solo run on the same tune."""
    client = server.client(server.key())
    models = client.get("/models").json()["models"]
    melody = next(m["id"] for m in models if "melody" in m["capabilities"])
    t = np.arange(32000) / 32000
    tune = AudioOutput((0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 32000)
    data = tune.to_bytes("wav")
    upload = client.post("/uploads", files={"file": ("tune.wav", data, "audio/wav")})
    assert upload.status_code == 201, upload.text
    body = {"prompt": "hum", "duration": 1.0, "model": melody, "seed": 5,
            "melody_upload_id": upload.json()["upload_id"]}  # fmt: skip
    task = client.post("/generate", json=body).json()["task_id"]
    job = wait_for(client, task, timeout=300)
    assert job["status"] == "succeeded", job
    assert job["worker"].startswith("ray-replica-")
    stored = load_audio(client.get(job["audio_url"]).content).samples
    path = tmp_path / "tune.wav"
    path.write_bytes(data)
    solo = generators("melody").generate(prompt="hum", duration=1.0, seed=5, melody=str(path))
    np.testing.assert_allclose(stored, solo.samples, atol=1 / 32767 + 1e-6)


def test_a_run_whose_api_node_is_gone_is_dropped(server):
    """Serve does not end a call whose caller died; the replica asks the caller's token and
    drops the job (here the token is killed as an API node's death kills it: the long job
    then ends without a result instead of running to its end)."""
    from music_gen.service.core.jobs.spec import JobSpec
    from music_gen.service.core.runners.ray_backend import RayBackend
    from music_gen.service.core.runners.ray_replica import CallerToken

    token = ray.remote(num_cpus=0)(CallerToken).remote()
    backend = RayBackend(serve.get_deployment_handle("Generator", app_name=APP), 1, token=token)
    spec = JobSpec(model=str(server.settings.model), prompt="orphan", duration=30.0, seed=1)
    backend.submit("orphan", spec, stream=False)
    wait_until(lambda: backend.progress("orphan") > 0, 120, "the job to get going")
    ray.kill(token)
    (event,) = wait_until(backend.step, 240, "the call to end", interval=0)
    assert event.kind == "error" and "without a result" in event.error.message, event


def _api_node(data: Path, port: int, cluster: str, url: str, checkpoint: Path) -> Any:
    env = {**os.environ, "MUSIC_GEN_RAY_APP": APP, "MUSIC_GEN_LEASE_SECONDS": "3",
           "MUSIC_GEN_MAX_BATCH": "2", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    args = ["serve", "--port", str(port), "--model", str(checkpoint), "--data-dir", str(data),
            "--database-url", url, "--ray", cluster, "--device", "cpu", "--no-auth"]  # fmt: skip
    log = (data / "api.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "music_gen.cli", *args], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def _healthy(base: str, proc: Any, data: Path) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError("API node exited:\n" + (data / "api.log").read_text()[-3000:])
        return httpx.get(f"{base}/health", timeout=1).status_code == 200

    wait_until(up, 180, "the API node to come up", interval=0.2, ignore=(httpx.HTTPError,))


def test_an_api_node_killed_mid_run_finishes_its_jobs_after_restart(
    server, cluster, checkpoints, tmp_path
):
    """The API node (``music-gen serve --ray ADDRESS``, attached to the running deployment)
    is SIGKILLed while its jobs run on the replicas; restarted on the same data directory it
    re-dispatches them (its worker id is the same: its jobs go back to the queue at once)."""
    with postgres_database() as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        proc = _api_node(tmp_path, port, cluster, url, checkpoints["mono"])
        try:
            _healthy(base, proc, tmp_path)
            client = httpx.Client(base_url=base, timeout=30)
            ids = _submit(client, 3, duration=30.0)
            wait_until(lambda: any(j["status"] == "running" and j["progress"] > 0 for j in (
                client.get(f"/generate/{i}").json() for i in ids)), 120,
                "a job mid-run, running with progress reported", interval=0.1)  # fmt: skip
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc = _api_node(tmp_path, port, cluster, url, checkpoints["mono"])
            _healthy(base, proc, tmp_path)
            finals = [wait_for(client, i, timeout=300) for i in ids]
            assert [j["status"] for j in finals] == ["succeeded"] * 3, finals
            assert any(j["attempts"] == 2 for j in finals)  # re-dispatched after the restart
            db = open_database(url)
            with db.session() as s:
                for i in ids:
                    rows = s.scalar(select(func.count()).select_from(AudioFile)
                                    .where(AudioFile.job_id == i))  # fmt: skip
                    assert rows == 1
            db.dispose()
        finally:
            proc.kill()
            proc.wait(timeout=30)


def _running_replicas(app: str) -> int:
    status = serve.status().applications.get(app)
    if status is None or "Generator" not in status.deployments:
        return 0
    states = status.deployments["Generator"].replica_states
    return sum(n for state, n in states.items() if state == "RUNNING")


def test_autoscaling_from_one_to_two_replicas_and_back(cluster, pg, checkpoints, tmp_path):
    """min 1 / max 2 replicas, one job per replica at a time: a backlog scales up to two, the
    idle deployment goes back to one (autoscaling delays kept tiny here). The backlog is kept
    up until the second replica runs (how soon Serve decides is not asserted)."""
    app = "music-gen-autoscale"
    fast = {"upscale_delay_s": 0.2, "downscale_delay_s": 1.0, "look_back_period_s": 0.5}
    settings = _ray_settings(
        checkpoints["mono"], pg, app, ray_min_replicas=1, ray_max_replicas=2, max_batch=1,
        ray_autoscaling=fast,
    )  # fmt: skip
    srv = start_server(tmp_path, **settings)
    try:
        assert _running_replicas(app) == 1
        client = srv.client(srv.key())
        ids: list[str] = []

        def scaled_up() -> bool:
            if _running_replicas(app) >= 2:
                return True
            if srv.state.store.queue_depth() < 2:  # a backlog: more jobs than replicas take
                ids.extend(_submit(client, 2, duration=30.0))
            return False

        wait_until(scaled_up, 300, "two replicas (scaled up)", interval=0.2)
        jobs = [wait_for(client, i, timeout=300) for i in ids]
        assert all(j["status"] == "succeeded" for j in jobs), jobs
        wait_until(lambda: _running_replicas(app) == 1, 120, "one replica (scaled back down)",
                   interval=0.2)  # fmt: skip
    finally:
        srv.stop()
        serve.delete(app)


def test_serve_with_ray_refuses_sqlite(tmp_path):
    from music_gen.service.core.infra.settings import Settings

    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings(data_dir=tmp_path, ray_address="local")
    done = subprocess.run(
        [sys.executable, "-m", "music_gen.cli", "serve", "--ray", "local", "--data-dir",
         str(tmp_path)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "PostgreSQL" in done.stderr + done.stdout
    sizing = subprocess.run(
        [sys.executable, "-m", "music_gen.cli", "serve", "--replicas", "2", "--data-dir",
         str(tmp_path)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sizing.returncode != 0 and "--replicas need --ray" in sizing.stderr + sizing.stdout


def _tokenless_env(home: Path) -> dict[str, str]:
    """This environment as a machine that has no Ray token sees it: another home, no token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_")}
    home.mkdir(parents=True, exist_ok=True)
    return {**env, "HOME": str(home), "HF_HUB_OFFLINE": "1"}


def test_serve_ray_without_the_clusters_token_says_what_is_missing_in_one_line(
    cluster, pg, checkpoints, tmp_path
):
    """The module's cluster has token authentication on (Ray's default for a local cluster):
    an API node without the token exits at start with one line naming the variables to set,
    not a traceback ending in "Failed to connect to Ray cluster at <the node's address>"."""
    assert os.environ.get("RAY_AUTH_MODE") == "token"  # the cluster does want a token
    args = ["serve", "--port", str(free_port()), "--model", str(checkpoints["mono"]), "--no-auth",
            "--data-dir", str(tmp_path), "--database-url", pg, "--ray", cluster]  # fmt: skip
    env = _tokenless_env(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "music_gen.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert lines[-1].startswith(f"error: RAY_AUTH_REQUIRED: the Ray cluster at {cluster} "), lines
    assert "RAY_AUTH_MODE=token" in lines[-1] and "RAY_AUTH_TOKEN_PATH" in lines[-1], lines[-1]


def test_a_local_cluster_of_the_suite_writes_nothing_into_the_home(tmp_path):
    """Ray writes ~/.ray/auth_token on a local ray.init() that finds no token; the suite gives
    its clusters one in a temporary directory (tests/conftest.py), so the home stays as it was
    (here a home of the test's own, with the suite's environment otherwise)."""
    home = tmp_path / "home"
    home.mkdir()
    script = "import ray; ray.init(num_cpus=1, include_dashboard=False); ray.shutdown()"
    env = {**os.environ, "HOME": str(home), "RAY_ENABLE_AUTO_CONNECT": "0"}  # a new cluster
    for name in ("RAY_AUTH_MODE", "RAY_ADDRESS"):  # as a fresh process of the suite starts
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (home / ".ray").exists(), list(home.rglob("*"))


AUTH_REFUSED = (
    "Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n"
    '  File "python/ray/includes/common.pxi", line 119, in ray._raylet.check_status\n'
    "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: Authentication token is "
    "missing or incorrect. Note: RAY_AUTH_MODE is currently 'disabled' (not 'token')."
)  # what Ray 2.60's ray.init(address=...) chains under its ConnectionError


def _refused(inner: BaseException) -> ConnectionError:
    try:
        raise ConnectionError("Failed to connect to Ray cluster at 192.0.2.2:6379") from inner
    except ConnectionError as exc:
        return exc


def test_connection_errors_are_one_line_naming_what_is_missing(monkeypatch, tmp_path):
    from ray.exceptions import AuthenticationError

    from music_gen.service.core.runners.ray_backend import connection_error

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    sent_none = connection_error("head:6379", _refused(RuntimeError(AUTH_REFUSED)))
    assert sent_none.code == "RAY_AUTH_REQUIRED"
    assert "head:6379 requires token authentication" in sent_none.message
    assert "RAY_AUTH_MODE=token" in sent_none.message and "RAY_AUTH_TOKEN" in sent_none.message
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    none_found = connection_error("head:6379", AuthenticationError("no token was found"))
    assert (
        none_found.code == "RAY_AUTH_REQUIRED"
        and "no Ray authentication token" in none_found.message
    )
    monkeypatch.setenv("RAY_AUTH_TOKEN", "wrong")
    wrong = connection_error("head:6379", _refused(RuntimeError(AUTH_REFUSED)))
    assert (
        wrong.code == "RAY_AUTH_REQUIRED"
        and "refused this node's authentication token (from RAY_AUTH_TOKEN)" in wrong.message
    )
    down = connection_error(
        "head:6379", _refused(RuntimeError("Failed to connect to GCS.\nDeadline exceeded"))
    )
    assert down.code == "RAY_UNAVAILABLE" and down.message.endswith("head:6379: Deadline exceeded")
    for error in (sent_none, none_found, wrong, down):
        assert "\n" not in error.message and error.code.startswith("RAY_")


def test_the_guides_serve_config_is_valid_and_builds_the_app():
    """docs/ray.md's Serve config passes Serve's own schema and its import path builds the
    Generator application (no cluster needed)."""
    import re

    import yaml
    from ray.serve.schema import ServeDeploySchema

    guide = (Path(__file__).resolve().parents[4] / "docs" / "ray.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", guide, re.S)
    assert block is not None
    config = ServeDeploySchema.model_validate(yaml.safe_load(block.group(1)))
    app = config.applications[0]
    module, name = app.import_path.split(":")
    builder = getattr(__import__(module, fromlist=[name]), name)
    built = builder(app.args)
    assert built._bound_deployment.name == "Generator"
    assert config.applications[0].deployments[0].name == "Generator"


def test_the_call_carries_the_input_audio_bytes(tmp_path):
    """What ``RayBackend.submit`` sends: the spec's JSON and the bytes of each input file it
    names (so a replica on another machine needs no shared data directory)."""
    from music_gen.service.core.jobs.spec import JobSpec
    from music_gen.service.core.runners.ray_backend import RayBackend

    calls: list[tuple[Any, ...]] = []

    class Response:
        def __iter__(self) -> Iterator[dict[str, Any]]:
            return iter([])

    class Handle:
        def options(self, **_: Any) -> Handle:
            return self

        @property
        def run(self) -> Any:
            class Method:
                def remote(self, *args: Any) -> Response:
                    calls.append(args)
                    return Response()

            return Method()

    tune = tmp_path / "tune.wav"
    tune.write_bytes(b"RIFF-tune")
    spec = JobSpec(model="m", prompt="p", duration=1.0, seed=1, melody=str(tune))
    backend = RayBackend(Handle(), capacity=1)
    backend.submit("job-1", spec, stream=False)
    ((job_id, sent, stream, files, caller),) = calls
    assert (job_id, stream, caller) == ("job-1", False, None)
    assert JobSpec.model_validate(sent) == spec
    assert files == {"melody": ("tune.wav", b"RIFF-tune")}
    # the call ended without a result: the worker hears the job failed, not silence
    events: list[Any] = []
    for _ in range(200):  # (the call is read on a thread of its own)
        events = events or backend.step()
    assert events and events[0].kind == "error" and "without a result" in events[0].error.message


def test_a_call_the_cluster_refuses_is_a_lost_run():
    """``handle.run.remote`` raising a Ray error (cluster unreachable) is a RETRY (the worker
    puts the job back, attempt counted), not a failure of the job."""
    from ray.exceptions import RaySystemError

    from music_gen.service.core.jobs.spec import JobSpec
    from music_gen.service.core.runners.ray_backend import RayBackend

    class Handle:
        def options(self, **_: Any) -> Handle:
            return self

        @property
        def run(self) -> Any:
            class Method:
                def remote(self, *args: Any) -> Any:
                    raise RaySystemError("the cluster is gone")

            return Method()

    backend = RayBackend(Handle(), capacity=1)
    backend.submit("job-1", JobSpec(model="m", prompt="p", duration=1.0, seed=1), stream=False)
    (event,) = backend.step()
    assert event.kind == "retry" and "did not take" in event.error.message
    assert backend.active() == 0


def test_a_finetune_trains_on_the_cluster(server, tmp_path):
    """With --ray, a finetune job trains in a Ray actor (not in the API node's process) with
    the resources it asks for; its steps, loss history and adapter come back as locally."""
    from music_gen import MusicGenerator

    client = server.client(server.key())
    gen = MusicGenerator("composer")
    files = []
    for i, prompt in enumerate(("funk groove", "jazz trio")):
        data = gen.generate(prompt, duration=2.0, seed=i).to_bytes("wav")
        files += [("files", (f"c{i}.wav", data)), ("files", (f"c{i}.txt", prompt.encode()))]
    form = {"name": "ray-trained", "steps": "3", "rank": "4", "lr": "0.01",
            "window_seconds": "1.0", "min_seconds": "0.5", "checkpoint_every": "2"}  # fmt: skip
    r = client.post("/finetunes", data=form, files=files)
    assert r.status_code == 202, r.text
    task = r.json()["task_id"]
    job = wait_until(
        lambda: (b := client.get(f"/finetunes/{task}").json())["status"] in (
            "succeeded", "failed", "cancelled") and b,
        300, "the finetune to end", interval=0.2,
    )  # fmt: skip
    assert job["status"] == "succeeded", job
    assert [p["step"] for p in job["loss_history"]] == [1, 2, 3]
    assert job["result"]["worker"].startswith("ray-training-")
    assert job["result"]["pid"] != os.getpid()  # not in the API node's process
    account = server.state.store.get(task).account_id
    assert server.state.adapter_store.get("ray-trained", account).ready


def test_a_lost_training_actor_resumes_from_its_checkpoint(server):
    """The actor dies mid-run (its node lost): the job goes back to the queue, attempt
    counted, and the next actor resumes from the checkpoint the API node kept."""
    from music_gen import MusicGenerator

    client = server.client(server.key())
    files = []
    for i, prompt in enumerate(("funk groove", "jazz trio")):
        data = MusicGenerator("composer").generate(prompt, duration=2.0, seed=i).to_bytes("wav")
        files += [("files", (f"c{i}.wav", data)), ("files", (f"c{i}.txt", prompt.encode()))]
    form = {"name": "ray-lost", "steps": "2000", "rank": "4", "lr": "0.01",
            "window_seconds": "1.0", "min_seconds": "0.5", "checkpoint_every": "2"}  # fmt: skip
    task = client.post("/finetunes", data=form, files=files).json()["task_id"]
    trainer = server.state.trainer
    wait_until(lambda: client.get(f"/finetunes/{task}").json()["step"] >= 3, 300, "step 3")
    ray.kill(trainer.runs[task].actor, no_restart=True)
    job = wait_until(
        lambda: (j := client.get(f"/finetunes/{task}").json())["attempts"] == 2
        and (j["resumed_from"] or 0) >= 2 and j, 300, "the resumed run",
    )  # fmt: skip
    assert job["status"] == "running", job
    assert client.delete(f"/finetunes/{task}").json()["status"] == "cancelled"
