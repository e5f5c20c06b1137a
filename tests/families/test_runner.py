"""The runners families give their callers: whole runs and chunked streams, progress, cancel,
errors, MusicGen's continuous batcher, and each runner's own capacity."""

from __future__ import annotations

import numpy as np

from music_gen import MusicGenerator
from music_gen.families.runner import BackgroundRunner, RunKind, WholeRunner
from music_gen.params import Request


def _drain(runner) -> dict[str, list]:
    events: dict[str, list] = {}
    while runner.active():
        for event in runner.step():
            events.setdefault(event.job_id, []).append(event)
    return events


def _request(family, prompt: str, **params) -> Request:
    """A validated one-prompt request, as the service hands its jobs to a runner."""
    return family.check_request(family.card, family.request([prompt], **params))


def test_the_composer_runs_whole_and_streams_within_its_capacity():
    composer = MusicGenerator(model="composer").family_impl
    runner = composer.runner(capacity=2)
    assert isinstance(runner, WholeRunner) and runner.free() == 2
    runner.submit("whole", _request(composer, "calm piano", duration=1.0, seed=5))
    runner.submit("stream", _request(composer, "calm piano", duration=1.0, seed=5), stream=True)
    assert runner.free() == 0 and runner.progress("whole") == 0.0
    events = _drain(runner)
    assert [e.kind for e in events["whole"]] == [RunKind.DONE]
    kinds = [e.kind for e in events["stream"]]
    assert kinds[-1] == RunKind.DONE and kinds.count(RunKind.CHUNK) == len(kinds) - 1 > 1
    alone = composer.generate("calm piano", duration=1.0, seed=5)
    np.testing.assert_array_equal(events["whole"][0].audio.samples, alone.samples)
    np.testing.assert_array_equal(events["stream"][-1].audio.samples, alone.samples)
    assert events["stream"][-1].audio.midi is not None  # the stream's result keeps its MIDI
    assert runner.free() == 2


def test_cancel_and_errors_leave_the_runner_going():
    composer = MusicGenerator(model="composer").family_impl
    runner = composer.runner(capacity=4)

    def whole(job_id, request):
        if job_id == "bad":
            raise RuntimeError("kernel exploded")
        return composer.run(request)[0], None

    runner.whole = whole
    for job_id in ("gone", "bad", "ok"):
        runner.submit(job_id, _request(composer, "jazz", duration=1.0, seed=1))
    assert runner.cancel("gone") and not runner.cancel("gone") and not runner.owns("gone")
    events = _drain(runner)
    assert "gone" not in events
    [bad] = events["bad"]
    assert bad.kind == RunKind.ERROR and bad.error.code == "GENERATION_FAILED"
    assert "kernel exploded" in bad.error.message
    assert events["ok"][0].kind == RunKind.DONE


def test_musicgen_runner_batches_and_counts_its_jobs(mono):
    family = mono.family_impl
    runner = family.runner(capacity=2)
    assert runner.batcher is not None
    runner.submit("a", _request(family, "a", duration=0.3, seed=1))
    runner.submit("b", _request(family, "b", duration=0.4, seed=2))
    assert runner.free() == 0 and runner.progress("a") == 0.0
    events = _drain(runner)
    for job_id, duration, seed in (("a", 0.3, 1), ("b", 0.4, 2)):
        [done] = events[job_id]
        assert done.kind == RunKind.DONE and done.audio.metadata["batching"] == "continuous"
        alone = mono.generate(job_id, duration=duration, seed=seed)
        np.testing.assert_allclose(done.audio.samples, alone.samples, atol=1e-5)
    assert runner.free() == 2


def test_a_background_runner_runs_whole_on_its_thread_and_reports_as_it_goes():
    """Plans (and section edits) run on a thread of their own: the driver's steps return while
    the run goes on, and show the progress and detail (section i of n) it reported."""
    import threading

    from music_gen import CompositionPlan
    from music_gen.families.plans import PlanProgress

    composer = MusicGenerator(model="composer").family_impl
    runner = BackgroundRunner(composer, capacity=2)
    gate, reported = threading.Event(), threading.Event()
    plan = CompositionPlan.from_dict(
        {"sections": [{"name": n, "duration": 3} for n in ("Intro", "Verse", "Outro")]}
    )

    def whole(job_id, request):
        report = runner.reporter(job_id)
        tracker = PlanProgress(report, 3)
        tracker.part(0, "Intro")(1, 1)
        tracker.part(1, "Verse")(2, 4)  # halfway through the second section
        reported.set()
        gate.wait(30)
        if report.cancelled():
            raise RuntimeError("stopped")
        return composer.generate_plan(plan, seed=1, progress=report), None

    runner.whole = whole
    runner.submit("a", _request(composer, "x", duration=9.0, seed=1))
    runner.submit("b", _request(composer, "x", duration=9.0, seed=1))
    assert runner.step() == [] and runner.owns("a") and runner.active() == 2
    assert reported.wait(30)
    runner.submit("a", _request(composer, "x", duration=9.0, seed=1))  # again: still one run
    assert runner.step() == [] and runner.active() == 2  # returns while "a" runs; "b" waits
    assert runner.progress("a") == 0.5 and runner.progress("b") == 0.0
    assert runner.detail("a") == {"section": 2, "sections": 3, "name": "Verse", "step": 2,
                                  "steps": 4, "stage": "section"}  # fmt: skip
    gate.set()
    events = _drain(runner)
    assert [e.kind for e in events["a"]] == [RunKind.DONE] == [e.kind for e in events["b"]]
    assert events["a"][0].audio.metadata["plan"]["sections"][-1]["end"] == 9.0
    assert runner.detail("a") is None and runner.active() == 0
    # a cancelled run is asked to stop; nothing of it comes out
    gate.clear()
    reported.clear()
    runner.submit("c", _request(composer, "x", duration=9.0, seed=1))
    runner.step()
    assert reported.wait(30)
    assert runner.cancel("c") and not runner.owns("c")
    gate.set()
    assert _drain(runner) == {}
