"""The studio's files are served at ``/`` and ``/studio/…`` (no browser needed here; the page
itself is driven in a real browser by ``test_studio_browser``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from music_gen.service.api.routes.studio import assets
from music_gen.service.app import create_app
from music_gen.service.core.infra.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("studio"), engine="test-tone")
    # no lifespan: the page needs neither the database nor the worker
    yield TestClient(create_app(settings))


def test_the_page_is_served_at_the_root(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<label for="api-key">API key</label>' in html
    assert '<label for="prompt">Prompt</label>' in html
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_file_the_page_loads_is_served_with_its_type(client):
    html = client.get("/").text
    # relative to the page (a proxy may serve the app under a path prefix)
    referenced = {f"/{p}" for p in re.findall(r'(?:src|href)="(studio/[^"]+)"', html)}
    assert {"/studio/app.js", "/studio/style.css"} <= referenced
    # and every module the scripts import, transitively
    pending = [p for p in referenced if p.endswith(".js")]
    while pending:
        script = client.get(pending.pop()).text
        for name in re.findall(r'from\s+"\./([\w.-]+\.js)"', script):
            if f"/studio/{name}" not in referenced:
                referenced.add(f"/studio/{name}")
                pending.append(f"/studio/{name}")
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for path in sorted(referenced):
        response = client.get(path)
        assert response.status_code == 200, path
        expected = types[path[path.rindex(".") :]]
        assert response.headers["content-type"].startswith(expected), path
    assert {p.removeprefix("/studio/") for p in referenced} <= set(assets())


def test_the_page_uses_nothing_from_elsewhere(client):
    for name, body in assets().items():
        text = body.decode()
        assert not re.search(r"(?:src|href|from|import)\s*=?\s*[\"']https?://", text), name
        assert "cdn" not in text.lower(), name


@pytest.mark.parametrize(
    "path", ["/studio/nothing.js", "/studio/..%2Fapp.py", "/studio/%2e%2e/studio.py", "/studio/"]
)
def test_unknown_or_outside_files_are_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_the_page_is_not_in_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/studio")]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_their_scripts_from_the_server(client, page):
    """/docs (Swagger UI) and /redoc work offline: every script, style and icon they load is
    served by the app itself, none comes from a CDN."""
    html = client.get(page).text
    loaded = re.findall(r'(?:src|href)\s*[=:]\s*["\'\s]*([^"\'\s>]+\.(?:js|css|png))', html)
    assert loaded, html
    for url in loaded:
        assert not url.startswith(("http://", "https://", "//")), url
        assert client.get(url).status_code == 200, url
    assert "cdn.jsdelivr.net" not in html
