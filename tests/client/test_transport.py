"""Transport failures and timeouts, sync and async, on loopback: a closed port, a server that
accepts but never answers, one that hangs up. Each is the library's error (never httpx's or
websockets'), with the transport's exception chained and named in ``details["cause"]``."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from service_helpers import free_port

from music_gen.errors import NotFound, ServiceUnavailable, Timeout, TransportError


@contextlib.contextmanager
def listening(hang_up: bool) -> Iterator[str]:
    """A loopback port that takes connections and never answers (the kernel completes the
    handshake from the backlog), or (``hang_up``) closes each one at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def hang_up_all() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = server.accept()
                conn.close()

    thread = threading.Thread(target=hang_up_all, daemon=True) if hang_up else None
    if thread:
        thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/api/v1"
    finally:
        stop.set()
        if thread:
            thread.join(timeout=5)
        server.close()


def test_a_closed_port_is_a_transport_error(connect):
    client = connect(f"http://127.0.0.1:{free_port()}/api/v1", "k")
    with pytest.raises(TransportError) as err:
        client.health()
    assert type(err.value) is TransportError and err.value.code == "CONNECTION_FAILED"
    assert isinstance(err.value, ServiceUnavailable)  # retryable, as a 503 is
    assert isinstance(err.value.__cause__, httpx.ConnectError)
    assert err.value.details["cause"] == "ConnectError"
    with pytest.raises(TransportError) as err:
        list(client.stream("x", 1))
    assert err.value.code == "CONNECTION_FAILED"
    assert isinstance(err.value.__cause__, ConnectionRefusedError)


def test_a_server_that_never_answers_is_a_timeout(connect):
    with listening(hang_up=False) as url:
        client = connect(url, "k", timeout=0.3)
        with pytest.raises(Timeout) as err:
            client.submit("jazz", 1)
        assert err.value.code == "TIMEOUT" and err.value.details["phase"] == "read"
        assert isinstance(err.value, TimeoutError)  # ``except TimeoutError`` catches it too
        assert isinstance(err.value.__cause__, httpx.ReadTimeout)
        with pytest.raises(Timeout) as err:  # the WebSocket's opening handshake
            list(client.stream("x", 1))
        assert err.value.code == "TIMEOUT"


def test_a_server_that_hangs_up_is_a_transport_error(connect):
    with listening(hang_up=True) as url:
        client = connect(url, "k")
        with pytest.raises(TransportError) as err:
            client.get("t1")
        assert not isinstance(err.value, Timeout)
        assert err.value.code in ("BAD_RESPONSE", "NETWORK_ERROR")
        assert isinstance(err.value.__cause__, httpx.TransportError)
        with pytest.raises(TransportError):
            list(client.stream("x", 1))


def test_an_unreachable_scheme_is_invalid_input(connect):
    from music_gen.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        connect("ftp://127.0.0.1/api/v1", "k").health()
    assert err.value.code == "INVALID_URL"


@contextlib.contextmanager
def websocket_server(handler, **options) -> Iterator[str]:
    """A WebSocket server on loopback at ``/api/v1/ws/stream`` running ``handler``."""
    from websockets.sync.server import serve

    with serve(handler, "127.0.0.1", 0, **options) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.socket.getsockname()[1]}/api/v1"
        finally:
            server.shutdown()
            thread.join(timeout=5)


def test_a_stream_that_goes_quiet_is_a_timeout(connect):
    def silent(ws) -> None:
        ws.recv()  # the request, then nothing until the client leaves
        with contextlib.suppress(Exception):
            ws.recv()

    with websocket_server(silent) as url:
        with pytest.raises(Timeout) as err:
            list(connect(url, "k").stream("x", 1, timeout=0.3))
        assert err.value.code == "TIMEOUT"


def test_a_stream_cut_before_its_end_is_a_transport_error(connect):
    def cut(ws) -> None:
        ws.recv()
        ws.send('{"type": "started", "task_id": "t1"}')
        ws.close()  # before "complete"

    def garbled(ws) -> None:
        ws.recv()
        ws.send("not json")

    with websocket_server(cut) as url:
        with pytest.raises(TransportError) as err:
            list(connect(url, "k").stream("x", 1))
        assert err.value.code == "NETWORK_ERROR" and not isinstance(err.value, Timeout)
        assert err.value.details["cause"].startswith("ConnectionClosed")
    with websocket_server(garbled) as url:
        with pytest.raises(TransportError) as err:
            list(connect(url, "k").stream("x", 1))
        assert err.value.code == "BAD_RESPONSE"


def test_a_refused_websocket_handshake_is_the_error_it_answers(connect):
    body = '{"error": {"code": "NOT_FOUND", "message": "no stream here", "details": {}}}'

    def refuse(connection, request):
        return connection.respond(404, body)

    server = websocket_server(lambda ws: None, process_request=refuse)
    with server as url, pytest.raises(NotFound) as err:
        list(connect(url, "k").stream("x", 1))
    assert err.value.code == "NOT_FOUND" and err.value.message == "no stream here"
    assert err.value.details["status"] == 404 and err.value.details["cause"] == "InvalidStatus"
