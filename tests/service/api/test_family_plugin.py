"""A model family from another installed package (``music_gen.testing.make_family_package``,
the example of docs/families.md) served with no line of music-gen changed: GET /models lists it
with its card, and a REST job runs on it."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, start_server, wait_for

from music_gen import MusicGenerator
from music_gen.testing.plugin import make_family_package


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    site = make_family_package(tmp_path_factory.mktemp("site"))
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        srv = start_server(tmp_path_factory.mktemp("plugin"), model="tiny-tone", max_duration=20.0)
        stack.callback(srv.stop)
        yield srv
    sys.modules.pop("tiny_tone", None)


def test_get_models_lists_the_installed_family(server):
    client = server.client(server.key())
    models = {m["id"]: m for m in client.get("/models").json()["models"]}
    tone = models["tiny-tone"]
    assert tone["family"] == "tiny-tone" and tone["default"] is True
    assert (tone["sample_rate"], tone["channels"]) == (16000, 1)
    assert tone["cached"] is True and tone["loaded"] is True  # no weights: nothing to fetch
    assert set(tone["capabilities"]) == {"text", "stream", "batch"}
    assert models["composer"]["family"] == "composer"


def test_a_rest_job_runs_on_the_installed_family(server):
    client = server.client(server.key())
    r = client.post("/generate", json={"prompt": "a calm tone", "duration": 0.5, "seed": 3})
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["metadata"]["family"] == "tiny-tone" and done["metadata"]["seed"] == 3
    samples, rate = sf.read(io.BytesIO(client.get(done["audio_url"]).content), dtype="float32")
    assert rate == 16000 and samples.shape == (8000,)
    expected = MusicGenerator("tiny-tone").generate("a calm tone", duration=0.5, seed=3)
    np.testing.assert_allclose(samples, expected.samples[0], atol=1e-4)  # 16-bit WAV
    # refused at the door with the library's codes, asked of the family's card
    bad = client.post("/generate", json={"prompt": "x", "duration": 25.0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_DURATION"
    song = client.post("/generate", json={"prompt": "x", "duration": 0.5, "lyrics": "la"})
    assert song.status_code == 422 and song.json()["error"]["code"] == "UNSUPPORTED_FEATURE"
