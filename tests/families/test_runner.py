"""The runners families give their callers: a request's options reach the family method that
takes them, whole runs and chunked streams, progress, cancel, and each runner's own capacity."""

from __future__ import annotations

import numpy as np

from music_gen import MusicGenerator
from music_gen.families.runner import RunKind, RunRequest, WholeRunner


def _drain(runner) -> dict[str, list]:
    events: dict[str, list] = {}
    while runner.active():
        for event in runner.step():
            events.setdefault(event.job_id, []).append(event)
    return events


def test_arguments_are_the_options_a_method_takes():
    def generate(prompt, duration=1.0, seed=None, **rest):
        return None

    request = RunRequest("x", {"duration": 2.0, "seed": 3, "lyrics": "la"})
    assert request.arguments(generate) == {"duration": 2.0, "seed": 3}
    assert request.arguments(generate, drop=("seed",)) == {"duration": 2.0}


def test_the_composer_runs_whole_and_streams_beside_its_capacity():
    composer = MusicGenerator(model="composer").family_impl
    runner = composer.runner(capacity=2)
    assert isinstance(runner, WholeRunner) and runner.free() == 2
    options = {"duration": 1.0, "seed": 5, "lyrics": None}  # an option it does not take is left
    runner.submit("whole", RunRequest("calm piano", {"duration": 1.0, "seed": 5}))
    runner.submit("stream", RunRequest("calm piano", options, stream=True))
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
    runner.submit("gone", RunRequest("jazz", {"duration": 1.0, "seed": 1}))
    runner.submit("bad", RunRequest("", {"duration": 1.0, "seed": 1}))
    runner.submit("ok", RunRequest("jazz", {"duration": 1.0, "seed": 2}))
    assert runner.cancel("gone") and not runner.cancel("gone") and not runner.owns("gone")
    events = _drain(runner)
    assert "gone" not in events
    assert events["bad"][0].kind == RunKind.ERROR and events["bad"][0].error.code
    assert events["ok"][0].kind == RunKind.DONE


def test_musicgen_runner_batches_and_counts_its_jobs(mono):
    runner = mono.family_impl.runner(capacity=2)
    assert runner.batcher is not None
    runner.submit("a", RunRequest("a", {"duration": 0.3, "seed": 1}))
    runner.submit("bad", RunRequest("b", {"duration": -1.0, "seed": 2}))  # fails on prepare
    assert runner.free() == 0
    events = _drain(runner)
    assert events["bad"][0].kind == RunKind.ERROR
    assert events["bad"][0].error.code == "INVALID_DURATION"
    alone = mono.generate("a", duration=0.3, seed=1)
    assert events["a"][0].audio.metadata["batching"] == "continuous"
    np.testing.assert_allclose(events["a"][0].audio.samples, alone.samples, atol=1e-5)
    assert runner.free() == 2
