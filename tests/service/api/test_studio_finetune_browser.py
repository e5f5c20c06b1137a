"""The studio's Fine-tune tab in a real browser (Playwright driving Debian's chromium): choose
audio files with captions, start, watch the loss curve, try the adapter; refusals next to the
control they concern; cancel. Skips where playwright or /usr/bin/chromium is missing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import chromium_browser
from finetune_helpers import clips
from service_helpers import Server, start_server

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium_browser(WAIT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("studio-ft"), model=str(checkpoints["mono"]),
                       max_duration=30.0)  # fmt: skip
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("songs")
    for name, data in clips(folder).items():
        (folder / name).write_bytes(data)
    return sorted(folder.iterdir())


@pytest.fixture
def page(browser, server) -> Iterator[Any]:
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.goto(f"{server.settings.base_url}/")
    page.errors = errors
    yield page
    context.close()
    # the refusals the tests provoke are logged by the browser as failed loads, nothing else
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def open_tab(page: Any, key: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_contain_text("Signed in")
    page.get_by_role("tab", name="Fine-tune").click()
    expect(page.locator("#ft-model option").first).to_be_attached()


def test_train_watch_the_curve_and_try_it(page, server, songs) -> None:
    from playwright.sync_api import expect

    open_tab(page, server.key())
    panel = page.locator("#panel-finetune")
    panel.get_by_role("button", name="Start training").click()
    expect(page.locator("#ft-name-error")).to_have_text("Name the adapter.")
    panel.get_by_label("Adapter name").fill("studio-style")
    panel.get_by_label("Dataset").set_input_files([str(p) for p in songs])
    panel.get_by_label("Steps").fill("3")
    panel.get_by_label("Rank").fill("0")
    panel.get_by_role("button", name="Start training").click()
    expect(page.locator("#ft-rank-error")).to_contain_text("rank must be")
    panel.get_by_label("Rank").fill("4")
    panel.get_by_label("Learning rate").fill("0.01")
    panel.get_by_role("button", name="Start training").click()
    expect(page.locator("#ft-status-text")).to_contain_text("studio-style: succeeded, step 3 of 3")
    points = page.locator("#ft-chart polyline").get_attribute("points") or ""
    assert len(points.split()) == 3, points
    label = re.compile(r"Training loss from \d")
    expect(page.locator("#ft-chart")).to_have_attribute("aria-label", label)
    # "Try it": the Generate form, with this adapter chosen and the prompt filled in
    panel.get_by_label("Try it").fill("funk, in my style")
    panel.get_by_role("button", name="Try it").click()
    expect(page.get_by_role("tab", name="Generate")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#adapter")).to_have_value("studio-style")
    expect(page.locator("#prompt")).to_have_value("funk, in my style")
    page.locator("#duration").fill("1")
    page.locator("#panel-generate").get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator("#player")).to_have_attribute("src", re.compile("/api/v1/audio/"))
    assert _last_generation(server).params.get("adapter") == "studio-style"
    # the history names the finetune by its adapter, and offers no "Reuse" of it
    page.get_by_role("button", name="Refresh").click()
    entry = page.locator("li.job", has_text="Fine-tune of adapter “studio-style”")
    expect(entry).to_be_visible()
    expect(entry.get_by_role("button", name=re.compile("^Use the settings"))).to_have_count(0)


def _last_generation(server: Server) -> Any:
    """The newest generation job (streamed or not): the one made after "Try it"."""
    from sqlalchemy import select

    from music_gen.service.core.infra.db import Job

    with server.state.db.session() as s:
        newest = select(Job).where(Job.type != "finetune").order_by(Job.created_at.desc())
        return s.scalar(newest.limit(1))


def test_cancel_from_the_tab(page, server, songs) -> None:
    from playwright.sync_api import expect

    open_tab(page, server.key())
    panel = page.locator("#panel-finetune")
    panel.get_by_label("Adapter name").fill("studio-long")
    panel.get_by_label("Dataset").set_input_files([str(p) for p in songs])
    panel.get_by_label("Steps").fill("5000")
    panel.get_by_role("button", name="Start training").click()
    expect(page.locator("#ft-status-text")).to_contain_text("running")
    panel.get_by_role("button", name="Cancel").click()
    expect(page.locator("#ft-status-text")).to_contain_text("studio-long: cancelled")
    expect(panel.get_by_role("button", name="Start training")).to_be_enabled()
