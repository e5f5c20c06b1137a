"""One intake (issues 19 and 20): every way a job is created goes through ``core.submit``.

Text that cannot be stored and sent back (a lone surrogate, which JSON can spell) is refused at
the door whatever field or route carries it, and a row stored before the check never breaks a
read or the account's list; error messages always encode; ``/edit`` gets the Idempotency-Key
and the output checks of ``/generate``; cover is refused at submit where the pipeline has no
audio tokenizer. On SQLite and PostgreSQL (skipped when 127.0.0.1:5432 does not answer)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, postgres_database, start_server
from sqlalchemy import func, select
from websockets.sync.client import connect

from music_gen.service.api.responses import SafeJSONResponse
from music_gen.service.core.infra.db import Job

BAD = "la\ud800"  # a lone surrogate: valid JSON ("\ud800"), not encodable as UTF-8


def _raw(body: dict) -> bytes:
    """``body`` as JSON text that spells lone surrogates as escapes (what a client sends)."""
    return json.dumps(body).encode()


def _post(client: httpx.Client, path: str, body: dict, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", **headers}
    return client.post(path, content=_raw(body), headers=headers)


@pytest.fixture(scope="module")
def no_cover_pipeline(tmp_path_factory, song_pipeline) -> Path:
    """The tiny ACE-Step pipeline saved without its audio tokenizer (what cover needs)."""
    path = tmp_path_factory.mktemp("no-cover") / "acestep-no-tokenizer"
    shutil.copytree(song_pipeline, path)
    shutil.rmtree(path / "audio_tokenizer")
    index = json.loads((path / "model_index.json").read_text())
    index["audio_tokenizer"] = [None, None]
    (path / "model_index.json").write_text(json.dumps(index))
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request, tmp_path_factory, checkpoints, no_cover_pipeline) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        server = start_server(
            tmp_path_factory.mktemp("intake"),
            model=str(checkpoints["mono"]),
            song_model=str(no_cover_pipeline),
            database_url=url,
            max_duration=30.0,
        )
        stack.callback(server.stop)
        yield server


@pytest.fixture(scope="module")
def client(srv) -> Iterator[httpx.Client]:
    with srv.client(srv.key()) as c:
        yield c


@pytest.fixture(scope="module")
def upload_id(client) -> str:
    buf = io.BytesIO()
    t = np.arange(48000) / 48000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000, format="WAV")
    r = client.post("/uploads", files={"file": ("a.wav", buf.getvalue())})
    assert r.status_code == 201, r.text
    return str(r.json()["upload_id"])


def _song(srv: Server) -> str:
    return str(srv.settings.song_model)


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] in ("INVALID_INPUT", "INVALID_PROMPT"), error
    assert error["details"]["field"] == field, error


# ------------------------------------------------ item 5: a lone surrogate in any text field
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/generate", {"prompt": "pop", "lyrics": BAD, "duration": 1.0}, "lyrics"),
        ("/generate", {"prompt": "pop", "lyrics": "\udfff[verse]", "duration": 1.0}, "lyrics"),
        ("/generate/batch", {"requests": [{"prompt": "pop", "lyrics": BAD}]}, "lyrics"),
        ("/edit", {"task": "repaint", "source_url": "http://127.0.0.1:9/a.wav",
                   "prompt": BAD}, "prompt"),
        ("/edit", {"task": "repaint", "source_url": "http://127.0.0.1:9/a.wav",
                   "lyrics": BAD}, "lyrics"),
        ("/edit", {"task": "complete", "source_url": "http://127.0.0.1:9/a.wav",
                   "tracks": ["drums", BAD]}, "tracks"),
        ("/multi-instrument", {"instruments": {"bass": BAD}, "duration": 1.0}, "instruments"),
        ("/multi-instrument", {"instruments": {BAD: "bass"}, "duration": 1.0}, "instruments"),
    ],
)  # fmt: skip
def test_a_lone_surrogate_in_any_stored_field_is_refused(srv, client, path, body, field):
    if path == "/generate" or path == "/generate/batch":
        for request in body.get("requests", [body]):
            request["model"] = _song(srv)
    before = client.get("/generate").json()["total"]
    _refused(_post(client, path, body), field)
    assert client.get("/generate").json()["total"] == before  # nothing was queued


def test_a_lone_surrogate_over_the_websocket_is_refused(srv):
    url = srv.url.replace("http://", "ws://") + f"/ws/stream?api_key={srv.key()}"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "pop", "model": _song(srv),
                            "lyrics": BAD, "duration": 1.0}))  # fmt: skip
        message = json.loads(ws.recv(timeout=30))
        assert message["type"] == "error" and message["error"]["details"]["field"] == "lyrics"
        ws.send(json.dumps({"type": "generate", "prompt": "x", BAD: 1}))  # an unknown key
        message = json.loads(ws.recv(timeout=30))
        assert message["error"]["code"] == "VALIDATION_ERROR", message
        ws.send(json.dumps({"type": "ping"}))  # the socket still answers
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"


def test_music01_lyrics_with_a_lone_surrogate_are_refused(srv):
    base = srv.settings.base_url + "/v2/generate/audio/minimax"
    with httpx.Client(headers={"Authorization": f"Bearer {srv.key()}"}, timeout=60) as c:
        buf = io.BytesIO()
        t = np.arange(10 * 32000) / 32000
        sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 32000, format="WAV")
        up = c.post(f"{base}/upload", files={"file": ("v.wav", buf.getvalue())},
                    data={"purpose": "voice"})  # fmt: skip
        voice = up.json()["voice_id"]
        before = _jobs(srv)
        r = c.post(f"{base}/generate", content=_raw({"lyrics": BAD, "refer_voice": voice}),
                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["base_resp"]["status_code"] == 2013, r.text
    assert _jobs(srv) == before


def _jobs(srv: Server) -> int:
    with srv.state.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def test_a_bad_row_stored_before_never_fails_a_read_or_the_list(srv):
    """A job stored before the check (written straight into the database) reads back with
    U+FFFD for each lone surrogate; the account's list keeps working."""
    key = srv.key()
    with srv.client(key) as c:
        account = srv.state.keys.authenticate(key).account_id
        job = Job(id=f"bad{time.time_ns()}", account_id=account, origin="api", type="batch",
                  status="failed", params={"prompt": BAD, "lyrics": BAD, "duration": 1.0,
                                           "mix_settings": {BAD: 1}},
                  model="m", seed=1, error={"code": "X", "message": BAD},
                  track_id=None, options={"note": BAD}, request_hash="x")  # fmt: skip
        with srv.state.db.session.begin() as s:
            s.add(job)
        one = c.get(f"/generate/{job.id}")
        assert one.status_code == 200, one.text
        assert one.json()["prompt"] == "la\ufffd"
        assert one.json()["error"]["message"] == "la\ufffd"
        listed = c.get("/generate")
        assert listed.status_code == 200, listed.text
        assert [j["task_id"] for j in listed.json()["items"]] == [job.id]


# ------------------------------------------------ item 6: error messages always encode
def test_a_bad_mix_settings_key_is_a_422_and_the_connection_lives_on(client):
    body = {"instruments": {"bass": "bass"}, "duration": 1.0}
    _refused(_post(client, "/multi-instrument", {**body, "mix_settings": {BAD: 1}}), "mix_settings")
    r = _post(client, "/multi-instrument", {**body, "mix_settings": {"zz": 1}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_MIX", r.text
    assert client.get("/health").status_code == 200  # the same keep-alive connection


def test_a_response_with_a_lone_surrogate_still_encodes():
    body = SafeJSONResponse({"error": {"message": f"unknown {BAD}", "details": {BAD: BAD}}}).body
    assert json.loads(body) == {"error": {"message": "unknown la\ufffd",
                                          "details": {"la\ufffd": "la\ufffd"}}}  # fmt: skip


# ------------------------------------------------ item 9: /edit through the intake
def test_edit_honours_the_idempotency_key(srv, client, upload_id):
    body = {"task": "repaint", "source_upload_id": upload_id, "start": 0.2, "end": 0.6,
            "model": _song(srv), "steps": 1}  # fmt: skip
    key = {"Idempotency-Key": f"edit-{time.time_ns()}"}
    first = client.post("/edit", json=body, headers=key)
    again = client.post("/edit", json=body, headers=key)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["task_id"] == again.json()["task_id"]
    other = client.post("/edit", json={**body, "end": 0.7}, headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    leftovers = list((srv.settings.data_dir / "inputs").glob("*.wav"))
    assert len(leftovers) <= 1  # the retry's and the refused request's copies are deleted


@pytest.mark.parametrize("rate", [0, 10**9])
def test_edit_refuses_the_sample_rates_generate_refuses(srv, client, upload_id, rate):
    body = {"task": "repaint", "source_upload_id": upload_id, "sample_rate": rate}
    r = client.post("/edit", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "INVALID_SAMPLE_RATE"
    r = client.post("/generate", json={"prompt": "x", "sample_rate": rate})
    assert r.json()["error"]["code"] == "INVALID_SAMPLE_RATE"


# ------------------------------------------------ item 10: cover needs an audio tokenizer
def test_cover_without_an_audio_tokenizer_is_refused_at_submit(srv, client, upload_id):
    models = {m["id"]: m for m in client.get("/models").json()["models"]}
    assert "edit" in models[_song(srv)]["capabilities"]
    r = client.post("/edit", json={"task": "cover", "source_upload_id": upload_id})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "UNSUPPORTED_TASK" and "cover" not in error["details"]["tasks"]
