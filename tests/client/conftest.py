"""Fixtures of the SDK tests: a real server on loopback (the service tests' ``service_helpers``)
and the SDK's two clients behind one blocking face, so each test runs against both."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from service_helpers import Server, start_server

from music_gen import APIClient, AsyncAPIClient


class Blocking:
    """``AsyncAPIClient`` driven from a test: each coroutine method runs to completion on the
    client's own event loop; ``stream`` collects its chunks."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if inspect.isasyncgenfunction(attr):

            def collect(*args: Any, **kwargs: Any) -> Iterator[Any]:
                async def run() -> list[Any]:
                    return [item async for item in attr(*args, **kwargs)]

                return iter(self.loop.run_until_complete(run()))

            return collect
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self.loop.run_until_complete(attr(*args, **kwargs))
        return attr

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints, song_pipeline) -> Iterator[Server]:
    """The module's server: a tiny MusicGen checkpoint (default), a tiny song model, the
    composer; auth on; small body limit (20 kB) so PAYLOAD_TOO_LARGE is cheap to reach."""
    srv = start_server(
        tmp_path_factory.mktemp("sdk"),
        model=str(checkpoints["mono"]),
        song_model=str(song_pipeline),
        max_duration=30.0,
        max_body_bytes=20_000,
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["sync", "async"])
def connect(request):
    """``connect(base_url, key, **options)``: a client, sync or async (each test runs with
    both), closed at the end of the test."""
    opened: list[Any] = []

    def make(url: str, key: str | None = None, **options: Any) -> Any:
        if request.param == "sync":
            client: Any = APIClient(api_key=key, base_url=url, **options)
        else:
            client = Blocking(AsyncAPIClient(api_key=key, base_url=url, **options))
        opened.append(client)
        return client

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for client in opened:
        client.close()


@pytest.fixture
def client(connect, server):
    """A client of the module's server with a fresh key (its own account)."""
    return connect(server.url, server.key())
