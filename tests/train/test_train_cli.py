"""``music-gen train`` and ``music-gen generate --adapter``."""

from __future__ import annotations

import json
from pathlib import Path

from music_gen.cli import main


def test_train_then_generate_with_the_adapter(tiny_musicgen, dataset_dir, tmp_path: Path, capsys):
    out = tmp_path / "adapter"
    code = main(["train", "--model", str(tiny_musicgen), "--data", str(dataset_dir), "--output",
                 str(out), "--steps", "2", "--rank", "2", "--lr", "1e-3", "--window-seconds", "1",
                 "--device", "cpu", "--quiet"])  # fmt: skip
    assert code == 0
    assert "wrote adapter" in capsys.readouterr().out
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2]
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 2
    wav = tmp_path / "x.wav"
    code = main(["generate", "funk", "--model", str(tiny_musicgen), "--adapter", str(out),
                 "--adapter-scale", "0.5", "--duration", "0.2", "--output", str(wav),
                 "--device", "cpu", "--quiet"])  # fmt: skip
    assert code == 0 and wav.is_file()


def test_train_reports_a_bad_dataset(tiny_musicgen, tmp_path: Path, capsys):
    code = main(["train", "--model", str(tiny_musicgen), "--data", str(tmp_path), "--output",
                 str(tmp_path / "o"), "--steps", "1", "--device", "cpu", "--quiet"])  # fmt: skip
    assert code == 1
    assert "error: INVALID_DATASET" in capsys.readouterr().err


def test_train_reports_bad_settings(tmp_path: Path, capsys):
    code = main(["train", "--model", "x", "--data", str(tmp_path), "--output", str(tmp_path),
                 "--steps", "0"])  # fmt: skip
    assert code == 1
    assert "error: INVALID_TRAINING_CONFIG" in capsys.readouterr().err
