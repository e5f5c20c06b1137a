"""Webhooks: signed JSON events, delivered with retries, every attempt recorded.

When a job ends (succeeded or failed) with a ``webhook_url``, ``enqueue`` stores a delivery with
the exact body to send. ``Dispatcher`` (a thread) POSTs due deliveries; a non-2xx answer or a
network error schedules the next attempt after ``backoff * 2**(attempt-1)`` seconds, up to
``max_attempts``; deliveries survive restarts because they live in the database.

Signature (Stripe-style), header ``MusicGen-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC-SHA256(account webhook secret, f"{t}.{body}")``. Receivers recompute it over the
raw body and reject old timestamps (``verify_signature`` does both).

URLs must be http(s) and resolve to public addresses (``urlguard``): private, loopback,
link-local, multicast and reserved targets are refused (at submit time and again before every
attempt) unless the settings allow private or loopback targets, and each attempt connects to
the address it checked.

Deliveries run on a small thread pool, at most one at a time per account: one account's slow
receiver holds one thread, never the others' deliveries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import select

from ....errors import InvalidInput
from .db import Database, Job, WebhookAttempt, WebhookDelivery, utcnow
from .urlguard import check_public_url, pinned_request

__all__ = ["Dispatcher", "check_public_url", "sign", "verify_signature"]

log = logging.getLogger("music_gen.webhooks")
SIGNATURE_HEADER = "MusicGen-Signature"


def sign(secret: str, body: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, body: str, header: str, tolerance: float = 300.0) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` s old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1].encode()
    return hmac.compare_digest(expected, parts.get("v1", "").encode("utf-8", "replace"))


def event_body(job: Job, audio_url: str | None) -> str:
    payload: dict[str, Any] = {
        "id": f"evt_{secrets.token_hex(12)}",
        "type": f"task.{job.status}",
        "task_id": job.id,
        "status": job.status,
        "audio_url": audio_url,
        "track_id": job.track_id,
        "error": job.error,
        "created": int(time.time()),
    }
    return json.dumps(payload, separators=(",", ":"))


class Dispatcher:
    def __init__(
        self,
        db: Database,
        secret_for: Any,  # account id -> secret
        *,
        max_attempts: int = 6,
        backoff: float = 2.0,
        timeout: float = 10.0,
        allow_private: bool = False,
        allow_loopback: bool = False,
        transport: httpx.BaseTransport | None = None,
        threads: int = 8,
    ) -> None:
        self.db = db
        self.secret_for = secret_for
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.allow = (allow_private, allow_loopback)
        self.client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="music-gen-webhook")
        self._busy: set[str] = set()  # accounts with a delivery in flight
        self._busy_lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        # job origin -> body builder, for APIs whose webhooks carry their own shape (ModelsLab)
        self.bodies: dict[str, Any] = {}

    def enqueue(self, job: Job, audio_url: str | None) -> None:
        if not job.webhook_url:
            return
        delivery = WebhookDelivery(
            id=secrets.token_hex(12),
            job_id=job.id,
            account_id=job.account_id,
            url=job.webhook_url,
            body=self.bodies[job.origin](job)
            if job.origin in self.bodies
            else event_body(job, audio_url),
        )
        with self.db.session.begin() as s:
            s.add(delivery)
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="music-gen-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.deliver_due()
            except Exception:  # a database hiccup must not kill the thread
                log.exception("webhook dispatcher error")
                sent = 0
            if not sent:
                self._wake.wait(0.5)
                self._wake.clear()

    def deliver_due(self) -> int:
        """Start the oldest due delivery of every account that has none in flight."""
        now = utcnow()
        with self._busy_lock:
            busy = set(self._busy)
        where = [WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now]
        if busy:
            where.append(WebhookDelivery.account_id.not_in(busy))
        with self.db.session() as s:
            due = s.scalars(
                select(WebhookDelivery)
                .where(*where)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(100)
            ).all()
        started = 0
        for delivery in due:
            with self._busy_lock:
                if delivery.account_id in self._busy:
                    continue
                self._busy.add(delivery.account_id)
            started += 1
            self._pool.submit(self._attempt_in_pool, delivery)
        return started

    def _attempt_in_pool(self, delivery: WebhookDelivery) -> None:
        try:
            self._attempt(delivery)
        except Exception:  # a database hiccup: the delivery stays pending and is retried
            log.exception("webhook delivery %s failed", delivery.id)
        finally:
            with self._busy_lock:
                self._busy.discard(delivery.account_id)
            self._wake.set()

    def _attempt(self, delivery: WebhookDelivery) -> None:
        attempt = delivery.attempts + 1
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            secret = self.secret_for(delivery.account_id)
            response = pinned_request(
                self.client,
                "POST",
                delivery.url,
                allow_private=self.allow[0],
                allow_loopback=self.allow[1],
                what="webhook url",
                content=delivery.body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, delivery.body),
                    "User-Agent": "music-gen-webhooks",
                },
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (httpx.HTTPError, InvalidInput) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        ok = error is None
        with self.db.session.begin() as s:
            row = s.get(WebhookDelivery, delivery.id)
            if row is None:
                return
            row.attempts = attempt
            s.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    attempt=attempt,
                    status_code=status_code,
                    error=error,
                    duration_ms=elapsed,
                )
            )
            if ok:
                row.status = "delivered"
            elif attempt >= self.max_attempts:
                row.status = "failed"
            else:
                delay = self.backoff * 2 ** (attempt - 1)
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        if ok:
            self.delivered += 1
        elif attempt >= self.max_attempts:
            self.failed += 1
        log.info(
            "webhook %s job %s attempt %d %s",
            delivery.id,
            delivery.job_id,
            attempt,
            "delivered" if ok else error,
        )
