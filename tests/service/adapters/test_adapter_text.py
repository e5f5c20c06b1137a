"""Text that cannot be encoded (a lone surrogate, which JSON can spell) in a drop-in API's body
is refused in that API's own error shape, never a 500: the key ModelsLab reads from the body,
music-01's reference ids and generation ids, any stored field (issue 20, items 5 and 11)."""

from __future__ import annotations

import json

import httpx
import pytest

BAD = "x\ud800"


def _post(server, path: str, body: dict, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", **headers}
    with httpx.Client(base_url=server.settings.base_url, timeout=60) as c:
        return c.post(path, content=json.dumps(body).encode(), headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        {"key": BAD, "prompt": "drums"},
        {"prompt": BAD},
        {"prompt": "drums", "track_id": BAD},
        {"prompt": "drums", "webhook": f"http://{BAD}/"},
    ],
)
def test_modelslab_refuses_unencodable_text_in_its_shape(server, body):
    body = {"key": server.key(), **body}
    r = _post(server, "/api/v6/voice/music_gen", body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "error" and "Unicode" in r.json()["message"], r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/generate", {"refer_voice": BAD}),
        ("/generate", {"refer_instrumental": "ok", "prompt": BAD}),
        ("/generate/retrieve", {"generation_id": BAD}),
    ],
)
def test_music01_refuses_unencodable_text_with_base_resp_2013(server, path, body):
    auth = {"Authorization": f"Bearer {server.key()}"}
    r = _post(server, f"/v2/generate/audio/minimax{path}", body, **auth)
    assert r.status_code == 200, r.text
    assert r.json()["base_resp"]["status_code"] == 2013, r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/music", {"prompt": BAD, "duration": 1}),
        ("/v1/meta-musicgen-medium", {"prompt": BAD, "duration": 1}),
    ],
)
def test_leap_and_segmind_refuse_unencodable_text(server, path, body):
    key = server.key()
    r = _post(server, path, body, **{"Authorization": f"Bearer {key}", "x-api-key": key})
    assert 400 <= r.status_code < 500, r.text
    assert "Unicode" in r.text
