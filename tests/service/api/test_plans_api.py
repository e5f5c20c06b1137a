"""``POST /api/v1/plans``: drafts and checks composition plans, errors as INVALID_PLAN."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from service_helpers import wait_for, wait_until


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


@pytest.fixture
def held(monkeypatch):
    """The composer's plans, their section named "held verse" held until the gate opens."""
    import threading

    from music_gen.families.composer import ComposerFamily

    made = ComposerFamily._generate_plan
    gate = threading.Event()

    def holding(self, plan, seed, params, progress, cancelled):
        seen = []

        def report(done, total):  # this plan's second section waits for the test
            progress(done, total)
            if seen[-1]["name"] == "held verse":
                gate.wait(60)

        def detail(d):
            seen.append(d)
            progress.detail(d)

        report.detail = detail
        return made(self, plan, seed, params, report, cancelled)

    monkeypatch.setattr(ComposerFamily, "_generate_plan", holding)
    yield gate
    gate.set()


HELD = {"sections": [{"name": "intro", "duration": 3}, {"name": "held verse", "duration": 4}]}


def test_a_plan_jobs_progress_names_the_section_being_made(carol, held):
    """While a plan job runs, its JSON says which section is being made (section i of n)."""
    gate = held
    r = carol.post("/generate", json={"prompt": "", "model": "composer", "plan": HELD})
    assert r.status_code == 202, r.text
    task = r.json()["task_id"]
    try:

        def second():
            job = carol.get(f"/generate/{task}").json()
            return job if (job["progress_detail"] or {}).get("section") == 2 else None

        job = wait_until(second, 60, lambda: str(carol.get(f"/generate/{task}").json()))
    finally:
        gate.set()
    assert job["status"] == "running" and job["progress"] == 0.5
    assert job["progress_detail"] == {"section": 2, "sections": 2, "name": "held verse", "step": 0,
                                      "steps": 1, "stage": "section"}  # fmt: skip
    done = wait_for(carol, task)
    assert done["status"] == "succeeded" and done["progress_detail"] is None


def _samples(client, url):
    samples, rate = sf.read(io.BytesIO(client.get(url).content), dtype="float32")
    return samples, rate


def test_a_section_is_replaced_and_a_song_extended_through_edit(carol):
    """``POST /edit`` task ``replace`` (one plan section made again: every other sample as it
    was) and ``extend`` (the source, then more: it starts with exactly the source)."""
    r = carol.post("/generate", json={"prompt": "", "model": "composer", "plan": PLAN, "seed": 1})
    source = wait_for(carol, r.json()["task_id"])
    assert source["status"] == "succeeded", source
    before, rate = _samples(carol, source["audio_url"])
    edit = {"task": "replace", "model": "composer", "source_job_id": source["task_id"],
            "plan": PLAN, "section": "verse", "seed": 9}  # fmt: skip
    r = carol.post("/edit", json=edit)
    assert r.status_code == 202, r.text
    done = wait_for(carol, r.json()["task_id"])
    assert done["status"] == "succeeded" and done["type"] == "edit", done
    assert done["params"]["source"] == True and done["params"]["rework"]["task"] == "replace"  # noqa: E712
    assert done["metadata"]["replaced_section"]["name"] == "verse"
    assert [s["end"] for s in done["metadata"]["plan"]["sections"]] == pytest.approx([3.0, 7.0])
    after, _ = _samples(carol, done["audio_url"])
    cut = round(3.0 * rate)
    assert after.shape == before.shape
    np.testing.assert_array_equal(after[:cut], before[:cut])
    assert not np.array_equal(after[cut:], before[cut:])
    # extend by seconds after a prompt, and by a plan's sections
    for more, added in (
        ({"prompt": "calm outro", "duration": 4}, 4.0),
        ({"plan": {"sections": [{"name": "outro", "duration": 5}]}}, 5.0),
    ):
        body = {"task": "extend", "model": "composer", "source_job_id": source["task_id"],
                "seed": 2, **more}  # fmt: skip
        r = carol.post("/edit", json=body)
        assert r.status_code == 202, r.text
        done = wait_for(carol, r.json()["task_id"])
        assert done["status"] == "succeeded", done
        longer, _ = _samples(carol, done["audio_url"])
        assert len(longer) == len(before) + round(added * rate)
        np.testing.assert_array_equal(longer[: len(before)], before)


def test_edits_of_plans_the_intake_refuses(carol):
    r = carol.post("/generate", json={"prompt": "", "model": "composer", "plan": PLAN, "seed": 1})
    source = wait_for(carol, r.json()["task_id"])["task_id"]
    base = {"model": "composer", "source_job_id": source}
    for body, code in (
        ({"task": "replace", "plan": PLAN}, "INVALID_PLAN"),  # which section?
        ({"task": "replace", "plan": PLAN, "section": "bridge"}, "INVALID_PLAN"),
        ({"task": "replace", "plan": PLAN, "section": 5}, "INVALID_PLAN"),
        ({"task": "replace", "section": 0}, "INVALID_PLAN"),  # no plan
        (
            {"task": "replace", "plan": {"sections": [{"name": "a", "duration": 9}]}, "section": 0},
            "INVALID_RANGE",
        ),  # the section ends after the source
        ({"task": "extend", "prompt": "more"}, "INVALID_PLAN"),  # neither seconds nor a plan
        ({"task": "extend", "duration": 4}, "INVALID_PROMPT"),
        ({"task": "extend", "prompt": "more", "duration": 25}, "INVALID_DURATION"),  # > 30 s
        ({"task": "extend", "prompt": "more", "duration": 3, "start": 1}, "INVALID_INPUT"),
        ({"task": "repaint", "start": 1, "end": 2}, "UNSUPPORTED_FEATURE"),  # composer: no edit
    ):
        r = carol.post("/edit", json={**base, **body})
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)
    r = carol.post("/edit", json={"task": "extend", "prompt": "x", "duration": 3, "model": None,
                                  "source_job_id": source, "plan": PLAN})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_PLAN"


def test_the_websocket_reports_a_plans_section_as_it_goes(server, held):
    from websockets.sync.client import connect

    key = server.key("ws-planner")
    url = server.url.replace("http://", "ws://") + f"/ws/stream?api_key={key}"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "", "model": "composer", "plan": HELD}))
        assert json.loads(ws.recv())["type"] == "started"
        details = []
        while True:
            msg = json.loads(ws.recv())
            if msg["type"] == "progress" and msg["detail"]:
                details.append(msg["detail"])
                if msg["detail"]["name"] == "held verse":
                    held.set()
            if msg["type"] in ("complete", "error"):
                break
        assert msg["type"] == "complete", msg
        assert details[-1]["section"] == 2 and details[-1]["sections"] == 2
