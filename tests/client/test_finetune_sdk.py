"""Fine-tuning through the SDK, sync and async: a folder or an archive in, a finished job with
its loss history and adapter out; cancel; the server's refusals as the library's errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from music_gen.client import Finetune
from music_gen.errors import Conflict, GenerationFailed, InvalidInput

SETTINGS = dict(rank=4, alpha=8.0, learning_rate=0.01, batch_size=2, window_seconds=1.0,
                min_seconds=0.5, checkpoint_every=2, seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    from music_gen import MusicGenerator

    folder = tmp_path_factory.mktemp("songs")
    (folder / "set").mkdir()
    gen = MusicGenerator("composer")
    for i, prompt in enumerate(("funk groove with slap bass", "jazz trio")):
        gen.generate(prompt, duration=2.0, seed=i).save(folder / "set" / f"c{i}.wav")
        (folder / "set" / f"c{i}.txt").write_text(prompt)
    (folder / "set" / "cover.jpg").write_bytes(b"not sent")
    return folder / "set"


def test_finetune_a_folder(client, connect, songs) -> None:
    seen: list[Finetune] = []
    name = f"sdk-{connect.kind}"
    job = client.finetune(songs, name, steps=2, poll=0.2, timeout=300, progress=seen.append,
                          target_modules=["q_proj", "v_proj"], **SETTINGS)  # fmt: skip
    assert isinstance(job, Finetune) and job.status == "succeeded" and job.adapter == name
    assert [step for step, _ in job.loss_history] == [1, 2] and job.loss is not None
    assert job.settings["target_modules"] == ["q_proj", "v_proj"]
    assert job.dataset["files"] == 2 and seen and seen[-1].done
    assert [j.task_id for j in client.list_finetunes()] == [job.task_id]
    assert client.get_finetune(job.task_id).result["adapter"] == name


def test_archive_cancel_and_errors(client, connect, songs, tmp_path) -> None:
    archive = tmp_path / "songs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in songs.iterdir():
            z.write(path, path.name)
    job = client.submit_finetune(archive, f"sdk-long-{connect.kind}", steps=5000, **SETTINGS)
    assert job.status == "queued" and job.total_steps == 5000
    with pytest.raises(Conflict) as refused:
        client.submit_finetune(songs, "second", steps=2, **SETTINGS)
    assert refused.value.code == "FINETUNE_LIMIT_REACHED"
    assert client.cancel_finetune(job.task_id).status == "cancelled"
    with pytest.raises(GenerationFailed) as cancelled:
        client.wait_finetune(job.task_id, poll=0.1, timeout=60)
    assert cancelled.value.code == "CANCELLED"
    with pytest.raises(InvalidInput) as bad:
        client.submit_finetune(songs, "bad", steps=2, rank=0)
    assert bad.value.code == "INVALID_TRAINING_CONFIG"
    with pytest.raises(InvalidInput) as missing:
        client.submit_finetune(tmp_path / "nowhere", "bad")
    assert missing.value.code == "INVALID_DATASET"
