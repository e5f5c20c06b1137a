"""Stable Audio 3 through the service: a REST job equals the library's output for the same
options (guidance and negative prompt included), edits keep the outside of a repainted range,
and what a model cannot take is refused at the door."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, start_server, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory, sa3_pipeline) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("t2a"), model=str(sa3_pipeline), max_duration=30.0)
    with contextlib.ExitStack() as stack:
        stack.callback(srv.stop)
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return server.client(server.key("producer"))


def _wav(client, url: str) -> np.ndarray:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return sf.read(io.BytesIO(r.content), dtype="float32", always_2d=True)[0]


def _same_as_library(audio) -> np.ndarray:
    return sf.read(io.BytesIO(audio.to_bytes("wav")), dtype="float32", always_2d=True)[0]


def test_the_model_lists_its_capabilities(client):
    [model] = [
        m for m in client.get("/models").json()["models"] if m["family"] == "diffusers_audio"
    ]
    assert {"negative_prompt", "steps", "guidance", "edit", "loop"} <= set(model["capabilities"])
    assert (model["sample_rate"], model["channels"]) == (44100, 2)


GUIDED = [{"guidance_scale": 3.0}, {"guidance_scale": 3.0, "negative_prompt": "vocals"}]


@pytest.mark.parametrize("extra", GUIDED)
def test_a_job_is_the_librarys_output(client, sa3, extra):
    """Guidance reaches the model over REST as in the library (it is the family's own value,
    not MusicGen's sampling default), and so does the negative prompt."""
    body = {"prompt": "warm pads", "duration": 0.5, "seed": 7, "steps": 2, **extra}
    r = client.post("/generate", json=body)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["params"]["guidance_scale"] == 3.0
    assert done["params"].get("negative_prompt") == extra.get("negative_prompt")
    assert done["metadata"]["guidance_scale"] == 3.0
    lib = sa3.generate("warm pads", duration=0.5, seed=7, steps=2, **extra)
    np.testing.assert_array_equal(_wav(client, done["audio_url"]), _same_as_library(lib))
    default = sa3.generate("warm pads", duration=0.5, seed=7, steps=2)  # guidance 1: off
    assert not np.array_equal(lib.samples, default.samples)


def test_refusals_at_the_door(client):
    cases = [
        ({"prompt": "x", "duration": 0.5, "negative_prompt": "vocals"}, "INVALID_NEGATIVE_PROMPT"),
        ({"prompt": "x", "duration": 0.5, "negative_prompt": "vocals", "model": "composer"},
         "UNSUPPORTED_FEATURE"),
        ({"prompt": "x", "duration": 0.5, "temperature": 0.5}, "UNSUPPORTED_FEATURE"),
        ({"prompt": "x", "duration": 0.5, "lyrics": "la"}, "UNSUPPORTED_FEATURE"),
    ]  # fmt: skip
    for body, code in cases:
        r = client.post("/generate", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)
    r = client.post("/generate", json=cases[1][0])
    assert r.json()["error"]["details"]["capability"] == "negative_prompt"


def test_repaint_and_cover_over_rest(client):
    first = {"prompt": "funk groove", "duration": 1.0, "seed": 9, "steps": 2}
    source = wait_for(client, client.post("/generate", json=first).json()["task_id"])
    assert source["status"] == "succeeded", source
    before = _wav(client, source["audio_url"])
    edit = {"task": "repaint", "source_job_id": source["task_id"], "start": 0.25, "end": 0.75,
            "prompt": "glitchy percussion", "steps": 2, "seed": 1}  # fmt: skip
    r = client.post("/edit", json=edit)
    assert r.status_code == 202, r.text
    edited = wait_for(client, r.json()["task_id"])
    assert edited["status"] == "succeeded", edited
    after = _wav(client, edited["audio_url"])
    lo, hi = round(0.25 * 44100), round(0.75 * 44100)
    assert after.shape == before.shape
    np.testing.assert_array_equal(after[:lo], before[:lo])
    np.testing.assert_array_equal(after[hi:], before[hi:])
    assert not np.allclose(after[lo:hi], before[lo:hi])
    cover = {"task": "cover", "source_job_id": source["task_id"], "prompt": "strings",
             "steps": 2, "seed": 2}  # fmt: skip
    done = wait_for(client, client.post("/edit", json=cover).json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["metadata"]["strength"] == 0.5  # the family's default
    refused = [({**cover, "strength": 1.0}, "INVALID_STRENGTH"),
               ({**cover, "task": "extract", "track": "drums"}, "UNSUPPORTED_TASK")]  # fmt: skip
    for body, code in refused:
        r = client.post("/edit", json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text


def test_a_loop_job_keeps_its_steps_guidance_and_negative_prompt(client):
    """A loop job runs the family's generate with the job's own values (those the family
    takes): steps, guidance and the negative prompt reach the model."""
    body = {"prompt": "drum loop", "loop": True, "bpm": 240, "bars": 1, "seed": 4, "steps": 2,
            "guidance_scale": 3.0, "negative_prompt": "vocals"}  # fmt: skip
    r = client.post("/generate", json=body)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    meta = done["metadata"]
    assert (meta["steps"], meta["guidance_scale"], meta["negative_prompt"]) == (2, 3.0, "vocals")
    assert _wav(client, done["audio_url"]).shape[0] == 44100  # 4 beats at 240 BPM: 1.000 s
