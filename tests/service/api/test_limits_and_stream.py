"""Rate and concurrency limits, WebSocket streaming (and cancel on disconnect); the SDK's own
tests are in ``tests/client``."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import numpy as np
import pytest
from service_helpers import start_server, wait_for, wait_until
from websockets.sync.client import connect

from music_gen import APIClient
from music_gen.errors import RateLimited


def test_rate_limit_answers_429_with_retry_after(tmp_path, checkpoints):
    srv = start_server(tmp_path, model=str(checkpoints["mono"]), rate_limit="3/minute")
    try:
        key, other = srv.key("limited"), srv.key("other")
        client = srv.client(key)
        codes = [client.get("/generate").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/generate")
        assert r.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert srv.client(other).get("/generate").status_code == 200  # per key
        with pytest.raises(RateLimited) as err:
            APIClient(key, srv.url).list()
        assert err.value.details["retry_after"] >= 1
    finally:
        srv.stop()


def test_concurrency_limit_queues_the_rest(tmp_path, checkpoints):
    srv = start_server(
        tmp_path, model=str(checkpoints["mono"]), max_concurrent_per_account=1, max_batch=4
    )
    try:
        client, other = srv.client(srv.key("busy")), srv.client(srv.key("other"))
        mine = [client.post("/generate", json={"prompt": f"p{i}", "duration": 1.5}).json()
                for i in range(3)]  # fmt: skip
        theirs = other.post("/generate", json={"prompt": "q", "duration": 1.5}).json()
        running: list[int] = []
        ids = {t["task_id"] for t in mine}

        def finished() -> bool:  # sampled while running, one snapshot per query (one job per
            # GET could read job 1 running, then job 2 running after job 1 had already ended) ...
            listed = client.get("/generate", params={"limit": 50}).json()["items"]
            states = [j["status"] for j in listed if j["task_id"] in ids]
            running.append(states.count("running"))
            return len(states) == len(ids) and all(s == "succeeded" for s in states)

        wait_until(finished, 120, "the jobs to finish", interval=0.02)
        assert max(running) == 1
        # ... and from the server's own timestamps, which no sampling can miss
        mine_done = [wait_for(client, t["task_id"]) for t in mine]
        their_done = wait_for(other, theirs["task_id"])

        def span(job):
            parse = dt.datetime.fromisoformat
            return parse(job["started_at"]), parse(job["finished_at"])

        spans = sorted(span(j) for j in mine_done)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # one at a time
        start, end = span(their_done)
        assert any(s < end and start < e for s, e in spans)  # another account's ran beside them
    finally:
        srv.stop()


def _ws_url(server, key):
    return server.url.replace("http://", "ws://") + f"/ws/stream?api_key={key}"


def test_websocket_streams_chunks_then_the_result(server):
    key = server.key("streamer")
    with connect(_ws_url(server, key)) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "Ambient music", "stream": True,
                            "duration": 1.2, "seed": 4}))  # fmt: skip
        started = json.loads(ws.recv())
        assert started["type"] == "started" and "queue_position" in started
        assert started["queue_position"] in (None, 1)  # queued next, or already claimed
        chunks, final = [], None
        while final is None:
            msg = json.loads(ws.recv())
            if msg["type"] == "audio_chunk":
                assert msg["task_id"] == started["task_id"] and msg["timestamp"] > 1e9
                chunks.append(msg)
            else:
                final = msg
        assert final["type"] == "complete" and final["audio_url"]
        assert [c["index"] for c in chunks] == list(range(len(chunks))) and len(chunks) >= 2
        assert sum(c["duration"] for c in chunks) == pytest.approx(1.2, abs=1e-3)
        # the socket serves another request, and reports bad ones as messages
        ws.send(json.dumps({"type": "generate", "prompt": ""}))
        assert json.loads(ws.recv())["error"]["code"] == "INVALID_PROMPT"
        ws.send("not json at all")
        assert json.loads(ws.recv())["error"]["code"] == "INVALID_MESSAGE"
    # the streamed chunks are the stored result
    client = server.client(key)
    stored = client.get(final["audio_url"]).content
    from music_gen import load_audio

    whole = load_audio(stored).samples
    import base64

    joined = np.concatenate(
        [load_audio(base64.b64decode(c["data"])).samples for c in chunks], axis=-1
    )
    np.testing.assert_allclose(joined, whole, atol=1 / 32767 + 1e-6)


def test_websocket_auth_and_disconnect_cancels(server):
    with connect(_ws_url(server, "mgk_wrong")) as ws:
        assert json.loads(ws.recv())["error"]["code"] == "UNAUTHORIZED"
    key = server.key("leaver")
    with connect(_ws_url(server, key)) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "long", "duration": 25}))
        task_id = json.loads(ws.recv())["task_id"]
        assert json.loads(ws.recv())["type"] == "audio_chunk"
    client = server.client(key)
    wait_until(lambda: client.get(f"/generate/{task_id}").json()["status"] == "cancelled", 10,
               "the job to be cancelled")  # fmt: skip
