"""The studio with Stable Audio 3 (headless chromium): choosing it shows the fields it takes
(guidance and the negative prompt's "Avoid" input) and hides those it lacks (sampling, lyrics),
and a clip made from the page reaches the API with its guidance and negative prompt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import chromium_browser
from service_helpers import Server, start_server

WAIT_MS = 90_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    yield from chromium_browser(WAIT_MS)


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory, sa3_pipeline) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("studio-t2a"), model="composer",
                       models=[str(sa3_pipeline)], max_duration=30.0)  # fmt: skip
    yield srv
    srv.stop()


def test_the_studio_sends_guidance_and_a_negative_prompt(chromium, studio_server, sa3_pipeline):
    from playwright.sync_api import expect

    key = studio_server.key("studio-t2a")
    model = str(sa3_pipeline)
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
        avoid = panel.get_by_label("Avoid", exact=True)
        expect(avoid).to_be_hidden()  # the composer takes no negative prompt
        panel.get_by_label("Model", exact=True).select_option(model)
        for label in ("Avoid", "Guidance"):
            expect(panel.get_by_label(label, exact=True)).to_be_visible()
        for label in ("Lyrics", "Temperature"):
            expect(panel.get_by_label(label, exact=True)).to_be_hidden()
        panel.get_by_label("Prompt", exact=True).fill("warm analog pads")
        panel.get_by_label("Duration", exact=True).fill("0.5")
        panel.get_by_label("Guidance", exact=True).fill("3")
        avoid.fill("vocals")
        with page.expect_request("**/api/v1/generate") as submitted:
            panel.get_by_role("button", name="Generate", exact=True).click()
        sent = submitted.value.post_data_json
        assert (sent["model"], sent["guidance_scale"], sent["negative_prompt"]) == (
            model, 3, "vocals")  # fmt: skip
        assert not {"temperature", "top_k", "top_p", "lyrics"} & set(sent)
        expect(page.locator("#job-status")).to_have_attribute("data-state", "succeeded")
        task_id = page.evaluate("() => document.querySelector('#player').dataset.taskId")
        job = studio_server.client(key).get(f"/generate/{task_id}").json()
        assert job["metadata"]["family"] == "diffusers_audio"
        assert job["params"]["negative_prompt"] == "vocals"
    finally:
        context.close()
    assert errors == []
