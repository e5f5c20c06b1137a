"""ACE-Step with a LoRA adapter per request (``Request.adapter``, as the service's jobs carry
it): loaded unfused for the request's pipeline call, then unloaded — each song equals the
same request on the model with that adapter fused at load, and the base model's songs are
untouched; the song runner never puts two adapters in one call."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import music_gen
from music_gen import MusicGenerator
from music_gen.errors import InvalidInput, UnsupportedFeature
from music_gen.families.acestep_runner import SongRunner
from music_gen.params import Adapter, Request

GEN = dict(duration=1.0, seed=3, steps=4)


@pytest.fixture(scope="module")
def ace_lora(song_pipeline, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("ace-req-data")
    for i, prompt in enumerate(["funk groove with slap bass", "jazz trio"]):
        MusicGenerator("composer").generate(prompt, duration=2.0, seed=i).save(data / f"c{i}.wav")
        (data / f"c{i}.txt").write_text(prompt)
    out = tmp_path_factory.mktemp("ace-req") / "adapter"
    settings = dict(steps=6, rank=4, alpha=8.0, learning_rate=1e-2, batch_size=2,
                    window_seconds=1.0, min_seconds=0.5, seed=1, device="cpu")  # fmt: skip
    return music_gen.train(str(song_pipeline), data, out, **settings).output


@pytest.fixture(scope="module")
def songs(song_pipeline):  # float32: the CPU default's int8 DiT is in test_acestep_cpu.py
    return MusicGenerator(str(song_pipeline), device="cpu", dtype="float32")


def _request(songs, prompt: str, adapter: Adapter | None = None, **extra) -> Request:
    family = songs.family_impl
    request = replace(family.request([prompt], **{**GEN, **extra}), adapter=adapter)
    return family.check_request(family.card, request)


def test_a_requests_adapter_equals_the_fused_one_and_goes_away(songs, song_pipeline, ace_lora):
    base = songs.generate("funk groove", **GEN).samples
    [ours] = songs.family_impl.run(_request(songs, "funk groove", Adapter(str(ace_lora), 0.7)))
    fused = MusicGenerator(str(song_pipeline), device="cpu", dtype="float32", adapter=ace_lora,
                           adapter_scale=0.7)  # fmt: skip
    np.testing.assert_allclose(ours.samples, fused.generate("funk groove", **GEN).samples,
                               atol=1e-4)  # fmt: skip
    assert ours.metadata["adapter"] == {"adapter": str(ace_lora), "adapter_scale": 0.7}
    assert not np.allclose(ours.samples, base, atol=1e-4)
    # unloaded: the next song without an adapter is the base model's, bit for bit
    np.testing.assert_array_equal(songs.generate("funk groove", **GEN).samples, base)
    assert songs.family_impl.pipe.get_list_adapters() == {}


def test_the_song_runner_keeps_adapters_apart(songs, ace_lora):
    jobs = SongRunner(songs.family_impl, batch_on_cpu=True, max_batch=4)
    plan = {"a": Adapter(str(ace_lora)), "b": None, "c": Adapter(str(ace_lora))}
    for job_id, adapter in plan.items():
        jobs.submit(job_id, _request(songs, f"song {job_id}", adapter))
    groups = []
    while jobs.queue:
        groups.append(sorted(j.job_id for j in jobs._next_group()))
    assert groups == [["a", "c"], ["b"]]  # same adapter: one call; none: another
    for job_id, adapter in plan.items():
        jobs.submit(job_id, _request(songs, f"song {job_id}", adapter))
    events, deadline = {}, time.monotonic() + 180
    while jobs.active() or jobs.running:
        for event in jobs.step():
            events[event.job_id] = event
        jobs.join(0.05)
        assert time.monotonic() < deadline
    for job_id, adapter in plan.items():
        [alone] = songs.family_impl.run(_request(songs, f"song {job_id}", adapter))
        np.testing.assert_allclose(events[job_id].audio.samples, alone.samples, atol=1e-4)


def test_wrong_adapters_fail_the_request_with_a_code(songs, tmp_path, checkpoints):
    with pytest.raises(InvalidInput) as err:
        songs.family_impl.run(_request(songs, "x", Adapter(str(tmp_path / "none"))))
    assert err.value.code == "INVALID_ADAPTER"
    with pytest.raises(InvalidInput) as err:
        _request(songs, "x", Adapter("somewhere", 3.0))
    assert err.value.code == "INVALID_ADAPTER_SCALE"
    composer = MusicGenerator("composer")
    family = composer.family_impl
    request = replace(family.request(["x"], duration=1.0), adapter=Adapter("somewhere"))
    with pytest.raises(UnsupportedFeature) as err2:
        family.check_request(family.card, request)
    assert err2.value.details["capability"] == "adapter"
