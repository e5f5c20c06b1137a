"""``/generate`` beyond the life cycle of ``test_api``: deleting an ended job and its audio
(``DELETE …?purge=true``), a queued job's ``queue_position``, melody and continuation uploads
checked against the model's capabilities, and ``params`` that never show a server path — on
SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, postgres_database, start_server, wait_for, wait_until
from sqlalchemy import select

from music_gen.service.api.views import public_params
from music_gen.service.core.infra.db import AudioFile
from music_gen.service.core.infra.storage import conversion_key


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory, checkpoints) -> Iterator[Server]:
    """Mono MusicGen (continuation) by default, a melody checkpoint beside it; one running job
    per account, so an account's second job waits in the queue."""
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        srv = start_server(
            tmp_path_factory.mktemp("generate"),
            model=str(checkpoints["mono"]),
            models=[str(checkpoints["melody"])],
            database_url=url,
            max_duration=30.0,
            max_concurrent_per_account=1,
        )
        stack.callback(srv.stop)
        yield srv


@pytest.fixture(scope="module")
def alice(server):
    return server.client(server.key("alice"))


@pytest.fixture(scope="module")
def bob(server):
    return server.client(server.key("bob"))


def _wav(seconds: float, rate: int = 32000, hz: float = 330.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, 0.4 * np.sin(2 * np.pi * hz * t), rate, format="WAV")
    return buffer.getvalue()


def _upload(client: Any, seconds: float) -> str:
    r = client.post("/uploads", files={"file": ("clip.wav", _wav(seconds), "audio/wav")})
    assert r.status_code == 201, r.text
    return str(r.json()["upload_id"])


def _done(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/generate", json=body)
    assert r.status_code == 202, r.text
    return wait_for(client, r.json()["task_id"])


def _files(server: Server, task_id: str) -> list[tuple[str, str]]:
    with server.state.db.session() as s:
        rows = s.execute(select(AudioFile.id, AudioFile.key).where(AudioFile.job_id == task_id))
        return [(i, k) for i, k in rows]


def _paths_in(value: Any, root: Path) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths_in(v, root)]
    if isinstance(value, list):
        return [p for v in value for p in _paths_in(v, root)]
    return [value] if isinstance(value, str) and ("/" in value or str(root) in value) else []


# ------------------------------------------------------------------------------ delete


def test_purge_deletes_an_ended_job_and_only_its_audio(server, alice, bob):
    storage = server.state.storage
    done = _done(alice, {"prompt": "to delete", "duration": 0.3, "seed": 1})
    kept = _done(alice, {"prompt": "to keep", "duration": 0.3, "seed": 2})
    assert alice.get(done["audio_url"], params={"format": "flac", "sample_rate": 16000}).is_success
    [(audio_id, key)] = _files(server, done["task_id"])
    cached = conversion_key(audio_id, 16000, "flac")
    assert cached is not None and storage.exists(key) and storage.exists(cached)

    # another account's job is not there for bob: nothing is deleted
    assert bob.delete(f"/generate/{done['task_id']}", params={"purge": "true"}).status_code == 404
    assert alice.get(f"/generate/{done['task_id']}").status_code == 200

    r = alice.delete(f"/generate/{done['task_id']}", params={"purge": "true"})
    assert r.status_code == 204 and r.content == b""
    gone = alice.get(f"/generate/{done['task_id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "TASK_NOT_FOUND"
    assert alice.get(done["audio_url"]).status_code == 404
    assert not storage.exists(key) and not storage.exists(cached)
    assert _files(server, done["task_id"]) == []
    listed = alice.get("/generate", params={"limit": 100}).json()["items"]
    assert done["task_id"] not in [t["task_id"] for t in listed]
    again = alice.delete(f"/generate/{done['task_id']}", params={"purge": "true"})
    assert again.status_code == 404
    # the account's other job and its audio are untouched
    assert alice.get(f"/generate/{kept['task_id']}").json()["status"] == "succeeded"
    assert alice.get(kept["audio_url"]).status_code == 200


def test_queue_position_and_purge_of_a_job_that_has_not_ended(server, alice):
    """One running job per account here: alice's next two wait, 1st and 2nd in the queue."""
    long = alice.post("/generate", json={"prompt": "long drone", "duration": 25}).json()
    waiting = [
        alice.post("/generate", json={"prompt": f"next {i}", "duration": 0.2}).json()
        for i in range(2)
    ]
    wait_until(lambda: alice.get(f"/generate/{long['task_id']}").json()["status"] == "running",
               30, "the long job to run")  # fmt: skip
    first, second = (alice.get(f"/generate/{t['task_id']}").json() for t in waiting)
    assert (first["status"], first["queue_position"]) == ("queued", 1)
    assert (second["status"], second["queue_position"]) == ("queued", 2)
    listed = alice.get("/generate", params={"status": "queued"}).json()["items"]
    assert {t["task_id"]: t["queue_position"] for t in listed} == {
        first["task_id"]: 1,
        second["task_id"]: 2,
    }
    assert alice.get(f"/generate/{long['task_id']}").json()["queue_position"] is None

    # a job that has not ended cannot be purged; DELETE without purge still cancels
    refused = alice.delete(f"/generate/{long['task_id']}", params={"purge": "true"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NOT_DELETABLE"
    cancelled = alice.delete(f"/generate/{long['task_id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = alice.delete(f"/generate/{long['task_id']}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "NOT_CANCELLABLE"
    for task in waiting:
        done = wait_for(alice, task["task_id"])
        assert done["status"] == "succeeded" and done["queue_position"] is None
    # and an ended (cancelled) job can be purged
    purged = alice.delete(f"/generate/{long['task_id']}", params={"purge": "true"})
    assert purged.status_code == 204


# ------------------------------------------------------------------------------ inputs


def test_melody_upload_on_a_melody_model_and_refused_elsewhere(server, alice, bob):
    models = {m["id"]: m for m in alice.get("/models").json()["models"]}
    melody = next(i for i, m in models.items() if "melody" in m["capabilities"])
    plain = str(server.settings.model)
    assert "melody" not in models[plain]["capabilities"]
    upload_id = _upload(alice, 1.0)
    done = _done(alice, {"prompt": "hum", "duration": 0.5, "model": melody,
                         "melody_upload_id": upload_id, "seed": 5})  # fmt: skip
    assert done["status"] == "succeeded", done
    assert done["duration"] == pytest.approx(0.5)
    assert done["params"]["melody"] == upload_id and "melody_upload_id" not in done["params"]
    assert _paths_in(done["params"], server.settings.data_dir) == []
    # the melody shapes the result: another tune, other audio (same seed and prompt)
    other = _done(alice, {"prompt": "hum", "duration": 0.5, "model": melody, "seed": 5,
                          "melody_upload_id": _upload(alice, 1.0)})  # fmt: skip
    plain_run = _done(alice, {"prompt": "hum", "duration": 0.5, "model": melody, "seed": 5})
    assert other["status"] == plain_run["status"] == "succeeded"
    assert alice.get(done["audio_url"]).content != alice.get(plain_run["audio_url"]).content

    # retried with its Idempotency-Key: the same task (each try copies the upload afresh)
    body = {"prompt": "hum", "duration": 0.3, "model": melody, "melody_upload_id": upload_id}
    tries = [alice.post("/generate", json=body, headers={"Idempotency-Key": "hum-1"}) for _ in "ab"]
    assert tries[0].json()["task_id"] == tries[1].json()["task_id"]
    wait_for(alice, tries[0].json()["task_id"])

    # a model without the capability: 422 naming it
    r = alice.post("/generate", json={"prompt": "hum", "model": plain,
                                      "melody_upload_id": upload_id})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNSUPPORTED_FEATURE"
    assert "melody" in r.json()["error"]["message"]
    # someone else's upload, or none at all
    for client, upload in [(bob, upload_id), (alice, "up_" + "x" * 22)]:
        r = client.post("/generate", json={"prompt": "hum", "model": melody,
                                           "melody_upload_id": upload})  # fmt: skip
        assert r.status_code == 404 and r.json()["error"]["code"] == "UPLOAD_NOT_FOUND"


def test_continuation_upload_starts_the_result(server, alice):
    upload_id = _upload(alice, 0.5)
    done = _done(alice, {"prompt": "go on", "duration": 1.0, "seed": 3,
                         "continuation_upload_id": upload_id})  # fmt: skip
    assert done["status"] == "succeeded", done
    assert done["params"]["continuation"] == upload_id
    assert _paths_in(done["params"], server.settings.data_dir) == []
    samples, rate = sf.read(io.BytesIO(alice.get(done["audio_url"]).content))
    assert rate == 32000 and len(samples) == 32000
    clip, _ = sf.read(io.BytesIO(_wav(0.5)))
    start = int(0.4 * rate)  # the clip's own samples, before the crossfade into new audio
    assert np.abs(samples[:start] - clip[:start]).max() < 2e-3
    # the result's length includes the clip: a clip as long as the result is refused up front
    r = alice.post("/generate", json={"prompt": "go on", "duration": 0.5,
                                      "continuation_upload_id": upload_id})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_DURATION"
    # a model without the capability: the composer makes its music from words only
    r = alice.post("/generate", json={"prompt": "go on", "model": "composer",
                                      "continuation_upload_id": upload_id})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNSUPPORTED_FEATURE"
    assert "continuation" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------ params


def test_public_params_name_uploads_never_server_paths(tmp_path):
    state: Any = SimpleNamespace(settings=SimpleNamespace(data_dir=tmp_path))
    scratch = str((tmp_path / "inputs" / "a.wav").resolve())
    params = {
        "prompt": "x",
        "reference": scratch,
        "reference_upload_id": "up_ref",
        "melody": scratch,  # an adapter's input: no upload id
        "source": scratch,
        "continuation": None,
        "extra": {"clips": [scratch, "kept"]},
        "key": "A minor",
    }
    assert public_params(state, params) == {
        "prompt": "x",
        "reference": "up_ref",
        "melody": True,
        "source": True,
        "continuation": None,
        "extra": {"clips": [True, "kept"]},
        "key": "A minor",
    }
