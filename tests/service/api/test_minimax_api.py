"""MiniMax Music 3 behind the service: listed by GET /models with its capabilities and licence,
a REST job with lyrics, the features it lacks refused at the door (422 UNSUPPORTED_FEATURE
naming the capability), and music-01 requests sung by it when it is the server's song model."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, start_server, wait_for, wait_until
from websockets.sync.client import connect

LYRICS = "[verse]\nwalking down the street\n\n[chorus]\nsing it loud"
MUSIC01 = "/v2/generate/audio/minimax"


@pytest.fixture(scope="module")
def minimax_server(tmp_path_factory, minimax_pipeline) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("minimax"),
        model="composer",
        song_model=str(minimax_pipeline),
        max_duration=30.0,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(minimax_server):
    return minimax_server.client(minimax_server.key("minimax"))


@pytest.fixture(scope="module")
def music01(minimax_server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {minimax_server.key('aiml')}"}
    with httpx.Client(base_url=minimax_server.settings.base_url, timeout=60,
                      headers=headers) as api:  # fmt: skip
        yield api


def test_models_lists_it_with_its_song_capabilities_and_licence(client, minimax_server):
    models = {m["id"]: m for m in client.get("/models").json()["models"]}
    song = models[minimax_server.settings.song_model]
    assert song["family"] == "minimax_music3"
    assert set(song["capabilities"]) == {"text", "stereo", "lyrics", "steps", "guidance"}
    assert (song["sample_rate"], song["channels"]) == (44100, 2)
    assert song["license"] == "minimax-music3-community-license"
    assert song["commercial_use"] is None  # conditional on the company's revenue: not known


def test_a_rest_job_with_lyrics_is_the_song(client, minimax_server):
    body = {"prompt": "synth pop, warm female vocals", "model": minimax_server.settings.song_model,
            "lyrics": LYRICS, "duration": 1.0, "seed": 5, "steps": 2}  # fmt: skip
    r = client.post("/generate", json=body)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"], timeout=120)
    assert done["status"] == "succeeded", done.get("error")
    assert done["metadata"]["family"] == "minimax_music3" and done["params"]["lyrics"] == LYRICS
    audio = client.get(done["audio_url"])
    data, rate = sf.read(io.BytesIO(audio.content), dtype="float32", always_2d=True)
    assert rate == 44100 and data.shape == (86 * 512, 2)  # 25 frames -> 86 latents of 512


def test_the_websocket_streams_the_song_as_one_final_chunk(minimax_server):
    key = minimax_server.key("ws")
    url = minimax_server.url.replace("http://", "ws://") + f"/ws/stream?api_key={key}"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "anthem", "lyrics": LYRICS,
                            "model": minimax_server.settings.song_model, "duration": 1.0,
                            "seed": 2, "steps": 2}))  # fmt: skip
        assert json.loads(ws.recv())["type"] == "started"
        kinds, chunks = [], []
        while True:
            msg = json.loads(ws.recv())
            kinds.append(msg["type"])
            if msg["type"] == "audio_chunk":
                chunks.append(msg)
            if msg["type"] in ("complete", "error"):
                break
    assert kinds[-1] == "complete", kinds
    assert len(chunks) == 1 and chunks[0]["sample_rate"] == 44100
    assert chunks[0]["duration"] == pytest.approx(86 * 512 / 44100)


@pytest.mark.parametrize(
    ("extra", "capability"),
    [
        ({"bpm": 120}, "bpm"),
        ({"key": "A minor"}, "key"),
        ({"vocal_language": "en"}, "language"),
    ],
)
def test_what_it_lacks_is_refused_naming_the_capability(client, minimax_server, extra, capability):
    body = {"prompt": "pop", "model": minimax_server.settings.song_model, "lyrics": LYRICS,
            "duration": 1.0, **extra}  # fmt: skip
    r = client.post("/generate", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "UNSUPPORTED_FEATURE" and error["details"]["capability"] == capability


def test_a_reference_upload_is_refused_not_ignored(client, minimax_server):
    wav = io.BytesIO()
    sf.write(wav, np.zeros(44100, np.float32), 44100, format="WAV")
    up = client.post("/uploads", files={"file": ("ref.wav", wav.getvalue(), "audio/wav")})
    assert up.status_code in (200, 201), up.text
    body = {"prompt": "pop", "model": minimax_server.settings.song_model, "lyrics": LYRICS,
            "duration": 1.0, "reference_upload_id": up.json()["upload_id"]}  # fmt: skip
    r = client.post("/generate", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "UNSUPPORTED_FEATURE"
    assert error["details"]["capability"] == "reference_audio"


def test_no_lyrics_is_a_clear_error(client, minimax_server):
    r = client.post("/generate", json={"prompt": "an instrumental", "duration": 1.0,
                                       "model": minimax_server.settings.song_model})  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "INVALID_LYRICS"


def test_music01_lyrics_and_prompt_are_sung_by_minimax(music01, minimax_server):
    started = music01.post(f"{MUSIC01}/generate", json={
        "model": "music-01", "lyrics": "Side by side\n##\n##\nthrough thick and thin",
        "prompt": "indie folk, gentle male vocals", "duration": 1.0,
        "audio_setting": {"sample_rate": 44100, "bitrate": 256000, "format": "wav"},
    }).json()  # fmt: skip
    assert started["base_resp"]["status_code"] == 0, started

    def ended() -> dict | None:
        got = music01.get(f"{MUSIC01}/generate", params={"generation_id": started["id"]}).json()
        return None if got["data"]["status"] == 1 else got

    out = wait_until(ended, 120, "the song to finish", interval=0.2)
    assert out["data"]["status"] == 2 and out["status"] == "completed", out
    audio, rate = sf.read(io.BytesIO(bytes.fromhex(out["data"]["audio"])))
    assert rate == 44100 and out["extra_info"]["audio_sample_rate"] == 44100
    assert len(audio) == 86 * 512
    job = minimax_server.state.store.get(started["id"])
    assert job.model == minimax_server.settings.song_model
    sung = job.params["lyrics"]
    assert sung.startswith("Side by side") and "[instrumental]" in sung
    assert job.params.get("reference") is None
    assert job.params["prompt"] == "indie folk, gentle male vocals"


def test_music01_with_a_reference_says_the_song_model_cannot_take_it(music01):
    t = np.arange(10 * 32000) / 32000
    wav = io.BytesIO()
    sf.write(wav, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 32000, format="WAV")
    up = music01.post(f"{MUSIC01}/upload", files={"file": ("v.wav", wav.getvalue())},
                      data={"purpose": "voice"}).json()  # fmt: skip
    out = music01.post(f"{MUSIC01}/generate", json={
        "model": "music-01", "lyrics": "la la la", "refer_voice": up["voice_id"],
        "duration": 1.0,
    }).json()  # fmt: skip
    status = out["base_resp"]
    assert status["status_code"] == 2013, out  # MiniMax's "invalid parameters", HTTP 200
    assert status["status_msg"].startswith("UNSUPPORTED_FEATURE")
    assert "reference_audio" in status["status_msg"] and "refer_voice" in status["status_msg"]
    empty = music01.post(f"{MUSIC01}/generate", json={"model": "music-01", "lyrics": ""}).json()
    assert empty["base_resp"]["status_code"] == 2013
    assert "INVALID_LYRICS" in empty["base_resp"]["status_msg"]
