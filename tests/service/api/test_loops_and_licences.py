"""Loops over REST (POST /generate with loop/bpm/bars) and model licences (GET /models, a
commercial-only server)."""

from __future__ import annotations

import io
import shutil
import struct

import pytest
import soundfile as sf
from service_helpers import start_server, wait_for


@pytest.fixture(scope="module")
def nc_model(checkpoints, tmp_path_factory):
    """The tiny MusicGen checkpoint with a model card declaring a non-commercial licence."""
    directory = tmp_path_factory.mktemp("nc") / "nc-musicgen"
    shutil.copytree(checkpoints["mono"], directory)
    (directory / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# tiny\n")
    return str(directory)


@pytest.fixture(scope="module")
def server(tmp_path_factory, nc_model):
    srv = start_server(tmp_path_factory.mktemp("loops"), model="composer", models=[nc_model])
    yield srv
    srv.stop()


def test_a_loop_over_rest(server):
    client = server.client(server.key("looper"))
    r = client.post("/generate", json={"prompt": "funk drums and bass", "loop": True,
                                       "bpm": 120, "bars": 4, "seed": 4})  # fmt: skip
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["duration"] == 8.0
    assert done["params"]["loop"] is True and done["params"]["bars"] == 4
    loop = done["metadata"]["loop"]
    assert (loop["bpm"], loop["beats"], loop["samples"]) == (120.0, 16, 8 * 44100)
    data = client.get(done["audio_url"]).content
    assert sf.info(io.BytesIO(data)).frames == 8 * 44100
    at = data.index(b"acid")
    beats, _, numerator, tempo = struct.unpack("<IHHf", data[at + 20 : at + 32])
    assert (beats, numerator, tempo) == (16, 4, 120.0)
    assert b"smpl" in data


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"loop": True, "bars": 4}, 422, "INVALID_BPM"),
        ({"loop": True, "bpm": 120}, 422, "INVALID_BARS"),
        ({"bpm": 120, "bars": 4}, 422, "INVALID_LOOP"),
        ({"loop": True, "bpm": 120, "bars": 4, "beats_per_bar": 11}, 422, "INVALID_BARS"),
        ({"loop": True, "bpm": 30, "bars": 64}, 422, "INVALID_DURATION"),
        ({"loop": True, "bpm": 120, "bars": 4, "prompt": "house at 90 bpm"}, 422, "INVALID_BPM"),
    ],
)
def test_bad_loops_are_refused_at_the_door(server, body, status, code):
    client = server.client(server.key())
    r = client.post("/generate", json={"prompt": "funk", **body})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_models_show_their_licence(server, nc_model):
    client = server.client(server.key())
    models = {m["id"]: m for m in client.get("/models").json()["models"]}
    assert models["composer"]["license"] == "mit"
    assert models["composer"]["commercial_use"] is True
    assert models[nc_model]["license"] == "cc-by-nc-4.0"
    assert models[nc_model]["commercial_use"] is False


def test_a_commercial_only_server_refuses_non_commercial_weights(tmp_path, nc_model):
    srv = start_server(tmp_path, model="composer", models=[nc_model], commercial_only=True)
    try:
        client = srv.client(srv.key())
        r = client.post("/generate", json={"prompt": "drums", "duration": 0.5,
                                           "model": nc_model})  # fmt: skip
        assert r.status_code == 403, r.text
        error = r.json()["error"]
        assert error["code"] == "LICENSE_NOT_COMMERCIAL"
        assert error["details"]["license"] == "cc-by-nc-4.0"
        assert "cc-by-nc-4.0" in error["message"]
        assert nc_model not in srv.state.backend.loaded_models()  # never loaded
        ok = client.post("/generate", json={"prompt": "drums", "duration": 0.5})
        assert wait_for(client, ok.json()["task_id"])["status"] == "succeeded"
    finally:
        srv.stop()
