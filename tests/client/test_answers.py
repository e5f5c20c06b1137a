"""Answers a live test server does not give on demand (rate limits, a database that is down,
a proxy's HTML page, a task that failed), from ``httpx.MockTransport``: each is raised as the
class ``errors.error_for`` names for its code, and what a client sends (key, Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from music_gen.errors import (
    GenerationFailed,
    InvalidInput,
    MusicGenError,
    RateLimited,
    ServiceUnavailable,
    Timeout,
    TransportError,
)

URL = "http://music.test/api/v1"


def _error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} message", "details": {"x": 1}}}
    return httpx.Response(status, json=body, headers=headers)


def _task(status: str, error: dict | None = None) -> httpx.Response:
    return httpx.Response(200, json={"task_id": "t1", "status": status, "error": error})


def _client(connect, handler: Callable[[httpx.Request], httpx.Response]):
    return connect(URL, "k", transport=httpx.MockTransport(handler))


def test_what_the_client_sends(connect):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.method == "POST":
            return _error(422, "INVALID_DURATION")
        return httpx.Response(200, json={"task_id": "t1", "status": "running", "progress": 0.5})

    client = _client(connect, handler)
    assert client.get("t1").progress == 0.5
    with pytest.raises(InvalidInput) as err:
        client.submit("x", 999, idempotency_key="abc", seed=1)
    assert err.value.code == "INVALID_DURATION" and err.value.details == {"x": 1}
    assert calls[0].headers["authorization"] == "Bearer k"
    assert calls[1].headers["idempotency-key"] == "abc"
    assert httpx.Response(200, content=calls[1].content).json() == {
        "prompt": "x",
        "duration": 999,
        "seed": 1,
    }  # fmt: skip  (fields left None are the server's defaults: not sent)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ((429, "RATE_LIMITED", {"Retry-After": "7"}), RateLimited, "RATE_LIMITED"),
        ((503, "DATABASE_UNAVAILABLE", {}), ServiceUnavailable, "DATABASE_UNAVAILABLE"),
        ((500, "INTERNAL_ERROR", {}), MusicGenError, "INTERNAL_ERROR"),
        ((502, "<html>Bad Gateway</html>", None), ServiceUnavailable, "HTTP_502"),
        ((200, "<html>a captive portal</html>", None), TransportError, "BAD_RESPONSE"),
    ],
)
def test_error_answers_and_unreadable_answers(connect, answer, error, code):
    status, text, headers = answer  # headers None: not JSON at all

    def handler(request: httpx.Request) -> httpx.Response:
        if headers is None:
            return httpx.Response(status, text=text)
        return _error(status, text, **headers)

    client = _client(connect, handler)
    with pytest.raises(error) as err:
        client.get("t1")
    assert type(err.value) is error and err.value.code == code
    if code == "RATE_LIMITED":
        assert err.value.details["retry_after"] == 7.0
    if code == "HTTP_502":
        assert "Bad Gateway" in err.value.message


@pytest.mark.parametrize(
    ("job_error", "error"),
    [
        ({"code": "OUT_OF_MEMORY", "message": "oom"}, GenerationFailed),
        ({"code": "STORAGE_FULL", "message": "disk full"}, ServiceUnavailable),
        ({"code": "SOMETHING_NEW", "message": "?"}, GenerationFailed),  # unknown: the default
        (None, GenerationFailed),
    ],
)
def test_a_failed_task_raises_its_error_when_waited_for(connect, job_error, error):
    client = _client(connect, lambda request: _task("failed", job_error))
    with pytest.raises(error) as err:
        client.wait("t1", poll=0.01)
    assert type(err.value) is error and err.value.details["task_id"] == "t1"
    assert err.value.code == (job_error or {}).get("code", "GENERATION_FAILED")


def test_waiting_past_the_timeout_is_a_timeout(connect):
    client = _client(connect, lambda request: _task("running"))
    with pytest.raises(TimeoutError) as err:  # the builtin still catches it
        client.wait("t1", poll=0.01, timeout=0.05)
    assert isinstance(err.value, Timeout) and err.value.details["phase"] == "wait"
    assert err.value.details["status"] == "running"


def test_polling_rides_out_rate_limits(connect):
    answers = iter(
        [lambda: _error(429, "RATE_LIMITED", **{"Retry-After": "0"}), lambda: _task("succeeded")]
    )
    client = _client(connect, lambda request: next(answers)())
    assert client.wait("t1", poll=0.01).status == "succeeded"


def test_readiness_503_is_an_answer_not_an_error(connect):
    body = {"ready": False, "worker_alive": False, "model_loadable": True, "queue_depth": 3,
            "running": 0, "detail": "worker not alive"}  # fmt: skip
    client = _client(connect, lambda request: httpx.Response(503, json=body))
    ready = client.ready()
    assert not ready.ready and ready.detail == "worker not alive" and ready.queue_depth == 3
    proxy = _client(connect, lambda request: httpx.Response(503, text="<html>down</html>"))
    with pytest.raises(ServiceUnavailable) as err:  # a 503 that is not the server's answer
        proxy.ready()
    assert type(err.value) is ServiceUnavailable and err.value.code == "HTTP_503"


def test_the_sdk_works_where_torch_cannot_be_imported():
    """A fresh interpreter where torch, transformers and diffusers cannot be imported (the
    ``[client]`` extra alone): the SDK sends, maps an error, and never loads the service."""
    import subprocess
    import sys

    from test_package import _NO_TORCH

    code = _NO_TORCH + (
        "import httpx, websockets.sync.client, websockets.asyncio.client\n"
        "from music_gen.client import APIClient, GenerationRequest\n"
        "from music_gen.errors import NotFound\n"
        "def handler(request):\n"
        "    body = {'error': {'code': 'TASK_NOT_FOUND', 'message': 'no', 'details': {}}}\n"
        "    return httpx.Response(404, json=body)\n"
        "mock = httpx.MockTransport(handler)\n"
        "client = APIClient('k', 'http://music.test/api/v1', transport=mock)\n"
        "try:\n"
        "    client.submit(GenerationRequest(prompt='x'))\n"
        "except NotFound as exc:\n"
        "    print(exc.code)\n"
        "heavy = ('torch', 'transformers', 'diffusers', 'music_gen.service', 'fastapi')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["TASK_NOT_FOUND", ""], out.stdout + out.stderr


def test_downloads_follow_a_redirect_to_the_node_that_holds_the_audio(connect):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "music.test":  # this node does not hold it: 307 to the one that does
            return httpx.Response(307, headers={"Location": "http://node2.test/api/v1/audio/a1"})
        assert "authorization" not in request.headers  # the key stays with its own origin
        return httpx.Response(200, content=b"RIFF....")

    client = _client(connect, handler)
    assert client.download(f"{URL}/audio/a1") == b"RIFF...."
