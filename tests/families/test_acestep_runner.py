"""SongRunner, ACE-Step's runner: batching, out-of-memory splits, cancel, progress."""

from __future__ import annotations

import time

import numpy as np
import torch

from music_gen.families.acestep_runner import SongRunner
from music_gen.params import Request

LYRICS = "[verse]\nwalking down the street"


def _params(songs, seed: int, **extra) -> Request:
    """A validated one-prompt request, as the service hands its jobs to the runner."""
    family = songs.family_impl
    fields = {"lyrics": LYRICS, "duration": 0.6, "steps": 2, "seed": seed}
    return family.check_request(
        family.card, family.request(["upbeat pop song"], **{**fields, **extra})
    )


def _runner(songs, **options) -> SongRunner:
    return SongRunner(songs.family_impl, **options)


def _run(jobs: SongRunner, timeout: float = 120.0) -> dict:
    events, deadline = {}, time.monotonic() + timeout
    while jobs.active() or jobs.running:
        for event in jobs.step():
            events.setdefault(event.job_id, []).append(event)
        jobs.join(0.05)
        assert time.monotonic() < deadline
    for event in jobs.step():
        events.setdefault(event.job_id, []).append(event)
    return events


def _counting(songs, monkeypatch) -> list[int]:
    calls: list[int] = []
    original = songs.family_impl._run

    def counted(texts, *args, **kwargs):
        calls.append(len(texts))
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(songs.family_impl, "_run", counted)
    return calls


def test_equal_shaped_jobs_share_a_call_and_equal_their_single_runs(songs, monkeypatch):
    calls = _counting(songs, monkeypatch)
    jobs = _runner(songs, max_batch=4, batch_on_cpu=True)
    for i in range(3):
        jobs.submit(f"j{i}", _params(songs, 10 + i))
    jobs.submit("other", _params(songs, 13, duration=0.8), stream=True)  # other shape
    events = _run(jobs)
    assert calls == [3, 1]
    for i in range(3):
        [done] = events[f"j{i}"]
        alone = songs.generate("upbeat pop song", lyrics=LYRICS, duration=0.6, steps=2, seed=10 + i)
        np.testing.assert_allclose(done.audio.samples, alone.samples, atol=1e-5)
    assert [e.kind for e in events["other"]] == ["chunk", "done"]  # a stream gets the whole song


def test_on_the_cpu_jobs_run_one_by_one_by_default(songs, monkeypatch):
    calls = _counting(songs, monkeypatch)
    jobs = _runner(songs, max_batch=4)
    for i in range(2):
        jobs.submit(f"j{i}", _params(songs, i))
    events = _run(jobs)
    assert calls == [1, 1] and set(events) == {"j0", "j1"}


def test_out_of_memory_splits_the_group_and_every_job_still_finishes(songs, monkeypatch):
    original = songs.family_impl._run

    def tight(texts, *args, **kwargs):
        if len(texts) > 1:
            raise torch.OutOfMemoryError("simulated")
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(songs.family_impl, "_run", tight)
    jobs = _runner(songs, max_batch=4, batch_on_cpu=True)
    for i in range(3):
        jobs.submit(f"j{i}", _params(songs, i))
    events = _run(jobs)
    assert {k: [e.kind for e in v] for k, v in events.items()} == {
        "j0": ["done"], "j1": ["done"], "j2": ["done"]
    }  # fmt: skip


def test_a_cancelled_song_stops_between_steps(songs):
    jobs = _runner(songs)
    jobs.submit("long", _params(songs, 1, steps=200, duration=2.0))
    jobs.step()  # starts the call
    deadline = time.monotonic() + 60
    while jobs.progress("long") in (None, 0.0):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert 0.0 < jobs.progress("long") < 1.0  # progress per denoising step
    jobs.cancel("long")
    jobs.join(60)
    assert not jobs.running and not jobs.step()  # no result for a cancelled job


def test_what_only_the_loaded_model_can_check_fails_the_job_with_its_code(songs):
    jobs = _runner(songs)
    jobs.submit("long", _params(songs, 1, lyrics="la " * 3000))  # too many tokens
    jobs.submit("ok", _params(songs, 2))
    events = _run(jobs)
    [event] = events["long"]
    assert event.kind == "error" and event.error.code == "INVALID_LYRICS"
    assert [e.kind for e in events["ok"]] == ["done"]
