"""Webhooks to a loopback receiver that checks the signature; retries; URL safety."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from service_helpers import wait_for, wait_until
from sqlalchemy import select

from music_gen import InvalidInput
from music_gen.service.core.infra.db import WebhookAttempt, WebhookDelivery
from music_gen.service.core.infra.webhooks import (
    SIGNATURE_HEADER,
    check_public_url,
    sign,
    verify_signature,
)


class Receiver:
    """A loopback HTTP endpoint that fails the first ``failures`` deliveries with 500."""

    def __init__(self, secret: str, failures: int = 0) -> None:
        self.secret, self.failures = secret, failures
        self.events: list[dict] = []
        self.verified: list[bool] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                ok = verify_signature(receiver.secret, body, self.headers[SIGNATURE_HEADER])
                receiver.verified.append(ok)
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    receiver.events.append(json.loads(body))
                    self.send_response(200 if ok else 400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self):
        self.httpd.shutdown()


def _secret(server, key_name: str) -> tuple[str, str]:
    from music_gen.service.core.infra.auth import KeyStore

    key, _, account = KeyStore(server.state.db).create_key(key_name)
    return key, account.webhook_secret


def _wait(predicate, timeout=20.0):
    wait_until(predicate, timeout)


def test_success_webhook_is_signed_and_retried(server):
    key, secret = _secret(server, "hooks")
    receiver = Receiver(secret, failures=2)
    client = server.client(key)
    try:
        task = client.post(
            "/generate",
            json={"prompt": "hook me", "duration": 0.3, "webhook_url": receiver.url,
                  "track_id": "track-7"},
        ).json()  # fmt: skip
        done = wait_for(client, task["task_id"])
        _wait(lambda: receiver.events)
    finally:
        receiver.close()
    event = receiver.events[0]
    assert event["task_id"] == task["task_id"] and event["status"] == "succeeded"
    assert event["track_id"] == "track-7" and event["audio_url"] == done["audio_url"]
    assert receiver.verified == [True, True, True]

    def delivery_row():
        with server.state.db.session() as s:
            where = WebhookDelivery.job_id == task["task_id"]
            return s.scalar(select(WebhookDelivery).where(where))

    # the receiver has the event before the dispatcher has recorded the answer: wait for it
    _wait(lambda: delivery_row().status != "pending")
    delivery = delivery_row()
    with server.state.db.session() as s:
        attempts = s.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
        ).all()
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [a.status_code for a in sorted(attempts, key=lambda a: a.attempt)] == [500, 500, 200]


def test_failure_webhook_carries_the_error(server):
    key, secret = _secret(server, "hooks-fail")
    receiver = Receiver(secret)
    client = server.client(key)
    try:  # a model that cannot load fails the job at the worker, with its code
        server.state.settings.models.append("/nonexistent/checkpoint")
        task = client.post(
            "/generate",
            json={"prompt": "x", "duration": 0.2, "model": "/nonexistent/checkpoint",
                  "webhook_url": receiver.url},
        ).json()  # fmt: skip
        done = wait_for(client, task["task_id"])
        _wait(lambda: receiver.events)
    finally:
        server.state.settings.models.remove("/nonexistent/checkpoint")
        receiver.close()
    assert done["status"] == "failed" and done["error"]["code"] == "UNKNOWN_MODEL"
    assert receiver.events[0]["status"] == "failed"
    assert receiver.events[0]["error"]["code"] == "UNKNOWN_MODEL"


def test_signature_helpers():
    body = '{"a":1}'
    header = sign("whsec_x", body)
    assert verify_signature("whsec_x", body, header)
    assert not verify_signature("whsec_y", body, header)
    assert not verify_signature("whsec_x", body + " ", header)
    old = sign("whsec_x", body, timestamp=int(time.time()) - 3600)
    assert not verify_signature("whsec_x", body, old)
    assert not verify_signature("whsec_x", body, "garbage")
    now = int(time.time())
    assert not verify_signature("whsec_x", body, f"t={now},v1=\u00e9")  # non-ASCII: just False


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x", "http://localhost:9/x", "http://10.0.0.8/", "http://192.168.1.1/",
     "http://169.254.169.254/latest", "http://[::1]/", "http://0.0.0.0/", "file:///etc/passwd",
     "gopher://example.com/"],
)  # fmt: skip
def test_private_targets_are_refused_by_default(url):
    with pytest.raises(InvalidInput) as err:
        check_public_url(url, allow_private=False, allow_loopback=False, what="webhook url")
    assert err.value.code == "INVALID_WEBHOOK_URL"


def test_loopback_allowed_only_when_asked():
    assert check_public_url("http://127.0.0.1:8/x", False, True, what="webhook url")
    with pytest.raises(InvalidInput):
        check_public_url("http://10.0.0.8/", False, True, what="webhook url")
    assert check_public_url("http://10.0.0.8/", True, False, what="webhook url")
