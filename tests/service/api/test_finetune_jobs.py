"""Fine-tuning jobs among the others: generation is not starved by a training run, one
training job per account, cancel stops the training and stores nothing, webhooks, and a run
interrupted by a server restart resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from finetune_helpers import as_files, clips, form
from service_helpers import Server, free_port, keystore, start_server, wait_for, wait_until


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, bytes]:
    return clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def srv(tmp_path_factory, checkpoints) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("ft-jobs"), model=str(checkpoints["mono"]),
                          max_duration=30.0, allow_private_urls=True)  # fmt: skip
    yield server
    server.stop()


def _get(client: httpx.Client, task_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/finetunes/{task_id}").json()
    return body


def _ended(client: httpx.Client, task_id: str, timeout: float = 240) -> dict[str, Any]:
    return wait_until(
        lambda: (b := _get(client, task_id))["status"] in ("succeeded", "failed", "cancelled")
        and b,
        timeout, f"finetune {task_id} to end", interval=0.2,
    )  # fmt: skip


def test_generation_goes_first_one_per_account_and_cancel(srv: Server, dataset) -> None:
    client = srv.client(srv.key())
    r = client.post("/finetunes", data=form("long", 2000), files=as_files(dataset))
    assert r.status_code == 202, r.text
    task = r.json()["task_id"]
    wait_until(lambda: _get(client, task)["step"] >= 1, 120, "the training to start")
    # a second training job of the same account is refused while the first runs
    second = client.post("/finetunes", data=form("other", 2), files=as_files(dataset))
    assert second.status_code == 409, second.text
    err = second.json()["error"]
    assert err["code"] == "FINETUNE_LIMIT_REACHED" and err["details"]["task_ids"] == [task]
    # another account is not limited by it (its job waits for the training slot)
    other = srv.client(srv.key())
    queued = other.post("/finetunes", data=form("queued", 2), files=as_files(dataset)).json()
    assert queued["status"] == "queued"
    # a third account's job cancelled while queued: its folder goes at once
    third = srv.client(srv.key())
    waiting = third.post("/finetunes", data=form("dropped", 2), files=as_files(dataset)).json()
    folder = Path(srv.state.store.get(waiting["task_id"]).params["work"])
    assert folder.is_dir()
    assert third.delete(f"/finetunes/{waiting['task_id']}").json()["status"] == "cancelled"
    assert not folder.exists()
    # a generation submitted now completes while the training still runs: it yielded
    gen = client.post("/generate", json={"prompt": "calm piano", "duration": 0.5}).json()
    done = wait_for(client, gen["task_id"], timeout=120)
    assert done["status"] == "succeeded"
    now = _get(client, task)
    assert now["status"] == "running" and now["step"] < 2000
    wait_until(lambda: _get(client, task)["paused_s"] > 0, 30, "the pause to be reported")
    # cancel: the training stops at its next step, nothing is stored, its folder goes
    cancelled = client.delete(f"/finetunes/{task}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_until(lambda: task not in srv.state.trainer.runs, 60, "the run to stop")
    assert _get(client, task)["status"] == "cancelled"
    account = srv.state.store.get(task).account_id
    assert "long" not in [a.name for a in srv.state.adapter_store.list(account)]
    work = srv.state.store.get(task).params["work"]
    wait_until(lambda: not os.path.exists(work), 30, "the work folder to go")
    again = client.delete(f"/finetunes/{task}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "NOT_CANCELLABLE"
    # the other account's job now trains; the limit of this one is free again
    assert _ended(other, queued["task_id"])["status"] == "succeeded"
    r = client.post("/finetunes", data=form("after", 2), files=as_files(dataset))
    assert r.status_code == 202, r.text
    assert _ended(client, r.json()["task_id"])["status"] == "succeeded"


def test_webhook_on_success(srv: Server, dataset) -> None:
    events: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        client = srv.client(srv.key())
        url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
        r = client.post("/finetunes", data=form("hooked", 2, webhook_url=url, track_id="t1"),
                        files=as_files(dataset))  # fmt: skip
        task = r.json()["task_id"]
        assert _ended(client, task)["status"] == "succeeded"
        wait_until(lambda: events, 30, "the webhook")
        assert [(e["task_id"], e["type"], e["track_id"]) for e in events] == [
            (task, "task.succeeded", "t1")
        ]
    finally:
        hook.shutdown()


def test_restart_resumes_from_the_checkpoint(tmp_path, checkpoints, dataset) -> None:
    settings = {"model": str(checkpoints["mono"]), "max_duration": 30.0}
    a = start_server(tmp_path, **settings)
    key = a.key()
    try:
        client = a.client(key)
        r = client.post("/finetunes", data=form("resumed", 12), files=as_files(dataset))
        task = r.json()["task_id"]
        trainer = a.state.trainer
        wait_until(lambda: _get(client, task)["step"] >= 3, 180, "two checkpoints' worth")
        trainer.gate = lambda: True  # hold it there, as if generation kept the machine busy
    finally:
        a.stop()  # the run stops at its next step; the job goes back to the queue
    stored = a.state.store.get(task)
    assert stored.status == "queued" and stored.report["step"] >= 3
    b = start_server(tmp_path, **settings)
    try:
        done = _ended(b.client(key), task)
        assert done["status"] == "succeeded", done
        assert done["result"]["resumed_from"] >= 2 and done["resumed_from"] >= 2
        assert [p["step"] for p in done["loss_history"]] == list(range(1, 13))
        assert done["attempts"] == 2
    finally:
        b.stop()


def test_a_crash_resumes_from_the_checkpoint(tmp_path, checkpoints, dataset) -> None:
    """Server A (a process) is SIGKILLed mid-training; B, started on the same data directory,
    takes the job back at once (same worker id) and its run resumes from A's last checkpoint."""
    key, _, _ = keystore(f"sqlite:///{tmp_path / 'music-gen.db'}").create_key("a")
    port = free_port()
    args = [sys.executable, "-m", "music_gen.cli", "serve", "--port", str(port), "--model",
            str(checkpoints["mono"]), "--data-dir", str(tmp_path), "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUSIC_GEN_RATE_LIMIT": "100000/minute"}
    a = subprocess.Popen(args, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    b = None
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30,
                              headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        wait_until(lambda: client.get("/health").status_code == 200, 180, "server A",
                   ignore=(httpx.HTTPError,))  # fmt: skip
        r = client.post("/finetunes", data=form("crashed", 2000), files=as_files(dataset))
        assert r.status_code == 202, r.text
        task = r.json()["task_id"]
        wait_until(lambda: _get(client, task)["step"] >= 3, 180, "a checkpoint (step 2)")
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        b = start_server(tmp_path, model=str(checkpoints["mono"]), max_duration=30.0)
        again = b.client(key)
        job = wait_until(
            lambda: (j := _get(again, task))["attempts"] == 2 and (j["resumed_from"] or 0) >= 2
            and j, 180, "the resumed run",
        )  # fmt: skip
        assert job["status"] == "running"
        # the history up to the checkpoint is A's (a 2000-step run keeps every 2nd step)
        steps, resumed = [p["step"] for p in job["loss_history"]], job["resumed_from"]
        assert steps == sorted(set(steps))
        assert [s for s in steps if s <= resumed] == list(range(2, resumed + 1, 2))
        assert again.delete(f"/finetunes/{task}").json()["status"] == "cancelled"
    finally:
        a.kill()
        a.wait(timeout=30)
        if b is not None:
            b.stop()
