"""``POST /api/v1/plans``: drafts and checks composition plans, errors as INVALID_PLAN."""

from __future__ import annotations

import io

import pytest
import soundfile as sf
from service_helpers import wait_for


@pytest.fixture(scope="module")
def carol(server):
    return server.client(server.key("carol"))


def test_a_plan_is_drafted_and_checked(carol):
    r = carol.post("/plans", json={"prompt": "sad jazz piano", "duration": 40, "seed": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["duration"] == pytest.approx(40.0) and body["sections"] >= 3
    assert body["plan"]["key"].endswith("minor")
    eleven = body["composition_plan"]
    assert sum(s["duration_ms"] for s in eleven["sections"]) == 40000
    again = carol.post("/plans", json={"plan": {"composition_plan": eleven}})
    assert again.status_code == 200 and again.json()["sections"] == body["sections"]


def test_bad_plans_are_422_with_the_code(carol):
    too_long = {"sections": [{"name": "a", "duration": 20}, {"name": "b", "duration": 20}]}
    r = carol.post("/plans", json={"plan": too_long, "model": None})
    assert r.status_code == 200
    r = carol.post("/plans", json={"plan": too_long, "model": "composer", "duration": 1})
    assert r.status_code == 200  # the composer makes up to 300 s
    for body in (
        {"plan": {"sections": [{"name": "a", "duration": 2}]}},
        {"prompt": "x", "plan": too_long},
        {},
    ):
        r = carol.post("/plans", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "INVALID_PLAN"


def test_plans_need_a_key(server):
    assert server.client(None).post("/plans", json={"prompt": "jazz"}).status_code == 401


PLAN = {
    "sections": [
        {"name": "intro", "duration": 3, "styles": ["soft piano"]},
        {"name": "verse", "duration": 4, "styles": ["walking bass"]},
    ],
    "bpm": 100,
    "key": "A minor",
}


def test_a_plan_is_made_as_a_job_section_by_section(carol):
    body = {"prompt": "jazz", "model": "composer", "plan": PLAN, "seed": 3}
    r = carol.post("/generate", json=body)
    assert r.status_code == 202, r.text
    done = wait_for(carol, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    made = done["metadata"]["plan"]
    assert [s["name"] for s in made["sections"]] == ["intro", "verse"]
    assert made["sections"][0]["start"] == 0.0
    assert made["sections"][0]["end"] == pytest.approx(3.0)
    assert made["sections"][1]["end"] == pytest.approx(7.0)
    assert made["global_styles"][0] == "jazz"  # the prompt: one more global style
    samples, rate = sf.read(io.BytesIO(carol.get(done["audio_url"]).content))
    assert len(samples) == round(7.0 * rate)
    # ElevenLabs' shape, no prompt: the same piece's length
    eleven = carol.post("/plans", json={"plan": PLAN}).json()["composition_plan"]
    r = carol.post("/generate", json={"prompt": "", "model": "composer", "plan": eleven})
    assert r.status_code == 202, r.text
    done = wait_for(carol, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["metadata"]["plan"]["sections"][-1]["end"] == pytest.approx(7.0)


def test_plans_the_intake_refuses_are_422_invalid_plan(carol):
    short = {"sections": [{"name": "a", "duration": 1}]}
    long = {"sections": [{"name": "a", "duration": 20}, {"name": "b", "duration": 20}]}
    for extra, code in (
        ({"plan": short}, "INVALID_PLAN"),
        ({"plan": long}, "INVALID_PLAN"),  # the server makes at most 30 s
        ({"plan": PLAN, "duration": 9}, "INVALID_PLAN"),
        ({"plan": "not a plan"}, "VALIDATION_ERROR"),
        ({"plan": PLAN, "lyrics": "[verse]\nla la"}, "UNSUPPORTED_FEATURE"),  # the composer's
    ):
        r = carol.post("/generate", json={"prompt": "jazz", "model": "composer", **extra})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == code, r.text
    r = carol.post("/generate", json={"prompt": "jazz", "model": "composer", "plan": PLAN,
                                      "duration": 7})  # fmt: skip
    assert r.status_code == 202, r.text
