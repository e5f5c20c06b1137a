"""ModelsLab's own PyPI client ``modelslab-py`` 0.2.3 (``Audio.music_gen``, ``Audio.fetch``)
against a real server on loopback."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf
from adapter_helpers import adapter_settings, mp3_bitrate

from music_gen import load_audio

# modelslab-py calls pydantic's deprecated .dict(); that is the client's business, not ours
pytestmark = pytest.mark.filterwarnings("ignore:The `dict` method is deprecated")


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
        assert mp3_bitrate(data) == int(bitrate[:-1])
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
    settings = adapter_settings(srv, "modelslab")
    settings.sync_wait_seconds = 0.0  # answer "processing" at once
    try:
        queued = audio.music_gen(schema(prompt="jazz trio", max_new_token=300))
    finally:
        settings.sync_wait_seconds = 10.0
    assert queued["status"] == "processing" and queued["fetch_result"].endswith(queued["id"])
    done = audio.fetch(queued["id"])
    assert done["status"] == "success" and done["meta"]["output_format"] == "wav"
    samples, rate = sf.read(io.BytesIO(httpx.get(done["output"][0]).content))
    assert rate == 32000 and len(samples) == 300 * 32000 // 50
