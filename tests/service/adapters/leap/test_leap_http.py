"""Leap: the seed document's own example request and its documented errors, on a real
server (SQLite and PostgreSQL)."""

from __future__ import annotations

import io

import httpx
import soundfile as sf
from service_helpers import wait_until


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

    def ended() -> dict | None:
        current = client.get(f"/api/v1/music/{job['id']}").json()
        return None if current["state"] in ("queued", "processing") else current

    job = wait_until(ended, 120, "the job to end", interval=0.2)
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
