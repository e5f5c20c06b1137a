"""A training run killed after a checkpoint resumes from it and ends with the adapter an
uninterrupted run writes (same data, seed and settings on CPU give the same adapter)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from safetensors.torch import load_file

import music_gen

_CHILD = """
import json, sys, time
import music_gen

def slow(step, total, loss):
    if step >= 2:
        time.sleep(60)  # the test kills this process here, after the step-2 checkpoint

settings = json.loads(sys.argv[4])
music_gen.train(sys.argv[1], sys.argv[2], sys.argv[3], progress=slow, **settings)
"""


def test_killed_run_resumes_to_the_same_adapter(
    trained, tiny_musicgen, dataset_dir, train_settings, tmp_path
):
    out = tmp_path / "adapter"
    settings = {**train_settings, "checkpoint_every": 2}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tiny_musicgen), str(dataset_dir), str(out),
         json.dumps(settings)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    checkpoint = out / "checkpoints" / "step-000002" / "state.json"
    deadline = time.monotonic() + 300
    while not checkpoint.is_file():
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (out / "adapter_model.safetensors").exists()  # killed before the end

    result = music_gen.train(str(tiny_musicgen), dataset_dir, out, **train_settings)
    assert result.resumed_from == 2
    ours = load_file(str(out / "adapter_model.safetensors"))
    theirs = load_file(str(trained.output / "adapter_model.safetensors"))
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert (ours[key] == theirs[key]).all(), key
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, 9))
    assert [e["loss"] for e in log] == [e["loss"] for e in trained.log]


def test_a_finished_run_can_be_extended_but_not_changed(
    trained, tiny_musicgen, dataset_dir, train_settings, tmp_path
):
    import shutil

    import pytest

    from music_gen.errors import InvalidInput

    out = tmp_path / "adapter"
    shutil.copytree(trained.output, out)
    with pytest.raises(InvalidInput) as err:
        music_gen.train(str(tiny_musicgen), dataset_dir, out, **{**train_settings, "rank": 2})
    assert err.value.code == "INVALID_TRAINING_CONFIG"
    result = music_gen.train(
        str(tiny_musicgen), dataset_dir, out, **{**train_settings, "steps": 10}
    )
    assert result.resumed_from == 8
    assert [e["step"] for e in result.log] == list(range(1, 11))
    assert result.log[:8] == trained.log


def test_a_bad_adapter_scale_is_refused(tmp_path):
    import pytest

    from music_gen.errors import InvalidInput
    from music_gen.families.adapters import merge_musicgen_adapter

    for scale in (float("nan"), 10.0, "1"):
        with pytest.raises(InvalidInput) as err:
            merge_musicgen_adapter(None, tmp_path, scale=scale)  # type: ignore[arg-type]
        assert err.value.code == "INVALID_ADAPTER_SCALE"
