"""Songs through the service: capabilities in /models, lyrics jobs, uploads, edits, WebSocket."""

from __future__ import annotations

import contextlib
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


@pytest.fixture(scope="module")
def songs_server(tmp_path_factory, checkpoints, song_pipeline) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("songs"),
        model=str(checkpoints["mono"]),
        song_model=str(song_pipeline),
        max_duration=30.0,
    )
    with contextlib.ExitStack() as stack:
        stack.callback(srv.stop)
        yield srv


@pytest.fixture(scope="module")
def client(songs_server):
    return songs_server.client(songs_server.key("singer"))


def _song_id(client) -> str:
    models = client.get("/models").json()["models"]
    return next(m["id"] for m in models if "lyrics" in m["capabilities"])


def _audio(client, url: str) -> tuple[np.ndarray, int]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    data, rate = sf.read(io.BytesIO(r.content), dtype="float32", always_2d=True)
    return data, rate


def test_models_list_family_and_capabilities(client):
    models = {m["family"]: m for m in client.get("/models").json()["models"]}
    assert set(models) == {"musicgen", "acestep", "composer"}
    song = models["acestep"]
    assert {"lyrics", "bpm", "key", "edit", "reference_audio"} <= set(song["capabilities"])
    assert (song["sample_rate"], song["channels"]) == (48000, 2)
    assert "lyrics" not in models["musicgen"]["capabilities"]
    assert models["musicgen"]["default"] and not song["default"]


def test_a_song_job_with_lyrics_succeeds(client):
    body = {"prompt": "synth pop", "model": _song_id(client), "lyrics": LYRICS, "bpm": 120,
            "key": "A minor", "time_signature": "4/4", "duration": 1.0, "seed": 5,
            "steps": 2}  # fmt: skip
    r = client.post("/generate", json=body)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["params"]["lyrics"] == LYRICS and done["params"]["key"] == "A minor"
    assert done["metadata"]["family"] == "acestep"
    data, rate = _audio(client, done["audio_url"])
    assert rate == 48000 and data.shape == (48000, 2)


def test_the_family_builds_the_request_song_models_get_no_sampling_defaults(client):
    """The intake asks the model's family for the typed request of the fields the client set:
    a song job carries no sampling defaults, a MusicGen job the ``params.Sampling`` ones, and
    sampling given to a song model is refused (it does not take that part)."""
    song = _song_id(client)
    r = client.post("/generate", json={"prompt": "pop", "model": song, "duration": 0.5,
                                       "seed": 3, "steps": 1})  # fmt: skip
    assert r.status_code == 202, r.text
    params = client.get(f"/generate/{r.json()['task_id']}").json()["params"]
    assert not {"temperature", "top_k", "top_p", "guidance_scale"} & set(params), params
    assert params["vocal_language"] == "en" and params["seed"] == 3
    r = client.post("/generate", json={"prompt": "jazz", "duration": 0.5, "seed": 3})
    assert r.status_code == 202, r.text
    params = client.get(f"/generate/{r.json()['task_id']}").json()["params"]
    assert (params["temperature"], params["top_k"], params["guidance_scale"]) == (1.0, 250, 3.0)
    assert "vocal_language" not in params
    r = client.post("/generate", json={"prompt": "pop", "model": song, "temperature": 0.5})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "UNSUPPORTED_FEATURE"


@pytest.mark.parametrize(
    ("extra", "code", "capability"),
    [
        ({"lyrics": "la la"}, "UNSUPPORTED_FEATURE", "lyrics"),
        ({"bpm": 100}, "UNSUPPORTED_FEATURE", "bpm"),
        ({"reference_url": "http://127.0.0.1:9/x.wav"}, "UNSUPPORTED_FEATURE", "reference_audio"),
        ({"steps": 4}, "UNSUPPORTED_FEATURE", None),
    ],
)
def test_song_fields_on_musicgen_are_refused_with_422(client, extra, code, capability):
    r = client.post("/generate", json={"prompt": "jazz", "duration": 0.5, **extra})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if capability:
        assert error["details"]["capability"] == capability


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"bpm": 400}, "INVALID_BPM"),
        ({"key": "H major"}, "INVALID_KEY"),
        ({"vocal_language": "xx"}, "INVALID_LANGUAGE"),
        ({"time_signature": "7/8"}, "INVALID_TIME_SIGNATURE"),
        ({"duration": 700}, "INVALID_DURATION"),
    ],
)
def test_bad_song_fields_get_422_with_a_code(client, extra, code):
    r = client.post("/generate", json={"prompt": "pop", "model": _song_id(client), **extra})
    assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text


def test_an_uploaded_reference_conditions_a_song(client):
    wav = io.BytesIO()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 48000).astype(np.float32)
    sf.write(wav, np.stack([tone, tone], axis=1), 48000, format="WAV")
    up = client.post("/uploads", files={"file": ("voice.wav", wav.getvalue(), "audio/wav")})
    assert up.status_code == 201, up.text
    upload = up.json()
    assert upload["duration"] == pytest.approx(1.0) and upload["upload_id"].startswith("up_")
    body = {"prompt": "ballad", "model": _song_id(client), "duration": 1.0, "seed": 1,
            "steps": 2, "reference_upload_id": upload["upload_id"]}  # fmt: skip
    plain = wait_for(client, client.post("/generate", json={**body, "reference_upload_id": None})
                     .json()["task_id"])  # fmt: skip
    referenced = wait_for(client, client.post("/generate", json=body).json()["task_id"])
    assert referenced["status"] == "succeeded", referenced
    assert referenced["metadata"]["reference"] is True
    a, _ = _audio(client, plain["audio_url"])
    b, _ = _audio(client, referenced["audio_url"])
    assert not np.allclose(a, b)
    assert client.delete(f"/uploads/{upload['upload_id']}").status_code == 204
    gone = client.post("/generate", json=body)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "UPLOAD_NOT_FOUND"
    bad = client.post("/uploads", files={"file": ("x.wav", b"not audio at all", "audio/wav")})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_AUDIO"


def test_repaint_a_finished_job_keeps_the_outside(client):
    song = _song_id(client)
    first = {"prompt": "pop", "model": song, "duration": 2.0, "seed": 9, "steps": 2}
    source = wait_for(client, client.post("/generate", json=first).json()["task_id"])
    edit = {"task": "repaint", "source_job_id": source["task_id"], "start": 0.5, "end": 1.5,
            "prompt": "guitar solo", "steps": 2}  # fmt: skip
    r = client.post("/edit", json=edit)
    assert r.status_code == 202, r.text
    edited = wait_for(client, r.json()["task_id"])
    assert edited["status"] == "succeeded" and edited["type"] == "edit" == edited["kind"], edited
    assert edited["params"]["source"] is True  # never the server's file path
    assert edited["params"]["source_job_id"] == source["task_id"]
    before, _ = _audio(client, source["audio_url"])
    after, _ = _audio(client, edited["audio_url"])
    assert after.shape == before.shape
    lo, hi = 24000, 72000
    np.testing.assert_array_equal(after[:lo], before[:lo])
    np.testing.assert_array_equal(after[hi:], before[hi:])
    assert not np.allclose(after[lo:hi], before[lo:hi])


def test_edit_refusals(client, songs_server):
    mono = songs_server.settings.model
    cases = [
        ({"task": "extract", "source_url": "http://127.0.0.1:9/a.wav", "model": mono},
         422, "UNSUPPORTED_FEATURE"),
        ({"task": "extract", "track": "kazoo", "source_job_id": "nope"}, 422, "INVALID_TRACK"),
        ({"task": "repaint"}, 422, "INVALID_SOURCE"),
        ({"task": "cover", "source_job_id": "nope"}, 404, "TASK_NOT_FOUND"),
    ]  # fmt: skip
    for body, status, code in cases:
        r = client.post("/edit", json=body)
        assert r.status_code == status and r.json()["error"]["code"] == code, (body, r.text)


def test_websocket_sends_progress_then_the_song(songs_server, client):
    key = songs_server.key("ws-singer")
    url = songs_server.url.replace("http://", "ws://") + f"/ws/stream?api_key={key}"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "anthem", "model": _song_id(client),
                            "lyrics": LYRICS, "duration": 1.0, "seed": 2, "steps": 2}))  # fmt: skip
        assert json.loads(ws.recv())["type"] == "started"
        kinds, chunk = [], None
        while True:
            msg = json.loads(ws.recv())
            kinds.append(msg["type"])
            if msg["type"] == "audio_chunk":
                chunk = msg
            if msg["type"] in ("complete", "error"):
                break
        assert kinds[-1] == "complete" and chunk is not None
        assert set(kinds) <= {"progress", "audio_chunk", "complete"}
        assert chunk["sample_rate"] == 48000 and chunk["duration"] == pytest.approx(1.0)


def test_music01_sings_lyrics_with_a_song_model(songs_server):
    base = "/v2/generate/audio/minimax"
    api = httpx.Client(base_url=songs_server.settings.base_url, timeout=120,
                       headers={"Authorization": f"Bearer {songs_server.key('aiml')}"})  # fmt: skip
    t = np.arange(10 * 32000) / 32000
    voice = (0.2 * np.sin(2 * np.pi * (300 + 50 * np.sin(t)) * t)).astype(np.float32)
    wav = io.BytesIO()
    sf.write(wav, voice, 32000, format="WAV")
    up = api.post(f"{base}/upload", files={"file": ("v.wav", wav.getvalue())},
                  data={"purpose": "voice"}).json()  # fmt: skip
    started = api.post(f"{base}/generate", json={
        "model": "music-01", "lyrics": "Side by side\n\n##\n##\nthrough thick and thin",
        "refer_voice": up["voice_id"], "duration": 1.0,
        "audio_setting": {"sample_rate": 44100, "bitrate": 256000, "format": "wav"},
    }).json()  # fmt: skip
    assert started["base_resp"]["status_code"] == 0, started  # no 2060: the song model sings

    def ended() -> dict | None:
        got = api.get(f"{base}/generate", params={"generation_id": started["generation_id"]})
        return None if got.json()["data"]["status"] == 1 else got.json()

    out = wait_until(ended, 120, "the song to finish", interval=0.2)
    assert out["data"]["status"] == 2 and out["status"] == "completed", out
    audio = sf.read(io.BytesIO(bytes.fromhex(out["data"]["audio"])))[0]
    assert out["extra_info"]["audio_sample_rate"] == 44100 and len(audio) == 44100
    job = songs_server.state.store.get(started["generation_id"])
    sung = job.params["lyrics"]
    assert "[instrumental]" in sung and "##" not in sung and sung.startswith("Side by side")
    assert job.model == songs_server.settings.song_model and job.params["reference"]
