"""The ``music-gen`` command line, run in-process through ``main(argv)`` and once as a process."""

from __future__ import annotations

import subprocess
import sys

import pytest
import soundfile as sf

from music_gen.cli import main


def test_generate_writes_a_playable_file(checkpoints, tmp_path, capsys):
    out = tmp_path / "calm.flac"
    code = main(
        [
            "generate",
            "calm piano",
            "--model",
            str(checkpoints["stereo"]),
            "--duration",
            "0.5",
            "--seed",
            "7",
            "--output",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    data, sr = sf.read(out)
    assert sr == 32000
    assert data.shape == (16000, 2)
    assert "seed 7" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg"])
def test_format_flag_sets_the_extension(checkpoints, tmp_path, fmt):
    code = main(
        [
            "generate",
            "x",
            "--model",
            str(checkpoints["mono"]),
            "--duration",
            "0.3",
            "--output",
            str(tmp_path / "song"),
            "--format",
            fmt,
            "-q",
        ]
    )
    assert code == 0
    info = sf.info(tmp_path / f"song.{fmt}")
    assert info.samplerate == 32000


def test_errors_print_one_line_and_exit_nonzero(checkpoints, tmp_path, capsys):
    assert main(["generate", "", "--model", str(checkpoints["mono"])]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: INVALID_PROMPT:")
    assert main(["generate", "x", "--model", "musicgen-small", "--cache-dir", str(tmp_path)]) == 1
    assert "MODEL_NOT_AVAILABLE" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                "x",
                "--model",
                str(checkpoints["mono"]),
                "--output",
                str(tmp_path / "no" / "dir.wav"),
            ]
        )
        == 1
    )
    assert "INVALID_OUTPUT_PATH" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                "x",
                "--model",
                str(checkpoints["mono"]),
                "--melody",
                str(tmp_path / "m.wav"),
            ]
        )
        == 1
    )
    assert "UNSUPPORTED_FEATURE" in capsys.readouterr().err


def test_models_list_shows_every_checkpoint(tmp_path, capsys):
    assert main(["models", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("musicgen-small", "musicgen-melody-large", "musicgen-stereo-melody-large"):
        assert name in out
    row = next(line for line in out.splitlines() if line.startswith("musicgen-stereo-melody "))
    assert row.split()[1:] == ["1.5B", "32000", "2", "yes", "no"]


def test_models_pull_offline_fails_cleanly(tmp_path, capsys):
    assert main(["models", "pull", "musicgen-small", "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MODEL_NOT_AVAILABLE" in err


def test_console_script_end_to_end(tmp_path):
    """The installed entry point: build a tiny checkpoint, then generate from it."""
    exe = [sys.executable, "-m", "music_gen.cli"]
    ckpt = tmp_path / "tiny"
    subprocess.run([*exe, "models", "make-tiny", str(ckpt)], check=True, capture_output=True)
    out = tmp_path / "out.wav"
    run = subprocess.run(
        [*exe, "generate", "rainy lofi", "--model", str(ckpt), "--duration", "0.4", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert sf.info(out).frames == 12800
