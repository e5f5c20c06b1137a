"""The studio's adapter select in a real browser (Playwright, Debian's chromium; one browser
for this module): it lists the adapters trained for the chosen model, hides for models
without the ``adapter`` capability, and a generation through the form uses the chosen one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import chromium_browser
from service_helpers import Server, start_server, wait_for
from test_studio_browser import DESKTOP, WAIT_MS, Console, js, sign_in

import music_gen
from music_gen import MusicGenerator


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_browser(WAIT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints) -> Iterator[Server]:
    """Mono MusicGen with a shared adapter ``house`` trained on it (and the composer, which
    takes no adapter)."""
    mono = str(checkpoints["mono"])
    data = tmp_path_factory.mktemp("studio-adapter-data")
    for i, prompt in enumerate(["funk groove with slap bass", "jazz trio"]):
        MusicGenerator("composer").generate(prompt, duration=2.0, seed=i).save(data / f"c{i}.wav")
        (data / f"c{i}.txt").write_text(prompt)
    srv = start_server(tmp_path_factory.mktemp("studio-adapters"), model=mono, max_duration=30.0)
    try:
        settings = dict(
            steps=4, rank=4, batch_size=2, window_seconds=1.0, min_seconds=0.5, device="cpu"
        )
        music_gen.train(mono, data, srv.state.adapter_store.root / "house", **settings)
        yield srv
    finally:
        srv.stop()


def test_the_adapter_select_lists_the_models_adapters_and_generates_with_one(
    browser, server, checkpoints
):
    from playwright.sync_api import expect

    key = server.key("studio-adapters")
    console = Console()
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(WAIT_MS)
    ctx.on("page", console.watch)
    try:
        page = ctx.new_page()
        page.goto(f"{server.settings.base_url}/")
        sign_in(page, key)
        panel = page.locator("#panel-generate")
        select = panel.get_by_label("LoRA adapter")
        expect(select.locator("option")).to_have_text(["None", "house (shared)"])
        strength = panel.get_by_label("Strength")
        expect(strength).to_be_disabled()
        # the composer takes no adapter: the fieldset hides
        panel.get_by_label("Model").select_option("composer")
        expect(select).to_be_hidden()
        panel.get_by_label("Model").select_option(str(checkpoints["mono"]))
        expect(select).to_be_visible()
        select.select_option("house")
        expect(strength).to_be_enabled()
        strength.fill("0.5")
        panel.get_by_label("Prompt", exact=True).fill("funk groove")
        panel.get_by_label("Duration", exact=True).fill("0.5")
        panel.get_by_label("Seed", exact=True).fill("3")
        panel.get_by_label("Play while it is generated (stream)").uncheck()
        panel.get_by_role("button", name="Generate", exact=True).click()
        expect(page.locator("#job-status")).to_have_attribute(
            "data-state", "succeeded", timeout=90_000
        )
        task_id = js(page, "document.querySelector('#player').dataset.taskId")
        job = wait_for(server.client(key), task_id)
        assert (job["params"]["adapter"], job["params"]["adapter_scale"]) == ("house", 0.5)
        assert job["metadata"]["adapter"] == {"adapter": "house", "adapter_scale": 0.5}
    finally:
        ctx.close()
    assert console.unexpected() == [], "the page logged errors"
