"""One headless chromium per browser-test module: Playwright driving Debian's ``chromium``
(never Playwright's own download). Skips, with the reason, where the ``playwright`` package or
the browser is missing (``.ci/run`` installs chromium with apt when it runs as root).

A module fixture, not a session one: while Playwright's sync API is open it holds the thread's
event loop, and ``asyncio.run`` in later test modules would fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("MUSIC_GEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_browser(wait_ms: int) -> Iterator[Any]:
    """Yield a launched browser (for a fixture's ``yield from``); ``expect`` waits up to
    ``wait_ms`` (waits, not timing assertions: generous, for a busy machine)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no chromium at {CHROMIUM}: `apt-get install chromium` (Debian's package; "
            "`bash .ci/run` does it when run as root)"
        )
    sync_api.expect.set_options(timeout=wait_ms)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
