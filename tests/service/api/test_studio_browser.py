"""The web studio in a real browser: Playwright driving Debian's ``chromium`` against a real
server (uvicorn on loopback) with a tiny MusicGen checkpoint.

Skips, with the reason, where the ``playwright`` package or ``/usr/bin/chromium`` is missing
(``.ci/run`` installs chromium with apt when it runs as root). Playwright's own browser download
is never used. Every test fails if the page logged a console error or threw, except the
"Failed to load resource" lines of API errors a test provokes on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import chromium_browser
from service_helpers import Server, start_server, wait_for, wait_until

WAIT_MS = 60_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for all the browser tests (they all live in this module, so this
    is one browser per test session). Not session-scoped: while Playwright's sync API is open it
    holds the thread's event loop, and ``asyncio.run`` in later test modules would fail."""
    yield from chromium_browser(WAIT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("studio"),
        model=str(checkpoints["mono"]),
        models=[str(checkpoints["melody"])],  # melody uploads
        max_duration=30.0,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(server) -> str:
    return server.key("studio")


class Console:
    """Console errors and uncaught exceptions of a browser context's pages."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def watch(self, page: Any) -> Any:
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        return page

    def allow_api_error(self, status: int) -> None:
        """The browser logs failed API calls: one a test provokes is not a page error."""
        self.allowed.append(re.compile(rf"^Failed to load resource: .*status of {status}\b"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> Iterator[Console]:
    watcher = Console()
    yield watcher
    assert watcher.unexpected() == [], "the page logged errors"


@pytest.fixture
def context(browser, console) -> Iterator[Any]:
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(WAIT_MS)
    ctx.on("page", console.watch)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, server) -> Any:
    page = context.new_page()
    page.goto(f"{server.settings.base_url}/")
    return page


def sign_in(page: Any, key: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_contain_text("Signed in")
    expect(page.locator("#model option").first).to_be_attached()


def js(page: Any, expression: str) -> Any:
    """Evaluate in the page (the page's CSP forbids string eval, so no wait_for_function)."""
    return page.evaluate(f"() => ({expression})")


def poll(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    return wait_until(check, timeout, what)


def audio_duration(page: Any, selector: str) -> float:
    """The duration of an <audio> element once its metadata has loaded."""
    expression = f"(d => Number.isFinite(d) ? d : 0)(document.querySelector('{selector}').duration)"
    return float(poll(lambda: js(page, expression), 60, f"metadata of {selector}"))


def canvas_colours(page: Any) -> int:
    """How many different colours the result's canvas shows (sampled)."""
    return int(
        js(
            page,
            "(() => { const c = document.querySelector('#visual');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " const seen = new Set(); for (let i = 0; i < d.length; i += 4 * 97)"
            " seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); return seen.size; })()",
        )
    )


def generate_panel(page: Any) -> Any:
    return page.locator("#panel-generate")


# ------------------------------------------------------------------------------ sign-in


def test_sign_in_wrong_key_right_key_and_sign_out(page, server, key, console):
    from playwright.sync_api import expect

    console.allow_api_error(401)
    page.get_by_role("button", name="Sign in").click()  # no key: this server needs one
    expect(page.locator("#api-key-error")).to_contain_text("needs an API key")
    page.get_by_label("API key").fill("mgk_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    message = server.client("mgk_not-a-key").get("/models").json()["error"]["message"]
    expect(page.locator("#api-key-error")).to_contain_text(message)
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    assert js(page, "document.querySelector('main').inert") is True

    sign_in(page, key)
    expect(generate_panel(page).get_by_label("Prompt", exact=True)).to_be_focused()
    names = page.locator("#model option").all_inner_texts()
    assert any("mono" in n and "default" in n for n in names), names
    assert js(page, "localStorage.getItem('music-gen.api-key')") == key
    assert js(page, "document.querySelector('main').inert") is False

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert js(page, "localStorage.getItem('music-gen.api-key')") is None


def test_a_revoked_key_is_signed_out(page, server, console):
    from playwright.sync_api import expect

    from music_gen.service.core.infra.auth import KeyStore

    console.allow_api_error(401)
    store = KeyStore(server.state.db)
    for name in ("revoked-meanwhile", "revoked-before-reload"):
        revoked = server.key(name)
        sign_in(page, revoked)
        assert store.revoke(next(k.id for k, _ in store.list_keys() if k.name == name))
        if name == "revoked-meanwhile":  # the next call made from the page is refused
            page.get_by_role("button", name="Refresh").click()
        else:  # the stored key is refused on the next visit
            page.reload()
        expect(page.locator("#api-key-error")).to_contain_text("revoked")
        expect(page.get_by_label("API key")).to_be_visible()
        assert js(page, "localStorage.getItem('music-gen.api-key')") is None


def test_a_server_without_keys_signs_in_with_an_empty_key(context, tmp_path, checkpoints):
    from playwright.sync_api import expect

    srv = start_server(tmp_path, model=str(checkpoints["mono"]), auth=False)
    try:
        page = context.new_page()
        page.goto(f"{srv.settings.base_url}/")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#whoami")).to_contain_text("needs no key")
        expect(page.locator("#model option").first).to_be_attached()
    finally:
        srv.stop()


# ------------------------------------------------------------------------------ generate

DURATION = 1.0


@pytest.fixture(scope="module")
def studio(browser, server, key) -> Iterator[dict[str, Any]]:
    """A signed-in page that generated one piece through the form (REST, no stream)."""
    from playwright.sync_api import expect

    console = Console()
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(WAIT_MS)
    ctx.on("page", console.watch)
    page = ctx.new_page()
    page.goto(f"{server.settings.base_url}/")
    sign_in(page, key)
    panel = generate_panel(page)
    panel.get_by_label("Prompt", exact=True).fill("calm piano melody")
    panel.get_by_label("Duration", exact=True).fill(str(DURATION))
    panel.get_by_label("Seed", exact=True).fill("1234")
    panel.get_by_label("Play while it is generated (stream)").uncheck()
    panel.get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator("#job-status")).to_have_attribute("data-state", "succeeded", timeout=90_000)
    task_id = js(page, "document.querySelector('#player').dataset.taskId")
    yield {"page": page, "context": ctx, "console": console, "task_id": task_id}
    ctx.close()
    assert console.unexpected() == [], "the page logged errors"


def test_generate_audio_duration_equals_the_request(studio, server, key):
    page = studio["page"]
    duration = audio_duration(page, "#player")
    assert duration == pytest.approx(DURATION, abs=0.01)
    job = server.client(key).get(f"/generate/{studio['task_id']}").json()
    assert job["status"] == "succeeded" and job["seed"] == 1234
    # the seed and every parameter are shown
    shown = page.locator("#params").inner_text()
    assert "1234" in shown and "temperature" in shown and "top_k" in shown
    # the waveform was drawn from the decoded audio: not a blank canvas
    assert canvas_colours(page) > 2


def test_it_plays_muted_and_the_waveform_seeks(studio):
    page = studio["page"]
    js(page, "(p => { p.muted = true; return p.play(); })(document.querySelector('#player'))")
    poll(lambda: js(page, "document.querySelector('#player').currentTime") > 0.1, 60, "playback")
    js(page, "document.querySelector('#player').pause()")
    # a click at 3/4 of the waveform seeks to 3/4 of the piece (scrolled into view first: the
    # form above it may push it below the fold)
    page.locator("#visual").scroll_into_view_if_needed()
    box = page.locator("#visual").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    at = js(page, "document.querySelector('#player').currentTime")
    assert at == pytest.approx(0.75 * DURATION, abs=0.05)
    # and the keyboard: Home goes back to the start
    page.locator("#visual").focus()
    page.keyboard.press("Home")
    assert js(page, "document.querySelector('#player').currentTime") == 0
    # the spectrogram view: a heat map of many colours where the waveform has a few
    waveform = canvas_colours(page)
    page.get_by_label("Spectrogram", exact=True).check()
    assert canvas_colours(page) > max(20, 3 * waveform)
    page.get_by_label("Waveform", exact=True).check()
    assert canvas_colours(page) == waveform


MAGIC = {
    "WAV": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "MP3": lambda b: b[:3] == b"ID3" or (b[0] == 0xFF and b[1] & 0xE0 == 0xE0),
    "FLAC": lambda b: b[:4] == b"fLaC",
}


@pytest.mark.parametrize("fmt", list(MAGIC))
def test_download_returns_the_format(studio, fmt):
    page = studio["page"]
    with page.expect_download() as info:
        page.locator("#downloads").get_by_role("link", name=fmt, exact=True).click()
    download = info.value
    assert download.suggested_filename == f"{studio['task_id']}.{fmt.lower()}"
    data = Path(download.path()).read_bytes()
    assert MAGIC[fmt](data), data[:16]


def test_history_shows_the_job_after_a_reload(studio, server, key):
    from playwright.sync_api import expect

    # a new tab of the same browser: the key is remembered, the job is listed by the server
    page = studio["context"].new_page()
    page.goto(f"{server.settings.base_url}/")
    expect(page.locator("#whoami")).to_contain_text("Signed in")
    row = page.locator(f'#history-list li[data-task-id="{studio["task_id"]}"]')
    expect(row).to_contain_text("calm piano melody")
    expect(row).to_contain_text("succeeded")
    # filtered by status: gone for "failed", back for "succeeded"
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(row).to_have_count(0)
    page.get_by_label("Status", exact=True).select_option("succeeded")
    expect(row).to_have_count(1)
    # play from the history: the result panel shows that job
    row.get_by_role("button", name="Play").click()
    expect(page.locator("#player")).to_have_attribute("data-task-id", studio["task_id"])

    # delete from the history: asked first (declined: nothing happens), then gone for good
    client = server.client(key)
    extra = client.post("/generate", json={"prompt": "short-lived tune", "duration": 0.3})
    extra = wait_for(client, extra.json()["task_id"])
    page.get_by_role("button", name="Refresh").click()
    doomed = page.locator(f'#history-list li[data-task-id="{extra["task_id"]}"]')
    doomed.get_by_role("button", name="Play").click()
    expect(page.locator("#player")).to_have_attribute("data-task-id", extra["task_id"])
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    doomed.get_by_role("button", name="Delete").click()
    poll(lambda: asked, 30, "the confirmation")
    assert "short-lived tune" in asked[0] and "cannot be undone" in asked[0]
    expect(doomed).to_have_count(1)
    assert client.get(f"/generate/{extra['task_id']}").status_code == 200
    page.once("dialog", lambda d: d.accept())
    doomed.get_by_role("button", name="Delete").click()
    expect(doomed).to_have_count(0)
    expect(page.locator("#history-title")).to_be_focused()
    expect(page.locator("#result")).to_be_hidden()  # the deleted job's result went with it
    assert client.get(f"/generate/{extra['task_id']}").status_code == 404
    assert client.get(extra["audio_url"]).status_code == 404
    expect(row).to_have_count(1)  # the other job stays
    page.close()


def test_the_page_works_under_another_host_name(studio, server, key):
    """Audio URLs name the server's configured address (127.0.0.1 here); opened as
    ``localhost``, the page reads the same audio from its own origin: the waveform decodes
    (no cross-origin fetch, which the page's CSP would refuse) and downloads still download."""
    from playwright.sync_api import expect

    base = server.settings.base_url
    assert base.startswith("http://127.0.0.1:")
    page = studio["context"].new_page()
    page.goto(base.replace("127.0.0.1", "localhost") + "/")
    sign_in(page, key)  # storage is per origin: a new sign-in
    row = page.locator(f'#history-list li[data-task-id="{studio["task_id"]}"]')
    row.get_by_role("button", name="Play").click()
    expect(page.locator("#player")).to_have_attribute("src", re.compile(r"^http://localhost:"))
    poll(lambda: canvas_colours(page) > 2, 60, "the waveform")
    with page.expect_download() as info:
        page.locator("#downloads").get_by_role("link", name="FLAC", exact=True).click()
    assert MAGIC["FLAC"](Path(info.value.path()).read_bytes())
    page.close()


def test_history_pages(page, server, key):
    from playwright.sync_api import expect

    other = server.key("pager", account="pager")  # an account of its own: a known job count
    client = server.client(other)
    for i in range(9):
        task = client.post("/generate", json={"prompt": f"tune {i}", "duration": 0.2}).json()
        client.delete(f"/generate/{task['task_id']}")  # cancelled: listed, nothing to wait for
    sign_in(page, other)
    expect(page.locator("#history-range")).to_have_text("1–8 of 9")
    expect(page.locator("#history-list li.job")).to_have_count(8)
    page.get_by_role("button", name="Older").click()
    expect(page.locator("#history-range")).to_have_text("9–9 of 9")
    expect(page.locator("#history-list li.job")).to_contain_text("tune 0")
    assert page.get_by_role("button", name="Older").is_disabled()
    page.get_by_role("button", name="Newer").click()
    expect(page.locator("#history-list li.job").first).to_contain_text("tune 8")


def test_cancel_stops_a_running_job(page, server, key):
    """While the worker is busy the job shows its place in the queue; then it runs, and
    Cancel stops it."""
    from playwright.sync_api import expect

    # another account fills every slot of the worker with long jobs
    blocker = server.client(server.key("blocker", account="blocker"))
    blocking = [
        blocker.post("/generate", json={"prompt": f"busy {i}", "duration": 25}).json()["task_id"]
        for i in range(server.settings.max_batch)
    ]

    def busy() -> bool:
        return all(blocker.get(f"/generate/{t}").json()["status"] == "running" for t in blocking)

    poll(busy, 60, "a busy worker")
    sign_in(page, key)
    panel = generate_panel(page)
    panel.get_by_label("Prompt", exact=True).fill("a long piece to cancel")
    panel.get_by_label("Duration", exact=True).fill("25")
    panel.get_by_label("Play while it is generated (stream)").uncheck()
    panel.get_by_role("button", name="Generate", exact=True).click()
    cancel = panel.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    status = page.locator("#job-status")
    expect(status).to_have_attribute("data-state", "queued")
    expect(page.locator("#job-status-text")).to_have_text("Queued: 1st in the queue…")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#history-list li.job").first).to_contain_text("1st in the queue")
    for task_id in blocking:
        blocker.delete(f"/generate/{task_id}")
    expect(status).to_have_attribute("data-state", "running")
    cancel.click()
    expect(status).to_have_attribute("data-state", "cancelled")
    expect(cancel).to_be_hidden()
    expect(panel.get_by_role("button", name="Generate", exact=True)).to_be_enabled()
    row = page.locator("#history-list li.job").first
    expect(row).to_contain_text("a long piece to cancel")
    expect(row).to_have_attribute("data-status", "cancelled")
    task_id = row.get_attribute("data-task-id")
    assert server.client(key).get(f"/generate/{task_id}").json()["status"] == "cancelled"


# ------------------------------------------------------------------------------ errors


def test_an_empty_prompt_shows_the_api_message_next_to_the_prompt(page, server, key, console):
    from playwright.sync_api import expect

    console.allow_api_error(422)
    sign_in(page, key)
    api = server.client(key).post("/generate", json={"prompt": "", "duration": 1}).json()
    panel = generate_panel(page)
    panel.get_by_label("Play while it is generated (stream)").uncheck()
    panel.get_by_label("Prompt", exact=True).fill("")
    panel.get_by_label("Prompt", exact=True).press("Control+Enter")  # the keyboard shortcut
    expect(page.locator("#prompt-error")).to_have_text(api["error"]["message"])
    expect(panel.get_by_label("Prompt", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_label("Prompt", exact=True)).to_be_focused()


def test_a_bad_duration_shows_the_api_message_next_to_the_duration(page, server, key, console):
    from playwright.sync_api import expect

    console.allow_api_error(422)
    sign_in(page, key)
    api = server.client(key).post("/generate", json={"prompt": "x", "duration": 999}).json()
    panel = generate_panel(page)
    panel.get_by_label("Play while it is generated (stream)").uncheck()
    panel.get_by_label("Prompt", exact=True).fill("x")
    panel.get_by_label("Duration", exact=True).fill("999")
    panel.get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator("#duration-error")).to_have_text(api["error"]["message"])
    expect(page.locator("#prompt-error")).to_have_text("")


# ------------------------------------------------------------------------------ capabilities


def test_controls_follow_the_models_capabilities(page, server, key, reference_wav):
    from playwright.sync_api import expect

    sign_in(page, key)
    panel = generate_panel(page)
    models = {m["id"]: m for m in server.client(key).get("/models").json()["models"]}
    musicgen = str(server.settings.model)  # text-only MusicGen: continuation, no melody
    melody = next(i for i, m in models.items() if "melody" in m["capabilities"])
    panel.get_by_label("Model", exact=True).select_option(musicgen)
    expect(panel.get_by_label("Temperature", exact=True)).to_be_visible()
    expect(panel.get_by_label("Top-k", exact=True)).to_be_visible()
    expect(panel.get_by_label("Lyrics", exact=True)).to_be_hidden()
    expect(panel.get_by_label("BPM", exact=True)).to_be_hidden()
    expect(panel.get_by_label("Play while it is generated (stream)")).to_be_visible()
    expect(panel.get_by_label("Melody", exact=True)).to_be_hidden()
    expect(panel.get_by_label("Continue from", exact=True)).to_be_visible()
    panel.get_by_label("Model", exact=True).select_option("composer")
    expect(panel.get_by_label("Temperature", exact=True)).to_be_hidden()
    expect(panel.get_by_label("Lyrics", exact=True)).to_be_hidden()
    expect(panel.get_by_label("Melody", exact=True)).to_be_hidden()
    expect(panel.get_by_label("Continue from", exact=True)).to_be_hidden()

    # a melody checkpoint takes a melody: uploaded first, named in the request, followed
    panel.get_by_label("Model", exact=True).select_option(melody)
    expect(panel.get_by_label("Melody", exact=True)).to_be_visible()
    panel.get_by_label("Prompt", exact=True).fill("a tune on a hummed melody")
    panel.get_by_label("Duration", exact=True).fill("0.5")
    panel.get_by_label("Melody", exact=True).set_input_files(reference_wav)
    stream = panel.get_by_label("Play while it is generated (stream)")
    if stream.is_visible():
        stream.uncheck()
    with (
        page.expect_response("**/api/v1/uploads") as uploaded,
        page.expect_request("**/api/v1/generate") as submitted,
    ):
        panel.get_by_role("button", name="Generate", exact=True).click()
    upload_id = uploaded.value.json()["upload_id"]
    assert submitted.value.post_data_json["melody_upload_id"] == upload_id
    expect(page.locator("#job-status")).to_have_attribute("data-state", "succeeded")
    assert audio_duration(page, "#player") == pytest.approx(0.5, abs=0.01)
    task_id = js(page, "document.querySelector('#player').dataset.taskId")
    job = server.client(key).get(f"/generate/{task_id}").json()
    assert (job["model"], job["params"]["melody"]) == (melody, upload_id)
    expect(page.locator("#params")).to_contain_text(upload_id)  # not a server path


@pytest.fixture(scope="module")
def song_server(tmp_path_factory, checkpoints, song_pipeline) -> Iterator[Server]:
    """A server offering a MusicGen checkpoint and a tiny ACE-Step song pipeline."""
    srv = start_server(
        tmp_path_factory.mktemp("studio-songs"),
        model=str(checkpoints["mono"]),
        models=[str(song_pipeline)],
        max_duration=30.0,
    )
    yield srv
    srv.stop()


SONG_CONTROLS = ["Lyrics", "BPM", "Key", "Time signature", "Language"]


@pytest.fixture(scope="module")
def reference_wav(tmp_path_factory) -> Path:
    import numpy as np
    import soundfile as sf

    path = tmp_path_factory.mktemp("reference") / "hum.wav"
    t = np.arange(48000 * 2) / 48000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 48000)
    return path


def test_song_only_controls_appear_only_for_a_lyrics_capable_model(
    context, song_server, reference_wav
):
    from playwright.sync_api import expect

    key = song_server.key("songs")
    models = song_server.client(key).get("/models").json()["models"]
    song = next((m for m in models if "lyrics" in m["capabilities"]), None)
    if song is None:
        pytest.skip("GET /models reports no lyrics-capable model here yet")
    musicgen = next(m for m in models if m["id"] == str(song_server.settings.model))
    page = context.new_page()
    page.goto(f"{song_server.settings.base_url}/")
    sign_in(page, key)
    panel = generate_panel(page)

    panel.get_by_label("Model", exact=True).select_option(song["id"])
    for label in SONG_CONTROLS:
        expect(panel.get_by_label(label, exact=True)).to_be_visible()
    if "sampling" not in song["capabilities"]:
        expect(panel.get_by_label("Temperature", exact=True)).to_be_hidden()
    # ACE-Step makes instrumentals: its hint says empty lyrics are one
    expect(page.locator("#lyrics-help")).to_contain_text("leave it empty for an instrumental")
    expect(panel.get_by_role("button", name="[instrumental]")).to_be_visible()
    # the lyrics editor's section buttons put a tag on a line of its own
    lyrics = panel.get_by_label("Lyrics", exact=True)
    lyrics.fill("la la")
    panel.get_by_role("button", name="[chorus]").click()
    assert lyrics.input_value() == "la la\n[chorus]\n"

    # and the song's fields reach the API: a song of the requested length
    panel.get_by_label("Prompt", exact=True).fill("a tiny folk song")
    panel.get_by_label("Duration", exact=True).fill("2")
    panel.get_by_label("BPM", exact=True).fill("96")
    panel.get_by_label("Key", exact=True).select_option("A minor")
    panel.get_by_label("Time signature", exact=True).select_option(label="3/4")
    panel.get_by_label("Language", exact=True).select_option("en")
    panel.get_by_label("Steps", exact=True).fill("2")
    panel.get_by_label("Reference audio", exact=True).set_input_files(reference_wav)
    stream = panel.get_by_label("Play while it is generated (stream)")
    if stream.is_visible():
        stream.uncheck()
    with (
        page.expect_response("**/api/v1/uploads") as uploaded,
        page.expect_request("**/api/v1/generate") as submitted,
    ):
        panel.get_by_role("button", name="Generate", exact=True).click()
    # the reference went to POST /uploads first, and the request names it
    upload_id = uploaded.value.json()["upload_id"]
    assert submitted.value.post_data_json["reference_upload_id"] == upload_id
    with page.expect_response(f"**/api/v1/uploads/{upload_id}", timeout=90_000) as deleted:
        expect(page.locator("#job-status")).to_have_attribute(
            "data-state", "succeeded", timeout=90_000
        )
    # and is deleted once the job has ended
    assert (deleted.value.request.method, deleted.value.status) == ("DELETE", 204)
    assert audio_duration(page, "#player") == pytest.approx(2.0, abs=0.01)
    task_id = js(page, "document.querySelector('#player').dataset.taskId")
    params = song_server.client(key).get(f"/generate/{task_id}").json()["params"]
    assert params["lyrics"] == "la la\n[chorus]" and params["steps"] == 2
    assert (params["bpm"], params["key"], params["vocal_language"]) == (96, "A minor", "en")
    assert params["time_signature"] == "3"
    # "use these settings again" puts the song's fields back
    page.get_by_label("Lyrics", exact=True).fill("")
    page.get_by_role("button", name="Use these settings again").click()
    expect(lyrics).to_have_value("la la\n[chorus]")
    expect(panel.get_by_label("Time signature", exact=True)).to_have_value("3")
    expect(panel.get_by_label("Language", exact=True)).to_have_value("en")
    # multi-instrument offers the models that make arrangements, not the song model
    offered = page.locator("#multi-model option").evaluate_all("os => os.map(o => o.value)")
    assert "composer" in offered and song["id"] not in offered

    panel.get_by_label("Model", exact=True).select_option(musicgen["id"])
    for label in SONG_CONTROLS:
        expect(panel.get_by_label(label, exact=True)).to_be_hidden()
    expect(panel.get_by_label("Temperature", exact=True)).to_be_visible()


# ------------------------------------------------------------------------------ streaming


def test_stream_playback_starts_before_the_job_completes(page, server, key):
    """The WebSocket's ``complete`` message is held back until the page plays: playback can
    only have come from the chunks."""
    from playwright.sync_api import expect

    held: list[str] = []
    routed: dict[str, Any] = {}

    def route(ws: Any) -> None:
        routed["page_side"] = ws
        upstream = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and '"type":"complete"' in message.replace(" ", ""):
                held.append(message)
                return
            ws.send(message)

        upstream.on_message(from_server)

    page.route_web_socket(re.compile(r".*/ws/stream.*"), route)
    sign_in(page, key)
    page.evaluate("() => { document.querySelector('#player').muted = true; }")
    panel = generate_panel(page)
    panel.get_by_label("Prompt", exact=True).fill("streamed synth arpeggio")
    panel.get_by_label("Duration", exact=True).fill("1.5")
    panel.get_by_label("Play while it is generated (stream)").check()
    panel.get_by_role("button", name="Generate", exact=True).click()

    status = page.locator("#job-status")
    expect(status).to_have_attribute("data-stream", "playing", timeout=90_000)
    assert status.get_attribute("data-complete-at-start") == "false"
    assert status.get_attribute("data-audio-context") == "running"  # audible, not suspended
    assert js(page, "document.querySelector('#player').getAttribute('src')") is None
    # the job completes on the server; the page hears of it only now
    # (waiting in the page lets Playwright run the route's handler)
    poll(lambda: page.wait_for_timeout(50) or held, 90, "the job's completion")
    for message in held:
        routed["page_side"].send(message)
    expect(status).to_have_attribute("data-state", "succeeded")
    duration = audio_duration(page, "#player")
    assert duration == pytest.approx(1.5, abs=0.01)
    task_id = js(page, "document.querySelector('#player').dataset.taskId")
    assert wait_for(server.client(key), task_id)["type"] == "stream"


def test_a_dropped_stream_is_followed_to_its_result(page, server, key):
    """The page's side of the socket drops after the first chunk (the server's stays open, so
    the job goes on): the page follows the job over REST and shows its result."""
    from playwright.sync_api import expect

    def route(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            ws.send(message)
            if isinstance(message, str) and '"audio_chunk"' in message:
                ws.close(code=1011, reason="gone")

        upstream.on_message(from_server)

    page.route_web_socket(re.compile(r".*/ws/stream.*"), route)
    sign_in(page, key)
    page.evaluate("() => { document.querySelector('#player').muted = true; }")
    panel = generate_panel(page)
    panel.get_by_label("Prompt", exact=True).fill("a stream that drops")
    panel.get_by_label("Duration", exact=True).fill("1.5")
    panel.get_by_label("Play while it is generated (stream)").check()
    panel.get_by_role("button", name="Generate", exact=True).click()
    status = page.locator("#job-status")
    expect(status).to_have_attribute("data-state", "succeeded", timeout=90_000)
    assert audio_duration(page, "#player") == pytest.approx(1.5, abs=0.01)


# ------------------------------------------------------------------------------ multi-instrument


def test_multi_instrument_stems_mute_solo_and_midi(page, key):
    from playwright.sync_api import expect

    sign_in(page, key)
    page.get_by_role("tab", name="Multi-instrument").click()
    panel = page.locator("#panel-multi")
    panel.get_by_label("Duration", exact=True).fill("3")
    panel.get_by_label("Mix preset", exact=True).select_option("lofi")
    panel.get_by_role("button", name="Generate stems").click()
    stems = page.locator("#stems li")
    expect(stems).to_have_count(3, timeout=60_000)
    assert sorted(stems.evaluate_all("els => els.map(e => e.dataset.stem)")) == [
        "bass",
        "drums",
        "piano",
    ]
    mute = page.get_by_role("button", name="Mute drums")
    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "true")
    solo = page.get_by_role("button", name="Solo bass")
    solo.click()
    expect(solo).to_have_attribute("aria-pressed", "true")
    with page.expect_download() as info:
        page.locator("#mix-downloads").get_by_role("link", name="MIDI").click()
    assert Path(info.value.path()).read_bytes()[:4] == b"MThd"
    duration = audio_duration(page, "#mix-audio")
    assert duration == pytest.approx(3.0, abs=0.01)
    expect(page.locator("#history-list li.job").first).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#history-list li.job").first).to_contain_text("multitrack")


# ------------------------------------------------------------------------------ layout


def test_no_console_errors_across_the_page(page, key, console):
    """Signed out, signed in, every model, both tabs, both views: nothing in the console."""
    from playwright.sync_api import expect

    sign_in(page, key)
    panel = generate_panel(page)
    for option in page.locator("#model option").all():
        panel.get_by_label("Model", exact=True).select_option(option.get_attribute("value"))
    page.get_by_role("tab", name="Multi-instrument").click()
    expect(page.locator("#panel-multi")).to_be_visible()
    page.get_by_role("button", name="Add instrument").click()
    page.get_by_role("tab", name="Generate").click()
    page.get_by_role("button", name="Random seed").click()
    assert panel.get_by_label("Seed", exact=True).input_value().isdigit()
    page.get_by_role("button", name="Sign out").click()
    page.reload()
    assert console.errors == []


def test_phone_width_has_no_sideways_scrolling_and_is_labelled(page, key):
    page.set_viewport_size(PHONE)
    sign_in(page, key)
    assert js(page, "document.documentElement.scrollWidth") <= PHONE["width"]
    unlabelled = js(
        page,
        "[...document.querySelectorAll('input, select, textarea, button')]"
        ".filter(e => !e.closest('[hidden], template'))"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.textContent.trim()).map(e => e.id || e.outerHTML)",
    )
    assert unlabelled == []
    # light and dark follow the system's preference
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    light = js(page, background)
    page.emulate_media(color_scheme="dark")
    assert js(page, background) != light
    # keyboard: the tabs move with the arrow keys
    page.get_by_role("tab", name="Generate").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="Multi-instrument").get_attribute("aria-selected") == "true"
