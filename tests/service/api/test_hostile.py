"""A hostile client against a real server on loopback (issue 14): bad input never answers 500,
idempotent retries without a seed, WebSocket abuse, secrets kept out of the access log, and a
database error after a job was stored never tells the client it failed."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from service_helpers import Server, postgres_database, start_server, wait_for
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from websockets.sync.client import connect

from music_gen.service.core.infra.db import Job


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("hostile"), engine="test-tone", max_body_bytes=20_000
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(srv) -> Iterator[httpx.Client]:
    with srv.client(srv.key()) as c:
        yield c


def _ws_url(server: Server, key: str | None = None) -> str:
    base = f"ws://127.0.0.1:{server.settings.port}/api/v1/ws/stream"
    return f"{base}?api_key={key}" if key else base


def _jobs(server: Server) -> int:
    with server.state.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


# ---------------------------------------------------------------- finding 11: no 500s
@pytest.mark.parametrize(
    "url", ["http://example.com:99999/", "http://[::1/hook", "http://[fe80::1%zz]:80/"]
)
def test_a_malformed_webhook_url_is_a_clear_422(client, url):
    r = client.post("/generate", json={"prompt": "x", "duration": 0.2, "webhook_url": url})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "INVALID_WEBHOOK_URL"


def test_non_object_effects_are_a_clear_422(client):
    body = {"instruments": {"bass": "bass"}, "duration": 1.0, "mix_settings": {"effects": [1, 2]}}
    r = client.post("/multi-instrument", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "INVALID_MIX"


def test_a_lone_surrogate_prompt_is_refused_and_listing_keeps_working(client):
    raw = b'{"prompt": "drums \\ud800", "duration": 0.2}'  # JSON may spell a lone surrogate
    r = client.post("/generate", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "INVALID_PROMPT"
    assert client.get("/generate").status_code == 200


def test_deeply_nested_json_is_a_clear_422(client):
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post("/generate", content="{\"prompt\": " + deep[:19_000] + "}",
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422, r.text


def test_an_oversized_chunked_body_is_413(client):
    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(30):
            yield b"a" * 1000
        yield b'"}'

    r = client.post("/generate", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.fixture(scope="module")
def pg_srv(tmp_path_factory) -> Iterator[Server]:
    with postgres_database() as url:  # skips when 127.0.0.1:5432 does not answer
        server = start_server(
            tmp_path_factory.mktemp("hostile-pg"), engine="test-tone", database_url=url
        )
        yield server
        server.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/generate/%00"),
        ("DELETE", "/generate/a%00b"),
        ("GET", "/generate/batch/%00"),
        ("GET", "/audio/%00"),
        ("GET", "/music/%00"),
    ],
)
def test_nul_in_an_id_is_not_a_500_on_postgresql(pg_srv, method, path):
    with pg_srv.client(pg_srv.key()) as c:
        r = c.request(method, path)
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"]["code"] != "INTERNAL_ERROR"


def test_nul_in_a_body_field_is_not_a_500_on_postgresql(pg_srv):
    with pg_srv.client(pg_srv.key()) as c:
        r = c.post("/generate", json={"prompt": "x", "duration": 0.2, "track_id": "a\x00b"})
    assert r.status_code == 422, r.text


# ---------------------------------------------------------------- finding 6: idempotency
def test_the_same_body_twice_with_one_key_and_no_seed_is_one_job(client):
    body = {"prompt": "retry me", "duration": 0.2}
    headers = {"Idempotency-Key": f"k-{time.time_ns()}"}
    first = client.post("/generate", json=body, headers=headers)
    second = client.post("/generate", json=body, headers=headers)
    assert first.status_code == 202 and second.status_code == 202, second.text
    assert first.json()["task_id"] == second.json()["task_id"]
    changed = client.post("/generate", json={**body, "prompt": "other"}, headers=headers)
    assert changed.status_code == 409


def test_a_batch_without_seeds_replays_under_its_key(client):
    body = {"requests": [{"prompt": "a", "duration": 0.2}, {"prompt": "b", "duration": 0.2}]}
    headers = {"Idempotency-Key": f"b-{time.time_ns()}"}
    first = client.post("/generate/batch", json=body, headers=headers)
    second = client.post("/generate/batch", json=body, headers=headers)
    assert second.status_code == 202, second.text
    assert [t["task_id"] for t in first.json()["tasks"]] == [
        t["task_id"] for t in second.json()["tasks"]
    ]


# ---------------------------------------------------------------- finding 4: after the commit
def test_a_database_error_after_the_job_is_stored_does_not_fail_the_request(
    srv, client, monkeypatch
):
    def down() -> int:
        raise OperationalError("SELECT count(*)", {}, Exception("connection reset"))

    before = _jobs(srv)
    monkeypatch.setattr(srv.state.store, "queue_depth", down)
    r = client.post("/generate", json={"prompt": "stored", "duration": 0.2})
    monkeypatch.undo()
    assert r.status_code == 202, r.text  # the job exists, so the client must hear so
    assert _jobs(srv) == before + 1
    assert wait_for(client, r.json()["task_id"])["status"] == "succeeded"


def test_a_database_outage_is_503_with_retry_after(srv, client, monkeypatch):
    def down(*args, **kw):
        raise OperationalError("SELECT", {}, Exception("could not connect to server"))

    monkeypatch.setattr(srv.state.store, "get", down)
    r = client.get("/generate/0123456789abcdef")
    monkeypatch.undo()
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert int(r.headers["Retry-After"]) > 0


# ---------------------------------------------------------------- finding 7: WebSocket
def test_complete_arrives_even_when_the_job_ended_before_the_listener(srv, monkeypatch):
    monkeypatch.setattr(srv.state.worker, "listen", lambda job_id, listener: None)
    with connect(_ws_url(srv, srv.key())) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "late", "duration": 0.2}))
        kinds: list[str] = []
        while not kinds or kinds[-1] not in ("complete", "error"):
            kinds.append(json.loads(ws.recv(timeout=30))["type"])
    assert kinds[0] == "started" and kinds[-1] == "complete"


def test_binary_and_deeply_nested_frames_get_an_error_and_the_socket_stays(srv):
    with connect(_ws_url(srv, srv.key())) as ws:
        ws.send(b"\x00\x01binary")
        assert json.loads(ws.recv(timeout=30))["error"]["code"] == "INVALID_MESSAGE"
        ws.send("[" * 100_000 + "]" * 100_000)
        assert json.loads(ws.recv(timeout=30))["error"]["code"] == "INVALID_MESSAGE"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"


def test_a_database_outage_on_an_open_socket_is_an_error_message(srv, monkeypatch):
    with connect(_ws_url(srv, srv.key())) as ws:
        ws.send(json.dumps({"type": "ping"}))  # the handshake's own check is done
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"

        def down(*args, **kw):
            raise OperationalError("SELECT", {}, Exception("could not connect to server"))

        monkeypatch.setattr(srv.state.keys, "authenticate", down)
        monkeypatch.setattr(srv.state.store, "create", down)
        ws.send(json.dumps({"type": "generate", "prompt": "x", "duration": 0.2}))
        reply = json.loads(ws.recv(timeout=30))
        assert reply["type"] == "error" and reply["error"]["code"] == "DATABASE_UNAVAILABLE"
        monkeypatch.undo()
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"


def test_a_revoked_key_stops_working_on_an_open_socket(srv):
    from music_gen.service.core.infra.auth import KeyStore

    keys = KeyStore(srv.state.db)
    key, record, _ = keys.create_key("soon-revoked")
    with connect(_ws_url(srv, key)) as ws:
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"
        assert keys.revoke(record.id)
        ws.send(json.dumps({"type": "generate", "prompt": "x", "duration": 0.2}))
        reply = json.loads(ws.recv(timeout=30))
        assert reply["type"] == "error" and reply["error"]["code"] == "UNAUTHORIZED"


def test_every_generate_message_spends_a_rate_limit_hit(tmp_path):
    server = start_server(tmp_path, engine="test-tone", rate_limit="3/minute")
    try:
        codes = []
        with connect(_ws_url(server, server.key())) as ws:  # the handshake is one hit
            for _ in range(4):
                ws.send(json.dumps({"type": "generate", "prompt": "x", "duration": 0.1}))
                while True:
                    reply = json.loads(ws.recv(timeout=30))
                    if reply["type"] in ("complete", "error"):
                        codes.append(reply.get("error", {}).get("code", "ok"))
                        break
        assert codes[:2] == ["ok", "ok"] and codes[2:] == ["RATE_LIMITED", "RATE_LIMITED"]
    finally:
        server.stop()


# ---------------------------------------------------------------- finding 12: access log
def test_a_websocket_api_key_is_not_written_to_the_access_log(srv):
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "uvicorn.access")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    key = srv.key()
    try:
        with connect(_ws_url(srv, key)) as ws:
            ws.send(json.dumps({"type": "ping"}))
            ws.recv(timeout=30)
        with contextlib.suppress(Exception), connect(_ws_url(srv, "mgk_revoked_or_wrong")) as ws:
            ws.recv(timeout=30)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    assert any("/ws/stream" in r for r in records), records  # the log line is there …
    assert not any(key in r or "mgk_revoked_or_wrong" in r for r in records), records
