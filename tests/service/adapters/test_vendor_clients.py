"""Contract tests: the vendors' own published clients, unchanged but for their base URL and key,
against a real server on loopback.

- Segmind: PyPI ``segmind`` (``SegmindClient.run`` = v2 submit/poll/fetch, ``run_sync`` = v1).
- ModelsLab: PyPI ``modelslab-py`` (``Audio.music_gen``, ``Audio.fetch``).
- Leap: npm ``@leap-ai/sdk`` 1.1.4 under node (``tests/service/node``; skipped with the reason
  when node or the installed package is missing: ``npm install --prefix tests/service/node``).
- AI/ML API: its SDK has no music call; its generic polling rule (keep polling while the
  top-level ``status`` is a pending word) is applied to the README's own music-01 example, on
  the composer, the default model of a machine with no weights.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from service_helpers import start_server

from music_gen import load_audio

NODE_DIR = Path(__file__).parent.parent / "node"
# modelslab-py calls pydantic's deprecated .dict(); that is the client's business, not ours
pytestmark = pytest.mark.filterwarnings("ignore:The `dict` method is deprecated")


@pytest.fixture(scope="module")
def srv(tmp_path_factory, checkpoints):
    server = start_server(tmp_path_factory.mktemp("vendors"), model=str(checkpoints["mono"]),
                          max_duration=30.0)  # fmt: skip
    yield server
    server.stop()


def _mp3_bitrate(data: bytes) -> int:
    """kbit/s of the first MPEG audio frame (after any ID3 tag)."""
    i = 0
    if data[:3] == b"ID3":
        i = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    while not (data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0):
        i += 1
    mpeg1 = (data[i + 1] >> 3) & 3 == 3
    table = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320) if mpeg1
             else (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))  # fmt: skip
    return table[data[i + 2] >> 4]


# ---------------------------------------------------------------------------------- Segmind
def test_segmind_sdk_run_and_run_sync(srv):
    segmind = pytest.importorskip("segmind", reason="PyPI segmind is not installed")
    client = segmind.SegmindClient(api_key=srv.key("sg"), base_url=f"{srv.settings.base_url}/v1")
    result = client.run("meta-musicgen-medium", prompt="lo-fi music with a soothing melody",
                        duration=2, seed=42)  # fmt: skip
    assert result["status"] == "COMPLETED" and result["metrics"]["total_time"] >= 0
    samples, rate = sf.read(io.BytesIO(httpx.get(result["output"]).content))
    assert rate == 32000 and len(samples) == 2 * 32000 and np.abs(samples).max() > 0
    sync = client.run_sync("meta-musicgen-medium", prompt="lo-fi music with a soothing melody",
                           duration=2, seed=42)  # fmt: skip
    assert sync.headers["content-type"] == "audio/wav"
    assert np.array_equal(sf.read(io.BytesIO(sync.content))[0], samples)  # seed 42 both ways


def test_segmind_sdk_errors(srv):
    segmind = pytest.importorskip("segmind", reason="PyPI segmind is not installed")
    base = f"{srv.settings.base_url}/v1"
    client = segmind.SegmindClient(api_key=srv.key("sg-errors"), base_url=base)
    with pytest.raises(segmind.SegmindError) as bad:
        client.submit_async("meta-musicgen-medium", prompt="x", duration=31)
    assert bad.value.status == 400 and "duration" in bad.value.detail
    with pytest.raises(segmind.SegmindError) as unknown:
        client.submit_async("sdxl-turbo")  # no prompt either: the path is checked first
    assert unknown.value.status == 404
    with pytest.raises(segmind.SegmindError) as keyless:
        segmind.SegmindClient(api_key="", base_url=base).run("meta-musicgen-medium", prompt="x")
    assert keyless.value.status == 401 and "x-api-key" in keyless.value.detail
    with pytest.raises(segmind.SegmindError) as wrong:
        segmind.SegmindClient(api_key="mgk_nope", base_url=base).run_sync(
            "meta-musicgen-medium", prompt="x"
        )
    assert wrong.value.status == 401


def test_segmind_sdk_failure_gives_credits_back(tmp_path, checkpoints):
    segmind = pytest.importorskip("segmind", reason="PyPI segmind is not installed")
    from segmind.v2 import InferenceFailed

    server = start_server(tmp_path, model=str(checkpoints["mono"]), key_credits=10.0,
                          credits_per_second=1.0)  # fmt: skip
    try:
        key, base = server.key("sg-credits"), server.settings.base_url
        client = segmind.SegmindClient(api_key=key, base_url=f"{base}/v1")
        done = client.run("meta-musicgen-medium", prompt="calm piano", duration=3)
        assert done["cost"] == 3.0 and done["remaining_credits"] == "7"
        server.state.settings.model = "/nowhere/checkpoint"  # the engine cannot load it
        job = client.submit_async("meta-musicgen-medium", prompt="calm piano", duration=4)
        with pytest.raises(InferenceFailed) as failed:
            job.wait(timeout=60, interval=0.2)
        assert failed.value.detail and failed.value.status_body["status"] == "FAILED"
        assert job.result()["status"] == "FAILED"  # read twice: given back once
        head = httpx.post(f"{base}/v1/meta-musicgen-medium", headers={"x-api-key": key}, json={})
        assert head.headers["x-remaining-credits"] == "7"
        with pytest.raises(segmind.SegmindError) as poor:
            client.submit_async("meta-musicgen-medium", prompt="calm piano", duration=8)
        assert poor.value.status == 406
    finally:
        server.stop()


# ---------------------------------------------------------------------------------- ModelsLab
def _modelslab(srv, key: str):
    pytest.importorskip("requests", reason="modelslab-py needs requests")
    core = pytest.importorskip("modelslab_py.core.client", reason="modelslab-py is not installed")
    apis = pytest.importorskip("modelslab_py.core.apis.audio")
    schemas = pytest.importorskip("modelslab_py.schemas.audio")
    client = core.Client(api_key=key, fetch_retry=300, fetch_timeout=1)
    client.base_url = f"{srv.settings.base_url}/api/"
    return client, apis.Audio(client), schemas.MusicGenSchema


@pytest.mark.parametrize(("fmt", "bitrate"), [("mp3", "128k"), ("mp3", "320k"), ("flac", None)])
def test_modelslab_sdk_formats_and_temp_links(srv, fmt, bitrate):
    client, audio, schema = _modelslab(srv, srv.key("ml"))
    options = {"bitrate": bitrate} if bitrate else {}
    out = audio.music_gen(schema(prompt="rock music from the 90s", output_format=fmt, temp=0.5,
                                **options))  # fmt: skip
    if out["status"] == "processing":  # not done within the sync wait (a loaded machine)
        out = audio.fetch(out["id"])
    assert out["status"] == "success", out
    assert out["meta"]["output_format"] == fmt and out["meta"]["temp"] == "yes"
    link = out["output"][0]
    assert "/api/v6/voice/temp/" in link and out["meta"]["filename"] == f"{out['id']}.{fmt}"
    data = httpx.get(link).content
    decoded = load_audio(data)
    assert abs(decoded.duration - 256 / 50) < 0.1 and np.abs(decoded.samples).max() > 0
    if fmt == "mp3":
        assert data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3")
        assert _mp3_bitrate(data) == int(bitrate[:-1])
    else:
        assert data[:4] == b"fLaC"
    # the permanent audio URL appears nowhere in a temp answer, and the link needs its signature
    job = srv.client(client.api_key).get(f"/generate/{out['id']}").json()
    audio_id = job["audio_url"].rsplit("/", 1)[1]
    assert audio_id not in json.dumps(out)
    bare = link.split("?", 1)[0]
    assert httpx.get(bare).status_code == 404
    assert httpx.get(bare + "?" + link.split("?", 1)[1].split("&")[0]).status_code == 404


def test_modelslab_sdk_fetch_and_wav_default(srv):
    _, audio, schema = _modelslab(srv, srv.key("ml-fetch"))
    srv.state.settings.sync_wait_seconds = 0.0  # answer "processing" at once
    try:
        queued = audio.music_gen(schema(prompt="jazz trio", max_new_token=300))
    finally:
        srv.state.settings.sync_wait_seconds = 10.0
    assert queued["status"] == "processing" and queued["fetch_result"].endswith(queued["id"])
    done = audio.fetch(queued["id"])
    assert done["status"] == "success" and done["meta"]["output_format"] == "wav"
    samples, rate = sf.read(io.BytesIO(httpx.get(done["output"][0]).content))
    assert rate == 32000 and len(samples) == 300 * 32000 // 50


# ---------------------------------------------------------------------------------- Leap
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


# ---------------------------------------------------------------------------------- AI/ML API
_PENDING = {"waiting", "active", "processing", "queued", "generating"}  # the SDK's poll_job set


def _loop(seconds: float, bpm: float, tonic_hz: float, sr: int = 32000) -> bytes:
    """A drum-and-chord loop at ``bpm`` on a minor triad of ``tonic_hz``."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.12 * np.sin(2 * np.pi * tonic_hz * r * t) for r in (1, 2 ** (3 / 12), 2 ** (7 / 12)))
    rng = np.random.default_rng(0)
    for start in np.arange(0, seconds, 60 / bpm):
        i, n = int(start * sr), int(0.05 * sr)
        x[i : i + n] += 0.5 * rng.standard_normal(len(x[i : i + n])) * np.exp(-np.arange(
            len(x[i : i + n])) / 400)  # fmt: skip
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def test_aimlapi_readme_example_on_the_composer(tmp_path):
    server = start_server(tmp_path, model="composer")
    try:
        base, key = server.settings.base_url, server.key("aiml-composer")
        headers = {"Authorization": f"Bearer {key}"}
        ids = httpx.post(f"{base}/v2/generate/audio/minimax/upload", headers=headers, timeout=60,
                         files={"file": ("loop.wav", _loop(12.0, 96, 220.0))},
                         data={"purpose": "instrumental"}).json()  # fmt: skip
        gen = httpx.post(f"{base}/v2/generate/audio/minimax/generate", headers=headers, json={
            "model": "music-01", "lyrics": "##\n\n##", "refer_instrumental": ids["instrumental_id"],
            "audio_setting": {"sample_rate": 44100, "bitrate": 256000, "format": "mp3"},
            "duration": 6}).json()  # fmt: skip
        assert gen["base_resp"]["status_code"] == 0, gen
        seen, deadline = [], time.monotonic() + 120
        while True:  # aimlapi's poll_job: keep polling while the top-level status is pending
            result = httpx.get(f"{base}/v2/generate/audio/minimax/generate", headers=headers,
                               params={"generation_id": gen["generation_id"]}).json()  # fmt: skip
            seen.append(result["status"])
            if result["status"].lower() not in _PENDING:
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert result["status"] == "completed" and result["data"]["status"] == 2
        decoded = load_audio(bytes.fromhex(result["data"]["audio"]))
        assert decoded.sample_rate == 44100 and abs(decoded.duration - 6) < 0.1
        job = server.client(key).get(f"/generate/{gen['generation_id']}").json()
        assert "in A minor, 96 bpm" in job["prompt"]  # the reference's tempo and key, measured
        plan = job["metadata"]["plan"]  # what the composer made: the reference's tempo and key
        assert (plan["tempo"], plan["key"], plan["mode"]) == (96.0, "A", "minor")
    finally:
        server.stop()
