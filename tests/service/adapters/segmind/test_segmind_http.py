"""Segmind over HTTP: the seed's example request, its documented errors, credits (set by
``MUSIC_GEN_KEY_CREDITS``, as deployments do) and server errors."""

from __future__ import annotations

import io

import httpx
import soundfile as sf
from adapter_helpers import start_with_env


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
    # Segmind's middleware runs on its own paths only: not on the rest of the service
    for path in ("/api/v1/health", "/v2/requests/nope/status", "/api/v6/voice/fetch/nope"):
        answer = httpx.request("GET" if "health" in path or "v2" in path else "POST",
                               f"{base}{path}", headers={"x-api-key": key})  # fmt: skip
        assert "x-remaining-credits" not in answer.headers, path
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
    env = {"MUSIC_GEN_KEY_CREDITS": "3", "MUSIC_GEN_CREDITS_PER_SECOND": "1"}
    srv = start_with_env(tmp_path, env, model=str(checkpoints["mono"]))
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
