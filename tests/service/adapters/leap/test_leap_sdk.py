"""Leap's npm client ``@leap-ai/sdk`` 1.1.4 under node (``tests/service/node``; skipped with the
reason when node or the installed package is missing: ``npm ci --prefix tests/service/node``),
and ``findOne`` without a key."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import soundfile as sf

NODE_DIR = Path(__file__).parents[2] / "node"


def test_leap_npm_sdk_generate_find_one_list(srv):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Leap npm client cannot run here")
    if not (NODE_DIR / "node_modules" / "@leap-ai" / "sdk").is_dir():
        pytest.skip(f"@leap-ai/sdk is not installed: run `npm install --prefix {NODE_DIR}`")
    key = srv.key("leap-sdk")
    run = subprocess.run(
        [node, str(NODE_DIR / "leap_contract.js"), srv.settings.base_url, key, "2"],
        capture_output=True, text=True, timeout=180, cwd=NODE_DIR,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    created, job = result["created"], result["job"]
    assert created["state"] == "queued" and created["media_uri"] is None
    assert job["state"] == "finished" and job["media_uri"] == job["mediaUri"]
    assert job["id"] in result["listed"]
    samples, rate = sf.read(io.BytesIO(httpx.get(job["media_uri"]).content))
    assert rate == 32000 and len(samples) == 2 * 32000


def test_leap_find_one_without_a_key(srv):
    """findOne sends no Authorization: the 128-bit id is the capability, Leap's jobs only."""
    key = srv.key("leap-anon")
    owner = httpx.Client(base_url=f"{srv.settings.base_url}/api/v1",
                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    leap_job = owner.post("/music", json={"prompt": "x", "duration": 1}).json()
    rest_job = owner.post("/generate", json={"prompt": "x", "duration": 1}).json()
    anonymous = httpx.get(f"{srv.settings.base_url}/api/v1/music/{leap_job['id']}")
    assert anonymous.status_code == 200 and anonymous.json()["id"] == leap_job["id"]
    not_leap = httpx.get(f"{srv.settings.base_url}/api/v1/music/{rest_job['task_id']}")
    assert not_leap.status_code == 404  # a REST job is not reachable through the Leap path
    other = {"Authorization": f"Bearer {srv.key('leap-other')}"}
    theirs = httpx.get(f"{srv.settings.base_url}/api/v1/music/{leap_job['id']}", headers=other)
    assert theirs.status_code == 404  # with a key, the job must be that key's account's
    bad = {"Authorization": "Bearer mgk_wrong"}
    assert httpx.get(f"{srv.settings.base_url}/api/v1/music/x", headers=bad).status_code == 401
    assert httpx.get(f"{srv.settings.base_url}/api/v1/music").status_code == 401
