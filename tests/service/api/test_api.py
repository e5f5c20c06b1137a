"""The REST API over real HTTP: job life cycle, errors in one shape, auth, idempotency, batches,
cancellation, audio download with Range and conversion — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import soundfile as sf
from service_helpers import wait_for, wait_until


@pytest.fixture(scope="module")
def alice(server):
    return server.client(server.key("alice"))


@pytest.fixture(scope="module")
def bob(server):
    return server.client(server.key("bob"))


def test_job_life_cycle(server, alice):
    r = alice.post("/generate", json={"prompt": "calm piano", "duration": 0.6, "seed": 11})
    assert r.status_code == 202, r.text
    submitted = r.json()
    assert submitted["status"] == "queued" and submitted["eta"] > 0
    assert r.headers["Location"].endswith(f"/generate/{submitted['task_id']}")
    done = wait_for(alice, submitted["task_id"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0 and done["seed"] == 11 and done["attempts"] == 1
    assert done["duration"] == pytest.approx(0.6)
    assert (done["type"], done["origin"], done["kind"]) == ("batch", "api", "generate")
    assert done["metadata"]["seed"] == 11 and done["metadata"]["engine"] == "fast"
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    audio = alice.get(done["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(audio.content))
    assert rate == 32000 and len(samples) == 19200 and np.abs(samples).max() > 0
    # the same seed gives the same audio: the service adds nothing random
    again = wait_for(
        alice,
        alice.post("/generate", json={"prompt": "calm piano", "duration": 0.6, "seed": 11}).json()[
            "task_id"
        ],
    )
    assert alice.get(again["audio_url"]).content == audio.content
    listed = alice.get("/generate", params={"status": "succeeded", "limit": 100}).json()
    assert submitted["task_id"] in [t["task_id"] for t in listed["items"]]
    assert all(t["status"] == "succeeded" for t in listed["items"])


def test_seed_is_chosen_and_recorded_when_omitted(alice):
    task = alice.post("/generate", json={"prompt": "drums", "duration": 0.2}).json()
    done = wait_for(alice, task["task_id"])
    assert isinstance(done["seed"], int) and done["params"]["seed"] == done["seed"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"prompt": "", "duration": 1}, 422, "INVALID_PROMPT"),
        ({"prompt": "x" * 2001}, 422, "INVALID_PROMPT"),
        ({"prompt": "x", "duration": -1}, 422, "INVALID_DURATION"),
        ({"prompt": "x", "duration": 31}, 422, "INVALID_DURATION"),
        ({"prompt": "x", "top_p": 2}, 422, "INVALID_TOP_P"),
        ({"prompt": "x", "seed": -5}, 422, "INVALID_SEED"),
        ({"prompt": "x", "duration": "long"}, 422, "VALIDATION_ERROR"),
        ({"prompt": "x", "colour": "blue"}, 422, "VALIDATION_ERROR"),
        ({"duration": 3}, 422, "VALIDATION_ERROR"),
        ({"prompt": "x", "format": "aiff"}, 422, "VALIDATION_ERROR"),
        ({"prompt": "x", "format": "mp3", "sample_rate": 37000}, 422, "INVALID_SAMPLE_RATE"),
        ({"prompt": "x", "model": "musicgen-huge"}, 404, "UNKNOWN_MODEL"),
        ({"prompt": "x", "webhook_url": "ftp://example.com/x"}, 422, "INVALID_WEBHOOK_URL"),
        ({"prompt": "x", "webhook_url": "http://10.1.2.3/hook"}, 422, "INVALID_WEBHOOK_URL"),
        ({"prompt": "x", "webhook_url": "http://169.254.169.254/"}, 422, "INVALID_WEBHOOK_URL"),
    ],
)
def test_bad_requests_get_one_error_shape(alice, body, status, code):
    r = alice.post("/generate", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and isinstance(error["details"], dict)


def test_transport_level_errors_share_the_shape(server, alice):
    json_type = {"content-type": "application/json"}
    for response, status, code in [
        (alice.post("/generate", content=b"{not json", headers=json_type),
         422, "VALIDATION_ERROR"),
        (alice.post("/generate", content=b"\xff\xfe", headers=json_type),
         422, None),
        (alice.post("/generate", json={"prompt": "x" * 30_000}), 413, "PAYLOAD_TOO_LARGE"),
        (alice.get("/nowhere"), 404, "NOT_FOUND"),
        (alice.put("/generate"), 405, "METHOD_NOT_ALLOWED"),
        (alice.get("/generate/does-not-exist"), 404, "TASK_NOT_FOUND"),
        (alice.get("/generate", params={"limit": 0}), 422, "VALIDATION_ERROR"),
        (alice.get("/audio/nope"), 404, "AUDIO_NOT_FOUND"),
    ]:  # fmt: skip
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert code is None or error["code"] == code
        assert "Traceback" not in response.text


def test_auth_and_account_isolation(server, alice, bob):
    anonymous = server.client(None)
    r = anonymous.post("/generate", json={"prompt": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert r.headers["www-authenticate"] == "Bearer"
    assert server.client("mgk_wrong").get("/generate").status_code == 401
    task = alice.post("/generate", json={"prompt": "secret song", "duration": 0.2}).json()
    assert bob.get(f"/generate/{task['task_id']}").status_code == 404
    assert bob.delete(f"/generate/{task['task_id']}").status_code == 404
    ids = [t["task_id"] for t in bob.get("/generate", params={"limit": 100}).json()["items"]]
    assert task["task_id"] not in ids
    wait_for(alice, task["task_id"])


def test_revoked_key_stops_working(server):
    from music_gen.service.core.infra.auth import KeyStore

    keys = KeyStore(server.state.db)
    key, record, _ = keys.create_key("temp")
    client = server.client(key)
    assert client.get("/generate").status_code == 200
    assert keys.revoke(record.id)
    assert client.get("/generate").status_code == 401


def test_idempotency_key(alice):
    body = {"prompt": "idempotent tune", "duration": 0.2, "seed": 1}
    headers = {"Idempotency-Key": "order-42"}
    first = alice.post("/generate", json=body, headers=headers).json()
    second = alice.post("/generate", json=body, headers=headers).json()
    assert first["task_id"] == second["task_id"]
    clash = alice.post("/generate", json={**body, "seed": 2}, headers=headers)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    wait_for(alice, first["task_id"])


def test_batch(alice):
    r = alice.post(
        "/generate/batch",
        json={"requests": [{"prompt": "Piano melody", "duration": 0.4},
                           {"prompt": "Guitar solo", "duration": 0.6, "format": "flac"}]},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    batch = r.json()
    assert len(batch["tasks"]) == 2
    results = [wait_for(alice, t["task_id"]) for t in batch["tasks"]]
    assert [x["duration"] for x in results] == pytest.approx([0.4, 0.6])
    assert alice.get(results[1]["audio_url"]).headers["content-type"] == "audio/flac"
    listed = alice.get(f"/generate/batch/{batch['batch_id']}").json()
    assert {t["task_id"] for t in listed["items"]} == {t["task_id"] for t in batch["tasks"]}
    bad = alice.post("/generate/batch", json={"requests": [{"prompt": "ok"}, {"prompt": ""}]})
    assert bad.status_code == 422  # nothing of a bad batch is queued
    assert alice.post("/generate/batch", json={"requests": []}).status_code == 422


def test_cancel_running_job(server, alice):
    task = alice.post("/generate", json={"prompt": "long drone", "duration": 25}).json()
    wait_until(lambda: alice.get(f"/generate/{task['task_id']}").json()["status"] == "running",
               30, "the job to run")  # fmt: skip
    r = alice.delete(f"/generate/{task['task_id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    time.sleep(0.5)
    final = alice.get(f"/generate/{task['task_id']}").json()
    assert final["status"] == "cancelled" and final["audio_url"] is None
    again = alice.delete(f"/generate/{task['task_id']}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "NOT_CANCELLABLE"
    wait_until(lambda: task["task_id"] not in server.state.worker.running, 10,
               "the worker to drop it at its next turn")  # fmt: skip


def test_audio_range_and_conversion(alice):
    done = wait_for(
        alice,
        alice.post("/generate", json={"prompt": "bells", "duration": 0.5, "seed": 3}).json()[
            "task_id"
        ],
    )
    url = done["audio_url"]
    whole = alice.get(url).content
    part = alice.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == whole[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(whole)}"
    assert alice.get(url, headers={"Range": f"bytes={len(whole) + 10}-"}).status_code == 416
    for fmt, rate in [("flac", 16000), ("mp3", 44100), ("ogg", 32000), ("wav", 22050)]:
        r = alice.get(url, params={"format": fmt, "sample_rate": rate})
        assert r.status_code == 200, r.text
        samples, got_rate = sf.read(io.BytesIO(r.content))
        assert got_rate == rate
        assert abs(len(samples) / rate - 0.5) < 0.06
    bad = alice.get(url, params={"format": "aiff"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_FORMAT"


def test_stereo_model_by_name(alice):
    models = alice.get("/models").json()["models"]
    stereo = next(m for m in models if "stereo" in m["capabilities"])
    done = wait_for(
        alice,
        alice.post(
            "/generate", json={"prompt": "wide", "duration": 0.3, "model": stereo["id"]}
        ).json()["task_id"],
    )
    assert done["status"] == "succeeded"
    samples, _ = sf.read(io.BytesIO(alice.get(done["audio_url"]).content))
    assert samples.shape[1] == 2


def test_models_and_health(server, alice):
    models = alice.get("/models").json()["models"]
    default = next(m for m in models if m["default"])
    assert default["sample_rate"] == 32000 and default["cached"] and default["channels"] == 1
    assert "text" in default["capabilities"]
    health = server.client(None).get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = server.client(None).get("/health/ready").json()
    assert ready["ready"] and ready["worker_alive"] and ready["model_loadable"]
    assert ready["queue_depth"] >= 0


def test_openapi_docs(server):
    client = server.client(None)
    assert client.get(server.settings.base_url + "/docs").status_code == 200
    spec = client.get(server.settings.base_url + "/openapi.json").json()
    assert "/api/v1/generate" in spec["paths"] and "/api/v1/generate/{task_id}" in spec["paths"]
