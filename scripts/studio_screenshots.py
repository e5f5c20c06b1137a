"""Screenshots of the studio for the docs: docs/studio-desktop.png, docs/studio-phone.png (dark).

Starts a server on loopback with the offline composer (no weights needed), signs in through the
page, makes a piece and a multi-instrument arrangement, and photographs the page at desktop and
phone width. Needs the dev extra (playwright) and Debian's chromium at /usr/bin/chromium:

    .venv/bin/python scripts/studio_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import expect, sync_playwright

from music_gen.service.app import create_app
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.settings import Settings

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(host="127.0.0.1", port=port, data_dir=Path(data), model="composer")
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        key, _, _ = KeyStore(app.state.service.db).create_key("screenshots")
        try:
            shoot(f"http://127.0.0.1:{port}/", key, args.out, args.chromium)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def shoot(url: str, key: str, out: Path, chromium: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#whoami")).to_contain_text("Signed in")
        # a multi-instrument arrangement first, so that the history has two kinds of job
        page.get_by_role("tab", name="Multi-instrument").click()
        page.locator("#panel-multi").get_by_label("Duration", exact=True).fill("12")
        page.get_by_role("button", name="Generate stems").click()
        expect(page.locator("#stems li")).to_have_count(3, timeout=120_000)
        page.get_by_role("tab", name="Generate").click()
        panel = page.locator("#panel-generate")
        panel.get_by_label("Prompt", exact=True).fill("warm lo-fi hip hop, jazzy piano, 80 bpm")
        panel.get_by_label("Duration", exact=True).fill("12")
        panel.get_by_label("Seed", exact=True).fill("7")
        panel.get_by_label("Play while it is generated (stream)").uncheck()
        panel.get_by_role("button", name="Generate", exact=True).click()
        expect(page.locator("#job-status")).to_have_attribute(
            "data-state", "succeeded", timeout=120_000
        )
        expect(page.locator("#history-list li.job")).to_have_count(2)
        page.wait_for_timeout(1500)  # the waveform is drawn once the audio is decoded
        page.screenshot(path=str(out / "studio-desktop.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.emulate_media(color_scheme="dark")  # the phone shot shows the dark theme
        page.get_by_label("Spectrogram").check()
        page.wait_for_timeout(800)
        page.locator("#result").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "studio-phone.png"))
        browser.close()
    print(f"wrote {out / 'studio-desktop.png'} and {out / 'studio-phone.png'}")


if __name__ == "__main__":
    main()
