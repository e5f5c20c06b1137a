"""Fixtures of the adapters' tests (the machinery is in ``adapter_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from adapter_helpers import Files, wav
from service_helpers import Server, start_server


@pytest.fixture(scope="module")
def files() -> Iterator[Files]:
    f = Files({"/clip.wav": wav(2.0), "/long.wav": wav(31.0), "/text.txt": b"not audio"})
    yield f
    f.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, checkpoints) -> Iterator[Server]:
    """A server for the vendors' own clients (SQLite, tiny mono checkpoint)."""
    server = start_server(tmp_path_factory.mktemp("vendors"), model=str(checkpoints["mono"]),
                          max_duration=30.0)  # fmt: skip
    yield server
    server.stop()
