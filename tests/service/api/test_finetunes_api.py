"""Fine-tuning as a service job: from an upload (files or an archive) to a finished job whose
adapter is in the adapter store and changes what the model generates; the loss history; bad
datasets, archives and settings refused at the door with their codes. On SQLite and on
PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from finetune_helpers import as_files, as_tar, as_zip, clips, form
from service_helpers import Server, postgres_database, start_server, wait_until

from music_gen.service.core.jobs.spec import JobType


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request, tmp_path_factory, checkpoints, song_pipeline) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else None
        server = start_server(
            tmp_path_factory.mktemp("finetunes"), model=str(checkpoints["mono"]),
            max_duration=30.0, max_finetunes_per_account=1, song_model=str(song_pipeline),
            database_url=url,
        )  # fmt: skip
        stack.callback(server.stop)
        yield server


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, bytes]:
    return clips(tmp_path_factory.mktemp("clips"))


def finished(client: httpx.Client, task_id: str, timeout: float = 240) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        body = client.get(f"/finetunes/{task_id}").json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(ended, timeout, f"finetune {task_id} to end", interval=0.2)


def test_files_to_adapter_to_generation(srv: Server, dataset) -> None:
    client = srv.client(srv.key())
    r = client.post("/finetunes", data=form("funky", 4), files=as_files(dataset))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["adapter"] == "funky" and job["total_steps"] == 4
    assert r.headers["Location"].endswith(f"/finetunes/{job['task_id']}")
    assert job["dataset"]["files"] == 2
    done = finished(client, job["task_id"])
    assert done["status"] == "succeeded", done
    assert [p["step"] for p in done["loss_history"]] == [1, 2, 3, 4]
    assert all(np.isfinite(p["loss"]) for p in done["loss_history"])
    assert done["loss"] == done["loss_history"][-1]["loss"] and done["progress"] == 1.0
    assert done["result"]["adapter"] == "funky" and done["result"]["steps"] == 4
    assert done["dataset"]["clips"] == 2
    # the job is an ordinary one: /generate/{id} shows it too, as type finetune
    assert client.get(f"/generate/{job['task_id']}").json()["type"] == "finetune"
    listed = client.get("/finetunes").json()
    assert [i["task_id"] for i in listed["items"]] == [job["task_id"]]
    # the adapter is in the store, owned by this account, with PEFT's files and no checkpoints
    account = srv.state.store.get(job["task_id"]).account_id
    record = srv.state.adapter_store.get("funky", account)
    assert record.ready and record.owner == account and record.steps == 4
    folder = srv.state.adapter_store.folder("funky")
    assert (folder / "adapter_model.safetensors").is_file()
    assert (folder / "training_log.jsonl").is_file() and not (folder / "checkpoints").exists()
    # its work folder (dataset, checkpoints) goes once the job has ended
    work = Path(srv.state.store.get(job["task_id"]).params["work"])
    wait_until(lambda: not work.exists(), 30, "the work folder to go")
    # a generation with it (by name, as GET /adapters lists it) differs from the base model's
    assert "funky" in [a["name"] for a in client.get("/adapters").json()["adapters"]]
    base = _generate(client, {"prompt": "funk", "duration": 0.5, "seed": 1})
    tuned = _generate(client, {"prompt": "funk", "duration": 0.5, "seed": 1, "adapter": "funky"})
    assert base.shape == tuned.shape and not np.array_equal(base, tuned)


def _generate(client: httpx.Client, body: dict[str, Any]) -> np.ndarray:
    from service_helpers import wait_for

    from music_gen.audio import load_audio

    r = client.post("/generate", json=body)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    return load_audio(httpx.get(done["audio_url"]).content).samples


def test_a_song_model_is_fine_tuned_too(srv: Server, dataset, song_pipeline) -> None:
    """ACE-Step: the same job trains the DiT (diffusers' LoRA file too); a song with it."""
    client = srv.client(srv.key())
    r = client.post("/finetunes", data=form("songs", 2, model=str(song_pipeline)),
                    files=as_files(dataset))  # fmt: skip
    assert r.status_code == 202, r.text
    done = finished(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["model"] == str(song_pipeline) and len(done["loss_history"]) == 2
    folder = srv.state.adapter_store.folder("songs")
    assert (folder / "pytorch_lora_weights.safetensors").is_file()
    body = {"prompt": "funk", "model": str(song_pipeline), "duration": 1.0, "seed": 3,
            "steps": 2, "lyrics": "[verse]\nla la"}  # fmt: skip
    base = _generate(client, body)
    tuned = _generate(client, {**body, "adapter": "songs"})
    assert base.shape == tuned.shape and not np.array_equal(base, tuned)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archive_upload(srv: Server, dataset, kind: str) -> None:
    client = srv.client(srv.key())
    nested = {f"my songs/{k}": v for k, v in dataset.items()}
    data = as_zip(nested, {"__MACOSX/._clip0.wav": b"junk"}) if kind == "zip" else as_tar(nested)
    r = client.post("/finetunes", data=form(f"arch-{kind}", 2),
                    files={"archive": (f"songs.{kind}", data)})  # fmt: skip
    assert r.status_code == 202, r.text
    done = finished(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["dataset"]["clips"] == 2 and len(done["loss_history"]) == 2


def _refused(srv: Server, data: dict[str, str], files: Any) -> dict[str, Any]:
    client = srv.client(srv.key())
    r = client.post("/finetunes", data=data, files=files)
    assert r.status_code in (404, 409, 413, 422), r.text
    return {"status": r.status_code, **r.json()["error"]}


def test_archive_traversal_and_links_refused(srv: Server, dataset) -> None:
    root = srv.settings.data_dir
    evil = as_zip(dataset, {"../../evil.txt": b"x"})
    err = _refused(srv, form("evil1", 2), {"archive": ("a.zip", evil)})
    assert err["code"] == "INVALID_ARCHIVE" and "evil.txt" in err["message"]
    absolute = as_tar({**dataset, "/tmp/evil.txt": b"x"})
    assert _refused(srv, form("evil2", 2), {"archive": ("a.tar.gz", absolute)})["code"] == (
        "INVALID_ARCHIVE"
    )
    linked = as_tar(dataset, links={"clip9.wav": "/etc/passwd"})
    err = _refused(srv, form("evil3", 2), {"archive": ("a.tgz", linked)})
    assert err["code"] == "INVALID_ARCHIVE" and "link" in err["message"]
    err = _refused(srv, form("evil4", 2), {"archive": ("a.zip", b"not a zip")})
    assert err["code"] == "INVALID_ARCHIVE"
    err = _refused(srv, form("evil5", 2), {"archive": ("a.rar", b"x")})
    assert err["code"] == "INVALID_ARCHIVE"
    # nothing was written outside, and nothing is left of the refused datasets
    assert not (root.parent / "evil.txt").exists() and not (root / "evil.txt").exists()
    active = {j.params["work"] for j in srv.state.store.active(None, JobType.FINETUNE)}
    left = {str(p) for p in (root / "finetunes").iterdir()} - active
    wait_until(lambda: not ({str(p) for p in (root / "finetunes").iterdir()} - active), 30,
               lambda: f"only the folders of live jobs to be left: {left}")  # fmt: skip


def test_bad_datasets_refused(srv: Server, dataset) -> None:
    audio_only = {k: v for k, v in dataset.items() if k.endswith(".wav")}
    err = _refused(srv, form("d1", 2), as_files(audio_only))
    assert err["code"] == "INVALID_DATASET" and "no caption" in err["message"]
    assert {s["file"] for s in err["details"]["skipped"]} == {"clip0.wav", "clip1.wav"}
    err = _refused(srv, form("d2", 2), as_files({"notes.txt": b"hello"}))
    assert err["code"] == "INVALID_DATASET"
    bad_meta = {**audio_only, "metadata.jsonl": b'{"file": "clip0.wav", "caption": 3}\n'}
    err = _refused(srv, form("d3", 2), as_files(bad_meta))
    assert err["code"] == "INVALID_DATASET" and "line 1" in err["message"]
    err = _refused(srv, form("d4", 2), as_files({"../x.wav": b"RIFF"}))
    assert err["code"] == "INVALID_DATASET"
    both = [*as_files(dataset), ("archive", ("a.zip", as_zip(dataset)))]
    assert _refused(srv, form("d5", 2), both)["code"] == "INVALID_DATASET"
    assert _refused(srv, form("d6", 2), None)["code"] == "INVALID_DATASET"


def test_bad_settings_refused(srv: Server, dataset) -> None:
    files = as_files(dataset)
    for field, value in (("rank", "0"), ("lr", "5"), ("batch_size", "-1"), ("steps", "1000000"),
                         ("text_dropout", "1.5")):  # fmt: skip
        err = _refused(srv, {**form("s1", 2), field: value}, files)
        assert err["code"] == "INVALID_TRAINING_CONFIG", (field, err)
    assert _refused(srv, {**form("s1", 2), "steps": "many"}, files)["code"] == "VALIDATION_ERROR"
    assert _refused(srv, form("s1", 2, model="composer"), files)["code"] == "UNSUPPORTED_FEATURE"
    assert _refused(srv, form("s1", 2, model="nope"), files)["code"] == "UNKNOWN_MODEL"
    assert _refused(srv, form("../up", 2), files)["code"] == "INVALID_ADAPTER"
    hook = form("s1", 2, webhook_url="http://10.0.0.1/hook")
    assert _refused(srv, hook, files)["code"].startswith("INVALID")


def test_failures_in_the_job_say_why(srv: Server, dataset) -> None:
    client = srv.client(srv.key())
    silent = {"quiet.wav": _silence(), "quiet.txt": b"nothing at all"}
    r = client.post("/finetunes", data=form("silent", 2), files=as_files(silent))
    assert r.status_code == 202, r.text
    done = finished(client, r.json()["task_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "INVALID_DATASET"
    assert "silent" in done["error"]["message"]
    r = client.post("/finetunes", data=form("targets", 2, target_modules="nothing_here"),
                    files=as_files(dataset))  # fmt: skip
    done = finished(client, r.json()["task_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "INVALID_TRAINING_CONFIG"
    account = srv.state.store.get(done["task_id"]).account_id
    names = [a.name for a in srv.state.adapter_store.list(account)]
    assert "silent" not in names and "targets" not in names


def _silence() -> bytes:
    from music_gen.audio import AudioOutput

    return AudioOutput(np.zeros((1, 32000), np.float32), 32000, {}).to_bytes("wav")


def test_name_taken(srv: Server, dataset) -> None:
    client = srv.client(srv.key())
    srv.state.adapter_store.create("taken", "someone", "x")
    r = client.post("/finetunes", data=form("taken", 2), files=as_files(dataset))
    assert r.status_code == 409 and r.json()["error"]["code"] == "ADAPTER_EXISTS"


def test_unknown_finetune(srv: Server) -> None:
    client = srv.client(srv.key())
    r = client.get("/finetunes/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "TASK_NOT_FOUND"
