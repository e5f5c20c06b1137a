"""Fixtures of the service tests; the machinery is in ``service_helpers``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from service_helpers import Server, postgres_database, start_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory, checkpoints) -> Iterator[Server]:
    """The shared server of a test module: tiny mono checkpoint, auth on."""
    tmp = tmp_path_factory.mktemp("service")
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        srv = start_server(
            tmp,
            model=str(checkpoints["mono"]),
            models=[str(checkpoints["stereo"])],
            database_url=url,
            max_duration=30.0,
            max_body_bytes=20_000,
        )
        stack.callback(srv.stop)
        yield srv
