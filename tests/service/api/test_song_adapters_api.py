"""ACE-Step songs and edits with a LoRA adapter through the service: the song equals the
library's (adapter fused at load), an edit takes one too, and a MusicGen adapter is refused
for a song model at the door."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import numpy as np
import pytest
from service_helpers import Server, start_server, wait_for

import music_gen
from music_gen import MusicGenerator, load_audio

LYRICS = "[verse]\nwalking down the street"
#: 16-bit WAV of the unfused adapter vs the fused one (float32)
ATOL = 1e-4 + 1 / 32767


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints, song_pipeline) -> Iterator[Server]:
    """MusicGen by default and the tiny ACE-Step as the song model; alice's own ACE-Step
    adapter ``voice`` and a MusicGen-family record ``mg`` in the store."""
    data = tmp_path_factory.mktemp("song-adapter-data")
    for i, prompt in enumerate(["funk groove with slap bass", "jazz trio"]):
        MusicGenerator("composer").generate(prompt, duration=2.0, seed=i).save(data / f"c{i}.wav")
        (data / f"c{i}.txt").write_text(prompt)
    srv = start_server(
        tmp_path_factory.mktemp("song-adapters"),
        model=str(checkpoints["mono"]),
        song_model=str(song_pipeline),
        max_duration=30.0,
    )
    try:
        store = srv.state.adapter_store
        alice = srv.state.keys.account("alice").id
        settings = dict(steps=6, rank=4, alpha=8.0, learning_rate=1e-2, batch_size=2,
                        window_seconds=1.0, min_seconds=0.5, seed=1, device="cpu")  # fmt: skip
        music_gen.train(
            str(song_pipeline), data, store.create("voice", alice, str(song_pipeline)), **settings
        )
        mg = store.root / "mg"
        shutil.copytree(store.root / "voice", mg)
        (mg / "music_gen_adapter.json").write_text('{"family": "musicgen", "base_model": "x"}')
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def alice(server):
    return server.client(server.key("alice-songs", "alice"))


def test_a_song_and_an_edit_with_an_adapter(server, alice, song_pipeline):
    song = str(song_pipeline)
    models = {m["id"]: m for m in alice.get("/models").json()["models"]}
    assert models[song]["adapters"] == ["voice"] and "adapter" in models[song]["capabilities"]
    req = dict(duration=1.0, seed=5, steps=2)
    body = {"prompt": "synth pop", "model": song, "lyrics": LYRICS, **req}
    r = alice.post("/generate", json={**body, "adapter": "voice", "adapter_scale": 0.8})
    assert r.status_code == 202, r.text
    done = wait_for(alice, r.json()["task_id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert done["metadata"]["adapter"] == {"adapter": "voice", "adapter_scale": 0.8}
    folder = server.state.adapter_store.folder("voice")
    fused = MusicGenerator(song, device="cpu", adapter=folder, adapter_scale=0.8)
    expected = fused.generate("synth pop", lyrics=LYRICS, **req).samples
    got = load_audio(alice.get(done["audio_url"]).content).samples
    if "cpu_setting" in fused.card.details:  # int8 DiT: the request's adapter runs on
        # dequantized linears, the fused one was quantized after merging (test_acestep_cpu.py)
        noise = float(np.sum((got - expected) ** 2))
        assert 10 * np.log10(float(np.sum(expected**2)) / max(noise, 1e-30)) >= 35.0
    else:
        np.testing.assert_allclose(got, expected, atol=ATOL)
    # an edit of that song takes an adapter as well
    edit = {"task": "repaint", "source_job_id": done["task_id"], "start": 0.2, "end": 0.8,
            "prompt": "guitar solo", "steps": 2, "adapter": "voice"}  # fmt: skip
    r = alice.post("/edit", json=edit)
    assert r.status_code == 202, r.text
    edited = wait_for(alice, r.json()["task_id"], timeout=120)
    assert edited["status"] == "succeeded", edited
    assert edited["params"]["adapter"] == "voice"
    assert edited["metadata"]["adapter"] == {"adapter": "voice", "adapter_scale": 1.0}


def test_song_adapter_refusals(alice, song_pipeline):
    song = str(song_pipeline)
    body = {"prompt": "pop", "model": song, "duration": 1.0, "steps": 2}
    r = alice.post("/generate", json={**body, "adapter": "mg"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "ADAPTER_MISMATCH")
    r = alice.post("/generate", json={"prompt": "pop", "duration": 0.5, "adapter": "voice"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "ADAPTER_MISMATCH")  # MusicGen
    edit = {"task": "repaint", "source_url": "http://127.0.0.1:9/x.wav", "adapter": "nope",
            "model": song}  # fmt: skip
    r = alice.post("/edit", json=edit)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ADAPTER_NOT_FOUND")
