"""Property-based fuzzing of the whole API from its own OpenAPI document: no 5xx, ever."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from service_helpers import start_server


def test_openapi_fuzzing_finds_no_server_errors(tmp_path, checkpoints):
    st = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(st).exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    srv = start_server(
        tmp_path, model=str(checkpoints["mono"]), max_duration=2.0, max_body_bytes=50_000
    )
    try:
        key = srv.key("fuzzer")
        # the schema is read here, with a generous timeout (schemathesis gives up loading it
        # after 10 s, which a busy CI machine can exceed), and fuzzed against the live server
        schema = tmp_path / "openapi.json"
        schema.write_text(httpx.get(f"{srv.settings.base_url}/openapi.json", timeout=120).text)
        args = [st, "run", str(schema), "--url", srv.settings.base_url]
        args += ["--checks", "not_a_server_error", "--max-examples", "40"]
        args += ["--header", f"Authorization: Bearer {key}", "--request-timeout", "20"]
        args += ["--seed", "1"]
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        srv.stop()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    print(proc.stdout[-1500:])
