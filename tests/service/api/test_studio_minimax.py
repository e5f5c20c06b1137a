"""The studio with MiniMax Music 3 as the server's song model (headless chromium): GET /models
lists it, choosing it shows the song fields it takes (lyrics, steps, guidance) and hides those
it lacks (BPM, key, time signature, language, reference audio), and a song made from the page
reaches the API with its lyrics; the lyrics' hint says they are required (it makes no
instrumentals) and empty lyrics show the API's message next to the lyrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import chromium_browser
from service_helpers import Server, start_server

WAIT_MS = 90_000
TAKES = ("Lyrics", "Steps", "Guidance")
LACKS = ("BPM", "Key", "Time signature", "Language", "Reference audio")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless chromium for this module (closed at its end: Playwright's sync API holds the
    thread's event loop while it is open)."""
    yield from chromium_browser(WAIT_MS)


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory, minimax_pipeline) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("studio-minimax"), model="composer",
                       song_model=str(minimax_pipeline), max_duration=30.0)  # fmt: skip
    yield srv
    srv.stop()


def test_the_studio_makes_a_minimax_song(chromium, studio_server):
    from playwright.sync_api import expect

    key = studio_server.key("studio-minimax")
    song = studio_server.settings.song_model
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{studio_server.settings.base_url}/")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#whoami")).to_contain_text("Signed in")
        panel = page.locator("#panel-generate")
        panel.get_by_label("Model", exact=True).select_option(song)
        for label in TAKES:
            expect(panel.get_by_label(label, exact=True)).to_be_visible()
        for label in LACKS:
            expect(panel.get_by_label(label, exact=True)).to_be_hidden()
        expect(page.locator("#model-info")).to_contain_text("minimax-music3-community-license")
        # no instrumentals here: the lyrics' hint says they are required, no [instrumental] tag
        expect(page.locator("#lyrics-help")).to_contain_text("lyrics are required")
        expect(page.locator("#tag-instrumental")).to_be_hidden()

        # empty lyrics: the API's INVALID_LYRICS shows next to the lyrics
        panel.get_by_label("Prompt", exact=True).fill("synth pop, warm vocals")
        panel.get_by_label("Duration", exact=True).fill("1")
        panel.get_by_role("button", name="Generate", exact=True).click()
        expect(page.locator("#lyrics-error")).to_contain_text("sings lyrics")

        panel.get_by_label("Lyrics", exact=True).fill("[verse]\nhello world")
        panel.get_by_label("Steps", exact=True).fill("2")
        with page.expect_request("**/api/v1/generate") as submitted:
            panel.get_by_role("button", name="Generate", exact=True).click()
        sent = submitted.value.post_data_json
        assert (sent["model"], sent["lyrics"], sent["steps"]) == (song, "[verse]\nhello world", 2)
        assert not {"bpm", "key", "time_signature", "vocal_language"} & set(sent)
        expect(page.locator("#job-status")).to_have_attribute("data-state", "succeeded")
        task_id = page.evaluate("() => document.querySelector('#player').dataset.taskId")
        job = studio_server.client(key).get(f"/generate/{task_id}").json()
        assert job["metadata"]["family"] == "minimax_music3"
        assert job["params"]["lyrics"] == "[verse]\nhello world"
    finally:
        context.close()
    assert errors == []
