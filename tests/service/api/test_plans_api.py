"""``POST /api/v1/plans``: drafts and checks composition plans, errors as INVALID_PLAN."""

from __future__ import annotations

import pytest


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
