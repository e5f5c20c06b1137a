"""Segmind's own PyPI client ``segmind`` 1.3.0 (``SegmindClient.run`` = v2 submit/poll/fetch,
``run_sync`` = v1) against a real server on loopback."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import soundfile as sf
from adapter_helpers import start_with_env


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

    env = {"MUSIC_GEN_KEY_CREDITS": "10", "MUSIC_GEN_CREDITS_PER_SECOND": "1"}
    server = start_with_env(tmp_path, env, model=str(checkpoints["mono"]))
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
