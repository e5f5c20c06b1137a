"""What the adapters' tests share: a loopback file/webhook server, a server started with
adapter settings from the environment (the same ``MUSIC_GEN_*`` names deployments use), and a
running server's adapter settings."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, start_server

from music_gen.service.core.infra.webhooks import SIGNATURE_HEADER


def start_with_env(tmp: Path, env: dict[str, str], **overrides: Any) -> Server:
    """``start_server`` with ``env`` set while the app is made (the adapters read their
    settings then: ``MUSIC_GEN_KEY_CREDITS`` …)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return start_server(tmp, **overrides)


def adapter_settings(server: Server, name: str) -> Any:
    """The settings object the running adapter ``name`` reads (tests may change them)."""
    return server.app.state.adapters[name].settings


class Files:
    """A loopback HTTP server: GET serves ``routes``; POST records JSON bodies (webhooks)."""

    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes, self.posts = routes, []
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = files.routes.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.end_headers()
                self.wfile.write(data or b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                files.posts.append((body, self.headers.get(SIGNATURE_HEADER)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()


def wav(seconds: float, sr: int = 32000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def mp3_bitrate(data: bytes) -> int:
    """kbit/s of the first MPEG audio frame (after any ID3 tag)."""
    i = 0
    if data[:3] == b"ID3":
        i = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    while not (data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0):
        i += 1
    mpeg1 = (data[i + 1] >> 3) & 3 == 3
    table = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320) if mpeg1
             else (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))  # fmt: skip
    return table[data[i + 2] >> 4]


PENDING = {"waiting", "active", "processing", "queued", "generating"}  # the SDK's poll_job set


def loop(seconds: float, bpm: float, tonic_hz: float, sr: int = 32000) -> bytes:
    """A drum-and-chord loop at ``bpm`` on a minor triad of ``tonic_hz``."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.12 * np.sin(2 * np.pi * tonic_hz * r * t) for r in (1, 2 ** (3 / 12), 2 ** (7 / 12)))
    rng = np.random.default_rng(0)
    for start in np.arange(0, seconds, 60 / bpm):
        i, n = int(start * sr), int(0.05 * sr)
        x[i : i + n] += 0.5 * rng.standard_normal(len(x[i : i + n])) * np.exp(-np.arange(
            len(x[i : i + n])) / 400)  # fmt: skip
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV")
    return buf.getvalue()
