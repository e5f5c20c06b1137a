"""Drop-in adapters: each seed document's own example request, sent to a real server, plus the
error cases each documents (Leap, Segmind, ModelsLab)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
import soundfile as sf
from service_helpers import start_server

from music_gen.service.core.webhooks import SIGNATURE_HEADER, verify_signature


class Files:
    """A loopback HTTP server: GET serves ``routes``; POST records JSON bodies (webhooks)."""

    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes, self.posts = routes, []
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = files.routes.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.end_headers()
                self.wfile.write(data or b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                files.posts.append((body, self.headers.get(SIGNATURE_HEADER)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()


def _wav(seconds: float, sr: int = 32000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def files():
    f = Files({"/clip.wav": _wav(2.0), "/long.wav": _wav(31.0), "/text.txt": b"not audio"})
    yield f
    f.close()


# ---------------------------------------------------------------------------------- Leap
def test_leap_example_request(server):
    key = server.key("leap")
    client = httpx.Client(base_url=server.settings.base_url, timeout=60,
                          headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    r = client.post("/api/v1/music", json={
        "prompt": "An electronic music soundtrack with a trumpet solo",
        "mode": "melody",
        "duration": 28,
    })  # fmt: skip
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["state"] == "queued" and job["prompt"].startswith("An electronic")
    assert job["createdAt"].endswith("Z") and job["mediaUri"] is None and job["mode"] == "melody"
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "processing"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
        job = client.get(f"/api/v1/music/{job['id']}").json()
    assert job["state"] == "finished"
    samples, rate = sf.read(io.BytesIO(client.get(job["mediaUri"]).content))
    assert rate == 32000 and len(samples) == 28 * 32000
    listed = client.get("/api/v1/music").json()
    assert isinstance(listed, list) and job["id"] in [j["id"] for j in listed]
    assert all(set(j) >= {"id", "createdAt", "prompt", "state", "mediaUri"} for j in listed)


def test_leap_errors(server):
    client = httpx.Client(base_url=server.settings.base_url,
                          headers={"Authorization": f"Bearer {server.key('leap2')}"})  # fmt: skip
    assert client.post("/api/v1/music", json={"prompt": "x", "duration": 31}).status_code == 422
    assert client.post("/api/v1/music", json={"prompt": "x", "mode": "jazz"}).status_code == 422
    assert client.get("/api/v1/music/nope").status_code == 404
    assert httpx.get(f"{server.settings.base_url}/api/v1/music").status_code == 401


# ---------------------------------------------------------------------------------- Segmind
def test_segmind_example_request(server):
    key = server.key("segmind")
    url = f"{server.settings.base_url}/v1/meta-musicgen-medium"
    data = {"prompt": "lo-fi music with a soothing melody", "duration": 10, "seed": 42}
    r = httpx.post(url, json=data, headers={"x-api-key": key}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    assert r.headers["x-remaining-credits"] == "unlimited"
    samples, rate = sf.read(io.BytesIO(r.content))
    assert rate == 32000 and len(samples) == 10 * 32000
    again = httpx.post(url, json=data, headers={"x-api-key": key}, timeout=120)
    assert again.content == r.content  # seed 42 twice: the same audio
    mp3 = httpx.post(url, json={**data, "duration": 1}, headers={"x-api-key": key,
                     "Accept": "audio/mpeg"}, timeout=120)  # fmt: skip
    assert mp3.headers["content-type"] == "audio/mpeg"


def test_segmind_documented_errors(server):
    base, key = server.settings.base_url, server.key("segmind-errors")
    body = {"prompt": "x", "duration": 1}
    bad = httpx.post(f"{base}/v1/meta-musicgen-medium", json=body, headers={"x-api-key": "no"})
    assert bad.status_code == 401 and "x-remaining-credits" in bad.headers
    other = httpx.post(f"{base}/v1/some-other-model", json=body, headers={"x-api-key": key})
    assert other.status_code == 404
    get = httpx.get(f"{base}/v1/meta-musicgen-medium", headers={"x-api-key": key})
    assert get.status_code == 405 and "x-remaining-credits" in get.headers
    for wrong in ({"prompt": "x", "duration": 31}, {"prompt": "x", "seed": 10000}, {}):
        r = httpx.post(f"{base}/v1/meta-musicgen-medium", json=wrong, headers={"x-api-key": key})
        assert r.status_code == 400 and isinstance(r.json()["error"], str)  # Segmind's envelope
        assert r.json()["code"] == "VALIDATION_ERROR"
    # the model path is checked before the body and the key: 404, not a validation error
    assert httpx.post(f"{base}/v1/some-other-model", json={}).status_code == 404
    missing = httpx.post(f"{base}/v1/meta-musicgen-medium", json=body)
    assert missing.status_code == 401 and "x-api-key" in missing.json()["error"]
    assert "Bearer" not in missing.json()["error"]
    deep = httpx.post(f"{base}/v1/meta-musicgen-medium", content=b"[" * 15_000,
                      headers={"x-api-key": key})  # fmt: skip
    assert deep.status_code == 400 and deep.json()["code"] == "INVALID_BODY"


def test_segmind_credits_and_server_errors(tmp_path, checkpoints):
    srv = start_server(tmp_path, model=str(checkpoints["mono"]), key_credits=3.0,
                       credits_per_second=1.0)  # fmt: skip
    try:
        key, url = srv.key("poor"), f"{srv.settings.base_url}/v1/meta-musicgen-medium"
        ok = httpx.post(url, json={"prompt": "x", "duration": 2}, headers={"x-api-key": key},
                        timeout=60)  # fmt: skip
        assert ok.status_code == 200 and ok.headers["x-remaining-credits"] == "1"
        poor = httpx.post(url, json={"prompt": "x", "duration": 2}, headers={"x-api-key": key})
        assert poor.status_code == 406 and poor.json()["code"] == "NOT_ENOUGH_CREDITS"
        srv.state.settings.model = "/nowhere/checkpoint"  # the engine cannot load: a 500
        rich = srv.key("rich")
        broken = httpx.post(url, json={"prompt": "x", "duration": 1}, headers={"x-api-key": rich},
                            timeout=60)  # fmt: skip
        assert broken.status_code == 500 and broken.json()["error"]
        assert broken.headers["x-remaining-credits"] == "3"  # nothing spent on a failure
    finally:
        srv.stop()


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
    from music_gen import load_audio

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
    server.state.settings.sync_wait_seconds = 0.0  # answer before the job ends
    try:
        queued = _modelslab(server, {"key": key, "prompt": "slow one", "webhook":
                                     f"{files.base}/hook", "track_id": "t-9"}).json()  # fmt: skip
    finally:
        server.state.settings.sync_wait_seconds = 10.0
    assert queued["status"] == "processing" and queued["eta"] > 0
    assert queued["fetch_result"].endswith(f"/api/v6/voice/fetch/{queued['id']}")
    deadline = time.monotonic() + 60
    while True:
        fetched = httpx.post(queued["fetch_result"], json={"key": key}).json()
        if fetched["status"] != "processing":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert fetched["status"] == "success" and fetched["track_id"] == "t-9"
    deadline = time.monotonic() + 20
    while not [p for p in files.posts if json.loads(p[0])["id"] == queued["id"]]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    body, signature = next(p for p in files.posts if json.loads(p[0])["id"] == queued["id"])
    assert json.loads(body)["status"] == "success"
    assert json.loads(body)["track_id"] == "t-9"
    from music_gen.service.core.auth import KeyStore

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
