"""The worker's backends: continuous batching of jobs, out-of-memory splitting, progress,
cancellation, streaming jobs interleaved with the batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from music_gen.engine.batching import ContinuousBatcher
from music_gen.service.core.jobs.spec import JobSpec
from music_gen.service.core.runners.backends import ModelBackend, ToneBackend


def _spec(model: str, fields: dict) -> JobSpec:
    return JobSpec(model=model, **fields)


def _drain(backend, steps=None, done=None, chunks=None, errors=None):
    done, chunks, errors = done or {}, chunks or {}, errors or {}
    while backend.active() and (steps is None or steps > 0):
        steps = None if steps is None else steps - 1
        for event in backend.step():
            if event.kind == "done":
                done[event.job_id] = event.audio
            elif event.kind == "chunk":
                chunks.setdefault(event.job_id, []).append(event.audio)
            else:
                errors[event.job_id] = event.error
    return done, chunks, errors


def _flaky_forward(monkeypatch, fail_at: set[int]):
    original = ContinuousBatcher._forward
    calls = {"n": 0}

    def forward(self, moving):
        calls["n"] += 1
        if calls["n"] in fail_at:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(self, moving)

    monkeypatch.setattr(ContinuousBatcher, "_forward", forward)


def test_out_of_memory_halves_the_batch_and_outputs_do_not_change(generators, monkeypatch):
    gen = generators("mono")
    backend = ModelBackend(lambda name: gen, capacity=4)
    params = [{"prompt": f"tune {i}", "duration": 0.3 + 0.1 * i, "seed": i} for i in range(3)]
    for i, p in enumerate(params):
        backend.submit(f"j{i}", _spec("m", p), stream=False)
    _flaky_forward(monkeypatch, {3})
    done, _, errors = _drain(backend)
    assert not errors and backend.runners["m"].batcher.max_requests == 2
    for i, p in enumerate(params):
        alone = gen.generate(p["prompt"], duration=p["duration"], seed=p["seed"])
        np.testing.assert_allclose(done[f"j{i}"].samples, alone.samples, atol=1e-5)


def test_out_of_memory_at_batch_one_fails_with_a_code(generators, monkeypatch):
    gen = generators("mono")
    backend = ModelBackend(lambda name: gen, capacity=1)
    backend.submit("j", _spec("m", {"prompt": "x", "duration": 0.2, "seed": 1}), stream=False)
    _flaky_forward(monkeypatch, {1})
    _, _, errors = _drain(backend)
    assert errors["j"].code == "OUT_OF_MEMORY"


def test_progress_cancel_and_streams_beside_the_batch(generators):
    gen = generators("mono")
    backend = ModelBackend(lambda name: gen, capacity=2)
    backend.submit("a", _spec("m", {"prompt": "a", "duration": 0.6, "seed": 1}), stream=False)
    backend.submit("b", _spec("m", {"prompt": "b", "duration": 0.6, "seed": 2}), stream=False)
    backend.submit("s", _spec("m", {"prompt": "s", "duration": 0.6, "seed": 3}), stream=True)
    done, chunks, errors = _drain(backend, steps=5)
    assert 0 < backend.progress("a") < 1
    backend.cancel("b")
    done, chunks, errors = _drain(backend, None, done, chunks, errors)
    assert set(done) == {"a", "s"} and not errors
    joined = np.concatenate([c.samples for c in chunks["s"]], axis=-1)
    np.testing.assert_array_equal(joined, done["s"].samples)
    alone = gen.generate("s", duration=0.6, seed=3)
    np.testing.assert_allclose(done["s"].samples, alone.samples, atol=1e-3)


def test_tone_backend_is_deterministic():
    backend = ToneBackend(capacity=2)
    backend.submit(
        "x", _spec("test-tone", {"prompt": "p", "duration": 0.5, "seed": 3}), stream=True
    )
    backend.submit(
        "y", _spec("test-tone", {"prompt": "p", "duration": 0.5, "seed": 3}), stream=False
    )
    done, chunks, _ = _drain(backend)
    np.testing.assert_array_equal(done["x"].samples, done["y"].samples)
    assert len(chunks["x"]) == 5 and done["x"].duration == pytest.approx(0.5)


def test_unexpected_engine_errors_fail_the_jobs_not_the_worker(generators, monkeypatch):
    gen = generators("mono")
    backend = ModelBackend(lambda name: gen, capacity=2)
    backend.submit("a", _spec("m", {"prompt": "a", "duration": 0.2, "seed": 1}), stream=False)
    backend.submit("s", _spec("m", {"prompt": "s", "duration": 0.6, "seed": 3}), stream=True)

    def broken(self, moving):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(ContinuousBatcher, "_forward", broken)
    codec = gen.family_impl.runtime.codec  # the stream decodes through its quantizer and layers
    monkeypatch.setattr(codec.quantizer, "decode", lambda *a, **k: 1 / 0)
    _, _, errors = _drain(backend)
    assert errors["a"].code == "GENERATION_FAILED" and "kernel exploded" in errors["a"].message
    assert errors["s"].code == "GENERATION_FAILED" and "ZeroDivisionError" in errors["s"].message
    assert backend.active() == 0


def test_a_models_batch_waits_while_its_plan_runs_on_a_thread(generators, monkeypatch):
    """A plan runs whole on a thread of its own; meanwhile the same model's batcher (which
    swaps the decoder's caches) does not step, so the two never share the model at once."""
    import threading

    gen = generators("mono")
    backend = ModelBackend(lambda name: gen, capacity=2)
    family = type(gen.family_impl)
    made, started, gate, inside = family.generate_plan, threading.Event(), threading.Event(), []

    def held(self, *args, **kwargs):
        started.set()
        gate.wait(30)
        return made(self, *args, **kwargs)

    monkeypatch.setattr(family, "generate_plan", held)
    plan = {"sections": [{"name": "a", "duration": 3.0}]}
    backend.submit("p", _spec("m", {"prompt": "", "duration": 3.0, "seed": 1, "plan": plan}), False)
    backend.submit("b", _spec("m", {"prompt": "b", "duration": 0.2, "seed": 2}), stream=False)
    forward = ContinuousBatcher._forward

    def spy(self, moving):
        inside.append(started.is_set() and not gate.is_set())
        return forward(self, moving)

    monkeypatch.setattr(ContinuousBatcher, "_forward", spy)
    assert backend.step() == [] and started.wait(30)
    for _ in range(5):
        assert backend.step() == []  # the batch job waits for the plan
    assert backend.progress("b") == 0.0 and not any(inside)
    gate.set()
    done, _, errors = _drain(backend)
    assert set(done) == {"p", "b"} and not errors
    assert done["p"].num_samples == 3 * 32000


def test_the_backend_and_every_ray_replica_read_the_api_nodes_adapter_store(tmp_path):
    from music_gen.service.core.infra.settings import Settings
    from music_gen.service.core.runners.backends import make_backend
    from music_gen.service.core.runners.ray_backend import replica_options

    settings = Settings(data_dir=tmp_path / "data", engine="fast")
    root = (tmp_path / "data" / "adapters").resolve()
    assert make_backend(settings).adapters == root
    options = replica_options(settings)
    assert options["adapters_dir"] == str(root)
    # a replica builds its Settings from these options: the same folder, by absolute path
    assert make_backend(Settings(**options)).adapters == root
    shared = Settings(data_dir=tmp_path / "data", adapters_dir=tmp_path / "shared")
    assert replica_options(shared)["adapters_dir"] == str((tmp_path / "shared").resolve())
