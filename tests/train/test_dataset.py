"""Dataset folders: captions, windows, estimated tempo/key, bad files skipped by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_gen.errors import InvalidInput
from music_gen.train import load_dataset

SR = 32000


def _load(folder: Path, **kw):
    return load_dataset(folder, sample_rate=SR, channels=1, **{"window_seconds": 1.0, **kw})


def test_captions_windows_and_skipped_files(tmp_path: Path, clip_writer):
    clip_writer(tmp_path, "long", "rock band with distorted guitars", 2.6, seed=0)
    clip_writer(tmp_path, "short", "jazz trio", 0.3, seed=0)
    sf.write(tmp_path / "silent.flac", np.zeros(SR * 2, np.float32), SR)
    (tmp_path / "silent.txt").write_text("nothing")
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (tmp_path / "broken.txt").write_text("broken")
    sf.write(tmp_path / "nocaption.wav", np.full(SR * 2, 0.1, np.float32), SR)
    ds = _load(tmp_path, min_seconds=0.5)
    assert [c.name for c in ds.clips] == ["long.wav"]
    clip = ds.clips[0]
    assert clip.caption == "rock band with distorted guitars"
    assert clip.audio.shape == (1, round(2.6 * SR))  # stereo 44.1 kHz -> the model's mono 32 kHz
    # two whole windows and a 0.6 s tail window ending at the file's end
    assert [(w.start, w.end) for w in ds.windows] == [
        (0, SR),
        (SR, 2 * SR),
        (round(1.6 * SR), round(2.6 * SR)),
    ]
    reasons = {s.name: s.reason for s in ds.skipped}
    assert set(reasons) == {"short.wav", "silent.flac", "broken.wav", "nocaption.wav"}
    assert reasons["short.wav"].startswith("too short")
    assert reasons["silent.flac"].startswith("silent")
    assert reasons["broken.wav"].startswith("unreadable")
    assert reasons["nocaption.wav"].startswith("no caption")
    assert ds.summary()["skipped"][0]["file"] == "broken.wav"


def test_metadata_jsonl_wins_and_missing_bpm_key_are_estimated(tmp_path: Path, clip_writer):
    clip_writer(tmp_path, "a", "ignored caption", 6.0, seed=0)
    clip_writer(tmp_path, "b", "rock band with distorted guitars", 6.0, seed=0)
    lines = [
        {"file": "a.wav", "caption": "given", "lyrics": "la la", "bpm": 99, "key": "D minor"},
        {"file": "b.wav", "caption": "estimated"},
    ]
    (tmp_path / "metadata.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    ds = _load(tmp_path, window_seconds=30.0)
    a, b = ds.clips
    assert (a.caption, a.lyrics, a.bpm, a.key, a.estimated) == (
        "given",
        "la la",
        99.0,
        "D minor",
        (),
    )
    assert b.caption == "estimated" and b.estimated == ("bpm", "key")
    assert b.bpm is not None and 60 <= b.bpm <= 200 and b.key is not None


@pytest.mark.parametrize(
    "setup, needle",
    [
        (lambda d: None, "no audio files"),
        (lambda d: (d / "x.wav").write_bytes(b"junk") and (d / "x.txt").write_text("x"), "x.wav"),
        (lambda d: (d / "metadata.jsonl").write_text("{not json\n"), "line 1"),
        (lambda d: (d / "metadata.jsonl").write_text('{"file": "a.wav", "bpm": "fast"}\n'), "bpm"),
        (
            lambda d: (d / "metadata.jsonl").write_text('{"file": "gone.wav", "caption": "x"}\n'),
            "gone.wav",
        ),
    ],
)
def test_unusable_datasets_are_invalid_dataset(tmp_path: Path, setup, needle: str):
    setup(tmp_path)
    with pytest.raises(InvalidInput) as err:
        _load(tmp_path)
    assert err.value.code == "INVALID_DATASET"
    assert needle in err.value.message


def test_missing_folder_is_invalid_dataset(tmp_path: Path):
    with pytest.raises(InvalidInput) as err:
        _load(tmp_path / "nope")
    assert err.value.code == "INVALID_DATASET"
