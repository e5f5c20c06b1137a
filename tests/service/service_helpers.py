"""A real server over real HTTP: uvicorn on 127.0.0.1 in a thread of the test process (or a
subprocess where a test kills it), with tiny checkpoints, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from music_gen.service.app import create_app
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import open_database
from music_gen.service.core.infra.settings import Settings

T = TypeVar("T")

PG_ADMIN = os.environ.get("MUSIC_GEN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module, dropped afterwards."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    plain = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server reachable at {plain}: {exc}")
    name = f"music_gen_test_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass
class Server:
    settings: Settings
    thread: threading.Thread
    server: uvicorn.Server
    app: Any

    @property
    def url(self) -> str:
        return f"{self.settings.base_url}/api/v1"

    @property
    def state(self) -> Any:
        return self.app.state.service

    def key(self, name: str | None = None, account: str | None = None) -> str:
        key, _, _ = KeyStore(self.state.db).create_key(name or secrets.token_hex(4), account)
        return key

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(tmp: Path, **overrides: Any) -> Server:
    port = free_port()
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "data_dir": tmp,
        "device": "cpu",
        "allow_loopback_urls": True,
        "rate_limit": "10000/minute",
        "lease_seconds": 3.0,
        "webhook_backoff_seconds": 0.2,
        **overrides,
    }
    settings = Settings(**values)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 60, "the server to start")
    if not server.started:
        raise RuntimeError("server failed to start")
    return Server(settings, thread, server, app)


def wait_until(
    check: Callable[[], T],
    timeout: float = 60.0,
    what: str | Callable[[], str] = "the condition",
    *,
    interval: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``check`` every ``interval`` seconds until it returns something truthy, and return
    that; after ``timeout`` seconds an AssertionError naming ``what`` (a string, or a callable
    giving one then) and the last value. Exceptions of the types in ``ignore`` count as not yet
    (a server still starting)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except ignore as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            tail = "" if last is None else f" (last: {last!r})"
            raise AssertionError(f"timed out after {timeout} s waiting for {said}{tail}")
        time.sleep(interval)


def wait_for(client: httpx.Client, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job's JSON once it has ended (succeeded, failed or cancelled)."""
    seen: list[dict[str, Any]] = [{}]

    def ended() -> dict[str, Any] | None:
        seen[0] = body = client.get(f"/generate/{task_id}").json()
        assert "status" in body, body
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(
        ended, timeout, lambda: f"task {task_id} to finish (last: {seen[0]})", interval=0.1
    )


def keystore(url: str) -> KeyStore:
    return KeyStore(open_database(url))
