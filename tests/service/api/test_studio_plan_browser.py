"""The studio's plan editor and song edits in a real browser (Playwright + Debian's chromium,
one browser for this module): draft a plan, edit and reorder its sections, generate from it
with the composer (the waveform labels its sections), regenerate one section, extend; on the
tiny ACE-Step pipeline (a model with ``edit``), repaint a range dragged across the waveform.

Skips where the ``playwright`` package or ``/usr/bin/chromium`` is missing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from browser_helpers import chromium_browser
from service_helpers import Server, start_server, wait_for

WAIT_MS = 90_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_browser(WAIT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints, song_pipeline) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("studio-plans"),
        model=str(checkpoints["mono"]),
        song_model=str(song_pipeline),
        max_duration=30.0,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(server) -> str:
    return server.key("planner")


@pytest.fixture
def page(browser, server) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    ctx.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.goto(f"{server.settings.base_url}/")
    yield page
    ctx.close()
    assert errors == [], "the page logged errors"


def sign_in(page: Any, key: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_contain_text("Signed in")
    expect(page.locator("#model option").first).to_be_attached()


def names(page: Any) -> list[str]:
    return page.locator("#plan-sections .sec-name").evaluate_all("els => els.map(e => e.value)")


def samples(client: Any, url: str) -> tuple[np.ndarray, int]:
    data, rate = sf.read(io.BytesIO(client.get(url).content), dtype="float32")
    return data, rate


def test_a_plan_is_drafted_edited_reordered_generated_and_a_section_regenerated(page, server, key):
    from playwright.sync_api import expect

    sign_in(page, key)
    page.locator("#model").select_option("composer")
    editor = page.locator("#plan-editor")
    expect(editor).to_be_visible()
    panel = page.locator("#panel-generate")
    panel.get_by_label("Prompt", exact=True).fill("calm jazz piano")
    panel.get_by_label("Duration", exact=True).fill("20")
    panel.get_by_label("Seed", exact=True).fill("3")
    page.get_by_role("button", name="Draft plan").click()
    rows = page.locator("#plan-sections .plan-section")
    expect(rows.first).to_be_visible()
    drafted = names(page)
    assert len(drafted) >= 2
    # edit the first section: its name, length and styles
    first = rows.nth(0)
    first.get_by_label("Name").fill("Opening")
    first.get_by_label("Length (s)").fill("4")
    first.get_by_label("Styles", exact=True).fill("soft piano, brushes")
    # reorder with the keyboard-accessible buttons (focus follows the row) ...
    page.get_by_role("button", name="Move Opening down").click()
    assert names(page)[:2] == [drafted[1], "Opening"]
    expect(page.locator("#plan-live")).to_contain_text("Opening moved to position 2")
    # ... and by dragging a row by its handle onto another
    rows.nth(1).locator(".sec-handle").drag_to(rows.nth(0))
    assert names(page)[:2] == ["Opening", drafted[1]]
    # add a section, then remove it again
    page.get_by_role("button", name="Add section").click()
    assert len(names(page)) == len(drafted) + 1
    page.get_by_role("button", name=f"Remove Section {len(drafted) + 1}").click()
    assert len(names(page)) == len(drafted)
    order = names(page)
    page.get_by_role("button", name="Generate from plan").click()
    expect(page.locator("#plan-status")).to_contain_text("Done", timeout=WAIT_MS)
    # the result: the waveform is labelled with the sections, in the plan's order
    regions = page.locator("#result-regions li")
    expect(regions).to_have_count(len(order))
    assert re.match(r"^Opening: 0\.0–4\.0 s$", regions.nth(0).inner_text())
    canvas = page.locator("#visual")
    expect(canvas).to_have_attribute("data-regions", "|".join(order))
    client = server.client(key)
    task = page.locator("#player").get_attribute("data-task-id")
    made = client.get(f"/generate/{task}").json()
    sections = made["metadata"]["plan"]["sections"]
    assert [s["name"] for s in sections] == order
    assert sections[0]["styles"] == ["soft piano", "brushes"] and sections[0]["end"] == 4.0
    # regenerate the second section: a replace edit of this result, every other sample kept
    second = sections[1]
    page.get_by_role("button", name=f"Regenerate {second['name']}").click()
    expect(page.locator("#result-edit-status")).to_contain_text("Done", timeout=WAIT_MS)
    expect(page.locator("#player")).not_to_have_attribute("data-task-id", task)
    again = client.get(f"/generate/{page.locator('#player').get_attribute('data-task-id')}")
    again = again.json()
    assert again["params"]["rework"] == {"task": "replace", "section": 1, "added": None}
    (before, rate), (after, _) = (
        samples(client, made["audio_url"]),
        samples(client, again["audio_url"]),
    )
    a, b = round(second["start"] * rate), round(second["end"] * rate)
    np.testing.assert_array_equal(after[:a], before[:a])
    np.testing.assert_array_equal(after[b:], before[b:])
    expect(page.locator("#result-regions li")).to_have_count(len(order))
    # extend the result by 4 s
    page.get_by_label("Extend by").fill("4")
    page.get_by_role("button", name="Extend").click()
    expect(page.locator("#player")).not_to_have_attribute("data-task-id", again["task_id"])
    extended = client.get(f"/generate/{page.locator('#player').get_attribute('data-task-id')}")
    assert extended.json()["duration"] == pytest.approx(again["duration"] + 4.0, abs=1e-3)


def test_a_range_dragged_across_a_songs_waveform_is_repainted(page, server, key):
    from playwright.sync_api import expect

    client = server.client(key)
    models = client.get("/models").json()["models"]
    song = next(m["id"] for m in models if "edit" in m["capabilities"])
    body = {"prompt": "pop", "model": song, "duration": 4, "lyrics": "[verse]\nla la",
            "steps": 2, "seed": 1}  # fmt: skip
    r = client.post("/generate", json=body)
    source = wait_for(client, r.json()["task_id"], timeout=300)
    assert source["status"] == "succeeded", source
    sign_in(page, key)
    row = page.locator(f'#history-list li[data-task-id="{source["task_id"]}"]')
    row.get_by_role("button", name="Play").click()
    edit = page.locator("#result-edit")
    expect(edit).to_be_visible()
    expect(page.locator("#visual")).to_have_attribute("aria-valuemax", "4.00")
    page.locator("#visual").scroll_into_view_if_needed()
    box = page.locator("#visual").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=5)
    page.mouse.up()
    start = float(page.get_by_label("From (s)").input_value())
    end = float(page.get_by_label("To (s)").input_value())
    assert start == pytest.approx(1.0, abs=0.1) and end == pytest.approx(3.0, abs=0.1)
    expect(edit.get_by_label("Edit task")).to_have_value("repaint")
    edit.get_by_label("Edit prompt").fill("dark strings")
    edit.get_by_role("button", name="Apply edit").click()
    expect(page.locator("#edit-status")).to_contain_text("Done", timeout=300_000)
    task = page.locator("#player").get_attribute("data-task-id")
    assert task != source["task_id"]
    done = client.get(f"/generate/{task}").json()
    assert done["type"] == "edit" and done["params"]["task"] == "repaint"
    assert done["params"]["start"] == start and done["params"]["end"] == end
    # the other tasks show their own controls: a cover's strength, a stem's track
    edit.get_by_label("Edit task").select_option("cover")
    expect(edit.get_by_label("Strength")).to_be_visible()
    expect(edit.get_by_label("From (s)")).to_be_hidden()
    edit.get_by_label("Edit task").select_option("extract")
    expect(edit.get_by_label("Track")).to_be_visible()
    expect(edit.get_by_label("Edit prompt")).to_be_hidden()


def test_a_plan_jobs_progress_names_its_section_in_the_studio(page, key, monkeypatch):
    """While a plan runs, the studio says which section it is making (the job's
    progress_detail): the second section is held until the page has shown it."""
    import threading

    from playwright.sync_api import expect

    from music_gen.families.composer import ComposerFamily

    made, gate = ComposerFamily._generate_plan, threading.Event()

    def held(self, plan, seed, params, progress, cancelled):
        seen = []

        def report(done, total):
            progress(done, total)
            if seen[-1]["name"] == "Held":
                gate.wait(60)

        def detail(d):
            seen.append(d)
            progress.detail(d)

        report.detail = detail
        return made(self, plan, seed, params, report, cancelled)

    monkeypatch.setattr(ComposerFamily, "_generate_plan", held)
    sign_in(page, key)
    page.locator("#model").select_option("composer")
    for name in ("Intro", "Held"):
        page.get_by_role("button", name="Add section").click()
        row = page.locator("#plan-sections .plan-section").last
        row.get_by_label("Name").fill(name)
        row.get_by_label("Length (s)").fill("3")
    page.get_by_role("button", name="Generate from plan").click()
    try:
        expect(page.locator("#plan-status")).to_contain_text("Making section 2 of 2 (Held)")
    finally:
        gate.set()
    expect(page.locator("#plan-status")).to_contain_text("Done")
    expect(page.locator("#result-regions li")).to_have_count(2)
