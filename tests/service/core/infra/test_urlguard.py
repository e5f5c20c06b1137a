"""The outbound-URL guard (issue 14, findings 9-11): addresses hidden in IPv6 and multicast are
refused at the guard function itself (never contacted), malformed URLs are clear errors, the
connection goes to the address that was checked (DNS rebinding), downloads have a total
deadline, and one account's slow webhook receiver does not hold up another's deliveries.
Every request these tests make goes to 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from service_helpers import wait_until
from sqlalchemy import select

from music_gen import InvalidInput
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import Job, WebhookDelivery, open_database
from music_gen.service.core.infra.webhooks import Dispatcher, check_public_url


@pytest.mark.parametrize(
    "url",
    [
        "http://224.0.0.1/",  # multicast (it is "global" too: the order of checks matters)
        "http://239.255.255.250:1900/",
        "http://[ff02::1]/",
        "http://[::7f00:1]/",  # IPv4-compatible loopback
        "http://[::127.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[64:ff9b::7f00:1]/",  # NAT64 of loopback
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 of loopback
        "http://[2002:c0a8:101::1]/",  # 6to4 of 192.168.1.1
        "http://0.0.0.0/",
        "http://[::]/",
        "http://240.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_hidden_loopback_private_and_multicast_addresses_are_refused(url):
    with pytest.raises(InvalidInput) as caught:
        check_public_url(url, allow_private=False, allow_loopback=False, what="webhook url")
    assert caught.value.code == "INVALID_WEBHOOK_URL"


@pytest.mark.parametrize("url", ["http://224.0.0.1/", "http://[ff02::1]/", "http://0.0.0.0/"])
def test_multicast_and_unspecified_are_refused_even_when_private_targets_are_allowed(url):
    with pytest.raises(InvalidInput):
        check_public_url(url, allow_private=True, allow_loopback=True, what="webhook url")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:99999/",
        "http://example.com:-1/",
        "http://example.com:port/",
        "http://[::1/",
        "http://[not-an-address]/",
        "ftp://example.com/",
        "http:///nohost",
    ],
)
def test_malformed_urls_are_invalid_input_not_a_crash(url):
    with pytest.raises(InvalidInput) as caught:
        check_public_url(url, allow_private=False, allow_loopback=False, what="init audio")
    assert caught.value.code == "INVALID_INIT_AUDIO"


class _Receiver:
    """A loopback HTTP server recording the Host header of each request; with ``trickle``, GET
    answers 200 bytes one at a time, 50 ms apart (10 s in all)."""

    def __init__(self, trickle: bool = False) -> None:
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.hosts.append(self.headers["Host"])
                self.send_response(200)
                self.send_header("Content-Length", "200" if trickle else "0")
                self.end_headers()
                for _ in range(200 if trickle else 0):
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(0.05)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch) -> Iterator[list[str]]:
    """``hook.test`` resolves to 127.0.0.1 once; every later look-up fails (an attacker's DNS
    would answer with an internal address instead)."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def fake(host: Any, *args: Any, **kw: Any) -> Any:
        if host == "hook.test":
            lookups.append(host)
            if len(lookups) > 1:
                raise socket.gaierror(socket.EAI_NONAME, "rebound")
            return real("127.0.0.1", *args, **kw)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield lookups


def test_a_webhook_connects_to_the_address_it_checked(tmp_path, rebinding_dns):
    receiver = _Receiver()
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    keys = KeyStore(db)
    account = keys.account("a")
    dispatcher = Dispatcher(db, keys.webhook_secret, allow_loopback=True)
    job = Job(id="j1", account_id=account.id, status="succeeded", params={},
              model="m", webhook_url=f"http://hook.test:{receiver.port}/hook")  # fmt: skip
    try:
        dispatcher.enqueue(job, None)
        dispatcher._attempt(_pending(db)[0])
        assert receiver.hosts == [f"hook.test:{receiver.port}"]  # Host header kept
        assert len(rebinding_dns) == 1  # one look-up: the one that was checked
    finally:
        dispatcher.stop()
        receiver.close()


def test_a_download_connects_to_the_address_it_checked(rebinding_dns):
    from music_gen.service.core.infra.urlguard import fetch

    receiver = _Receiver()
    try:
        data = fetch(f"http://hook.test:{receiver.port}/a.wav", allow_private=False,
                     allow_loopback=True, what="init audio", max_bytes=10, timeout=10)  # fmt: skip
        assert data == b"" and receiver.hosts == [f"hook.test:{receiver.port}"]
        assert len(rebinding_dns) == 1
    finally:
        receiver.close()


def test_a_trickling_download_stops_at_the_total_deadline():
    from music_gen.service.core.infra.urlguard import fetch

    receiver = _Receiver(trickle=True)  # 200 bytes, one every 50 ms: never a per-read timeout
    try:
        with pytest.raises(InvalidInput, match="longer than") as caught:
            fetch(f"http://127.0.0.1:{receiver.port}/slow.wav", allow_private=False,
                  allow_loopback=True, what="init audio", max_bytes=10**6, timeout=1.0)  # fmt: skip
        assert caught.value.code == "INVALID_AUDIO"
    finally:
        receiver.close()


def _pending(db: Any) -> list[WebhookDelivery]:
    with db.session() as s:
        return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.status == "pending")))


def test_a_slow_receiver_does_not_delay_another_accounts_webhooks(tmp_path):
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            release.wait(60)  # account A's receiver hangs
        return httpx.Response(200)

    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    keys = KeyStore(db)
    a, b = keys.account("a"), keys.account("b")
    dispatcher = Dispatcher(db, keys.webhook_secret, allow_loopback=True,
                            transport=httpx.MockTransport(handler))  # fmt: skip
    for i, (account, path) in enumerate([(a, "slow"), (a, "slow2"), (b, "fast")]):
        job = Job(id=f"j{i}", account_id=account.id, status="succeeded",
                  params={}, model="m", webhook_url=f"http://127.0.0.1:9/{path}")  # fmt: skip
        dispatcher.enqueue(job, None)
    dispatcher.start()
    try:
        wait_until(lambda: dispatcher.delivered, 30, "a delivery")
        with db.session() as s:
            status = {d.url.rsplit("/", 1)[1]: d.status for d in s.scalars(select(WebhookDelivery))}
        assert status["fast"] == "delivered", status  # B's went out while A's receiver hung
        assert status["slow"] == "pending" and status["slow2"] == "pending"
    finally:
        release.set()
        dispatcher.stop()


def test_a_pinned_https_webhook_keeps_the_tls_name(tmp_path, rebinding_dns):
    """HTTPS to the checked address: SNI and certificate check use the URL's host name."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "hook.pem", tmp_path / "hook.key"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hook.test",
         "-addext", "subjectAltName=DNS:hook.test"],
        capture_output=True, text=True,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr.strip()[:200]}")
    names: list[str | None] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)
    receiver = _Receiver()
    receiver.httpd.socket = server_ctx.wrap_socket(receiver.httpd.socket, server_side=True)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    keys = KeyStore(db)
    dispatcher = Dispatcher(db, keys.webhook_secret, allow_loopback=True,
                            transport=httpx.HTTPTransport(verify=client_ctx))  # fmt: skip
    hook = f"https://hook.test:{receiver.port}/hook"
    job = Job(id="j1", account_id=keys.account("a").id, status="succeeded",
              params={}, model="m", webhook_url=hook)  # fmt: skip
    try:
        dispatcher.enqueue(job, None)
        dispatcher._attempt(_pending(db)[0])
        assert names == ["hook.test"]  # SNI: the URL's name, not the address
        assert receiver.hosts == [f"hook.test:{receiver.port}"]
        assert len(rebinding_dns) == 1
    finally:
        dispatcher.stop()
        receiver.close()
