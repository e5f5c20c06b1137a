"""POST /multi-instrument (the seed's body) and the composer in the service."""

from __future__ import annotations

import io

import pretty_midi
import soundfile as sf
from service_helpers import start_server, wait_for


def test_multi_instrument_job_gives_stems_mix_and_midi(server):
    client = server.client(server.key("band"))
    r = client.post(
        "/multi-instrument",
        json={
            "instruments": {
                "piano": "Jazz piano comping",
                "bass": "Walking bass line",
                "drums": "Swing pattern",
            },
            "duration": 4.0,
            "mix_preset": "jazz_club",
            "seed": 5,
        },
    )
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert set(done["stems"]) == {"piano", "bass", "drums"}
    lengths = set()
    for url in [*done["stems"].values(), done["audio_url"]]:
        samples, rate = sf.read(io.BytesIO(client.get(url).content))
        lengths.add(len(samples))
        assert rate == 44100
    assert len(lengths) == 1
    midi = client.get(done["midi_url"])
    assert midi.headers["content-type"] == "audio/midi"
    assert len(pretty_midi.PrettyMIDI(io.BytesIO(midi.content)).instruments) == 3
    assert done["metadata"]["engine"] == "composer" and done["metadata"]["plan"]["genre"] == "jazz"


def test_multi_instrument_validation(server):
    client = server.client(server.key("band-bad"))
    for body, code in [
        ({"instruments": {}, "duration": 4}, "VALIDATION_ERROR"),
        ({"instruments": {"piano": ""}}, "INVALID_PROMPT"),
        ({"instruments": {"piano": "x"}, "mix_preset": "polka"}, "INVALID_MIX"),
        ({"instruments": {"piano": "x"},
          "mix_settings": {"effects": {"piano": [{"type": "warp"}]}}}, "INVALID_EFFECT"),
        ({"instruments": {"mix": "x"}}, "INVALID_INSTRUMENT"),
    ]:  # fmt: skip
        r = client.post("/multi-instrument", json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text


def test_composer_is_listed_and_usable_by_name(server):
    client = server.client(server.key("composer-user"))
    names = [m["id"] for m in client.get("/models").json()["models"]]
    assert "composer" in names
    body = {"prompt": "lofi beat", "duration": 2, "model": "composer"}
    done = wait_for(client, client.post("/generate", json=body).json()["task_id"])
    assert done["status"] == "succeeded" and done["metadata"]["engine"] == "composer"
    assert done["midi_url"]


def test_default_model_falls_back_to_the_composer(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    srv = start_server(tmp_path, cache_dir=tmp_path / "empty-cache")  # no model named
    try:
        client = srv.client(srv.key("fallback"))
        assert srv.settings.model == "composer"
        models = client.get("/models").json()["models"]
        assert next(m for m in models if m["default"])["id"] == "composer"
        assert client.get("/health/ready").json()["ready"]
        body = {"prompt": "calm piano", "duration": 2}
        done = wait_for(client, client.post("/generate", json=body).json()["task_id"])
        assert done["metadata"]["engine"] == "composer" and done["model"] == "composer"
    finally:
        srv.stop()
