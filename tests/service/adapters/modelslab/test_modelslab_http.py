"""ModelsLab over HTTP: the seed's example request, base64 / temp links / webhooks / fetch, its
errors in ModelsLab's own shape, and the rate limit on fetch."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf
from adapter_helpers import adapter_settings
from service_helpers import start_server, wait_until

from music_gen import load_audio
from music_gen.service.core.infra.webhooks import verify_signature


# ---------------------------------------------------------------------------------- ModelsLab
def _modelslab(server, body, path="/api/v6/voice/music_gen"):
    return httpx.post(f"{server.settings.base_url}{path}", json=body, timeout=120)


def test_modelslab_example_request(server, files):
    key = server.key("modelslab")
    body = {  # the seed's example; its init_audio URL points at a loopback copy here
        "key": key,
        "prompt": "rock music from the 90s",
        "init_audio": f"{files.base}/clip.wav",
        "sampling_rate": 5000,
        "base64": False,
        "temp": False,
        "webhook": "",
        "track_id": "",
    }
    r = _modelslab(server, body)
    assert r.status_code == 200
    out = r.json()
    assert out["status"] == "success", out
    assert isinstance(out["generationTime"], float) and out["id"]
    assert len(out["output"]) == 1 and out["proxy_links"] == out["output"]
    meta = out["meta"]
    assert meta["input_text"] == "rock music from the 90s" and meta["max_new_token"] == 256
    assert meta["sampling_rate"] == 10000 and meta["base64"] == "no" and meta["temp"] == "no"
    assert meta["conditioning_melody"] == [body["init_audio"]]
    samples, rate = sf.read(io.BytesIO(httpx.get(out["output"][0]).content))
    assert rate == 10000 and len(samples) == round(256 / 50 * 10000)
    # text-only checkpoint: the init audio is the continuation prompt, so the output starts with it
    clip, _ = sf.read(io.BytesIO(files.routes["/clip.wav"]))

    start = load_audio(httpx.get(out["output"][0]).content).resample(32000).samples[0, :32000]
    assert np.corrcoef(start[1000:30000], clip[1000:30000])[0, 1] > 0.9


def test_modelslab_base64_temp_webhook_and_fetch(server, files):
    key = server.key("modelslab2")
    inline = _modelslab(server, {"key": key, "prompt": "jazz", "base64": True}).json()
    assert inline["status"] == "success" and inline["meta"]["base64"] == "yes"
    assert sf.read(io.BytesIO(base64.b64decode(inline["output"][0])))[1] == 32000
    temp = _modelslab(server, {"key": key, "prompt": "jazz", "temp": True}).json()
    link = temp["output"][0]
    assert "expires=" in link and httpx.get(link).status_code == 200
    assert httpx.get(link.replace("sig=", "sig=0")).status_code == 404
    assert httpx.get(link.replace("sig=", "sig=%C2%AE")).status_code == 404  # found by fuzzing
    settings = adapter_settings(server, "modelslab")
    settings.sync_wait_seconds = 0.0  # answer before the job ends
    try:
        queued = _modelslab(server, {"key": key, "prompt": "slow one", "webhook":
                                     f"{files.base}/hook", "track_id": "t-9"}).json()  # fmt: skip
    finally:
        settings.sync_wait_seconds = 10.0
    assert queued["status"] == "processing" and queued["eta"] > 0
    assert queued["fetch_result"].endswith(f"/api/v6/voice/fetch/{queued['id']}")

    def fetch() -> dict | None:
        out = httpx.post(queued["fetch_result"], json={"key": key}).json()
        return None if out["status"] == "processing" else out

    fetched = wait_until(fetch, 60, "the fetch to end", interval=0.1)
    assert fetched["status"] == "success" and fetched["track_id"] == "t-9"
    wait_until(lambda: [p for p in files.posts if json.loads(p[0])["id"] == queued["id"]], 20,
               "the webhook")  # fmt: skip
    body, signature = next(p for p in files.posts if json.loads(p[0])["id"] == queued["id"])
    assert json.loads(body)["status"] == "success"
    assert json.loads(body)["track_id"] == "t-9"
    from music_gen.service.core.infra.auth import KeyStore

    secret = next(a.webhook_secret for k, a in KeyStore(server.state.db).list_keys()
                  if k.name == "modelslab2")  # fmt: skip
    assert verify_signature(secret, body, signature)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"key": "wrong"}, "UNAUTHORIZED"),
        ({"max_new_token": 100}, "max_new_token"),
        ({"prompt": ""}, "INVALID_PROMPT"),
        ({"init_audio": "http://10.0.0.7/a.wav"}, "INVALID_INIT_AUDIO"),
        ({"init_audio": "file:///etc/passwd"}, "INVALID_INIT_AUDIO"),
        ({"init_audio": "TEXT"}, "INVALID_AUDIO"),
        ({"init_audio": "LONG"}, "INVALID_AUDIO"),
        ({"init_audio": "MISSING"}, "INVALID_AUDIO"),
    ],
)
def test_modelslab_errors(server, files, change, needle):
    body = {"key": server.key("modelslab-errors"), "prompt": "x", **change}
    if body.get("key") == "wrong":
        body["key"] = "mgk_wrong"
    replace = {"TEXT": "/text.txt", "LONG": "/long.wav", "MISSING": "/missing.wav"}
    if body.get("init_audio") in replace:
        body["init_audio"] = files.base + replace[body["init_audio"]]
    r = _modelslab(server, body)
    assert r.status_code == 200
    out = r.json()
    assert out["status"] == "error" and needle in out["message"], out
    assert "Traceback" not in r.text


def test_modelslab_bad_bodies_answer_in_modelslab_shape(server):
    key = server.key("modelslab-bodies")
    deep = httpx.post(f"{server.settings.base_url}/api/v6/voice/music_gen",
                      content=b'{"key": "k", "prompt": ' + b"[" * 15_000)  # fmt: skip
    assert deep.status_code == 200 and deep.json() == {
        "status": "error", "message": "INVALID_BODY: the body nests too deeply"}  # fmt: skip
    long_id = _modelslab(server, {"key": key, "prompt": "x", "track_id": "t" * 201}).json()
    assert long_id["status"] == "error" and long_id["message"].startswith("track_id:")
    for body in (b"", b"[1]", b"not json"):  # fetch with no body (or a bad one): 200, error
        r = httpx.post(f"{server.settings.base_url}/api/v6/voice/fetch/abc", content=body)
        assert r.status_code == 200 and r.json()["status"] == "error", r.text
    no_key = httpx.post(f"{server.settings.base_url}/api/v6/voice/fetch/abc", json={})
    assert "UNAUTHORIZED" in no_key.json()["message"]
    number = _modelslab(server, {"key": key, "prompt": "x", "temp": 0.5, "base64": "false"}).json()
    assert number["status"] in ("success", "processing"), number  # accepted, as a number
    assert number["meta"]["temp"] == "yes" and number["meta"]["base64"] == "no"


def test_modelslab_fetch_counts_against_the_rate_limit(tmp_path, checkpoints):
    srv = start_server(tmp_path, model=str(checkpoints["mono"]), rate_limit="3/minute")
    try:
        key, url = srv.key("ml-limit"), f"{srv.settings.base_url}/api/v6/voice/fetch/nope"
        answers = [httpx.post(url, json={"key": key}).json()["message"] for _ in range(5)]
        assert [a.split(":")[0] for a in answers] == ["TASK_NOT_FOUND"] * 3 + ["RATE_LIMITED"] * 2
    finally:
        srv.stop()
