"""``music-gen serve`` on first contact: no Alembic plugin chatter, and a one-line hint with the
command that creates a key and the URL to open, until a key exists."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from service_helpers import free_port, wait_until

from music_gen.service.cli import first_contact
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import open_database
from music_gen.service.core.infra.settings import Settings


def _args(data_dir) -> argparse.Namespace:
    return argparse.Namespace(data_dir=str(data_dir), database_url=None)


def test_the_hint_names_the_command_and_the_url_until_a_key_exists(tmp_path):
    settings = Settings(data_dir=tmp_path, port=8123)
    hint = first_contact(settings, _args(tmp_path))
    assert hint is not None and "\n" not in hint
    assert f"music-gen keys create --name NAME --data-dir {tmp_path}" in hint
    assert "http://127.0.0.1:8123/" in hint
    store = KeyStore(open_database(settings.db_url))
    _, record, _ = store.create_key("first")
    assert first_contact(settings, _args(tmp_path)) is None
    store.revoke(record.id)  # only revoked keys: the hint again
    assert first_contact(settings, _args(tmp_path)) is not None
    assert first_contact(Settings(data_dir=tmp_path, auth=False), _args(tmp_path)) is None


def test_serve_prints_the_hint_and_no_alembic_plugin_lines(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "music_gen.cli", "serve", "--engine", "test-tone",
           "--port", str(port), "--data-dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        out = proc.stdout

        def started() -> bool:  # a line at a time, up to "Uvicorn running" or the end
            lines.append(out.readline())
            return not lines[-1] or "Uvicorn running" in lines[-1]

        wait_until(started, 60, "Uvicorn running", interval=0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "".join(lines)
    assert "Uvicorn running" in text, text
    assert "alembic.runtime.plugins" not in text and "Context impl" not in text
    assert "Running upgrade" in text  # the migrations themselves are still reported
    hints = [line for line in lines if line.startswith("no API key exists yet")]
    assert len(hints) == 1 and f"http://127.0.0.1:{port}/" in hints[0]
