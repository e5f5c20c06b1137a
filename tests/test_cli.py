"""The ``music-gen`` command line, run in-process through ``main(argv)`` and once as a process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
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
    assert row.split()[1:6] == ["musicgen", "1.5B", "32000", "2", "no"]
    assert "melody" in row and "stereo" in row


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


def test_a_song_with_lyrics_from_a_file(song_pipeline, tmp_path, capsys):
    lyrics = tmp_path / "song.txt"
    lyrics.write_text("[verse]\nwalking down the street\n[chorus]\nsing it loud\n")
    out = tmp_path / "song.wav"
    args = ["generate", "synth pop", "--model", str(song_pipeline), "--lyrics", str(lyrics),
            "--bpm", "120", "--key", "A minor", "--time-signature", "4/4", "--language", "en",
            "--duration", "1.0", "--steps", "2", "--seed", "3", "-o", str(out), "-q"]  # fmt: skip
    assert main(args) == 0
    data, sr = sf.read(out)
    assert (sr, data.shape) == (48000, (48000, 2))
    assert "seed 3" in capsys.readouterr().out


def test_a_minimax_song_from_the_command_line(minimax_pipeline, tmp_path, capsys):
    out = tmp_path / "minimax.wav"
    args = ["generate", "synth pop, warm vocals", "--model", str(minimax_pipeline),
            "--lyrics", "[verse]\nhello world\n[chorus]\nla la", "--duration", "1.0",
            "--steps", "2", "--seed", "4", "-o", str(out), "-q"]  # fmt: skip
    assert main(args) == 0
    data, sr = sf.read(out)
    assert (sr, data.shape) == (44100, (86 * 512, 2))  # 25 frames -> 86 latents of 512
    assert "seed 4" in capsys.readouterr().out
    bpm = ["generate", "pop", "--model", str(minimax_pipeline), "--lyrics", "la",
           "--bpm", "120", "-o", str(tmp_path / "x.wav"), "-q"]  # fmt: skip
    assert main(bpm) == 1
    err = capsys.readouterr().err
    assert "UNSUPPORTED_FEATURE" in err and "'bpm' capability" in err


def test_edit_repaints_a_range_of_a_song(song_pipeline, tmp_path):
    source, out = tmp_path / "source.wav", tmp_path / "edited.wav"
    base = ["--model", str(song_pipeline), "--steps", "2", "-q"]
    assert main(["generate", "pop", "--duration", "1.0", "-o", str(source), *base]) == 0
    args = ["edit", "repaint", str(source), "--start", "0.2", "--end", "0.6", "--prompt", "solo"]
    assert main([*args, "-o", str(out), *base]) == 0
    before, _ = sf.read(source, dtype="float32")
    after, sr = sf.read(out, dtype="float32")
    assert after.shape == before.shape and sr == 48000
    cut = round(0.2 * 48000) - 1  # outside the range (16-bit WAV both times)
    np.testing.assert_array_equal(after[:cut], before[:cut])


def test_song_options_on_musicgen_name_the_capability(checkpoints, tmp_path, capsys):
    args = ["generate", "pop", "--model", str(checkpoints["mono"]), "--lyrics", "la la",
            "--duration", "0.2", "-o", str(tmp_path / "x.wav"), "-q"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "UNSUPPORTED_FEATURE" in err and "'lyrics'" in err


def test_models_list_shows_family_and_capabilities(song_pipeline, checkpoints, capsys):
    assert main(["models", "list", str(song_pipeline), str(checkpoints["melody"]), "composer"]) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    song, melody, composer = lines
    assert "acestep" in song and "lyrics" in song and "edit" in song
    assert "musicgen" in melody and "melody" in melody and "lyrics" not in melody
    assert "composer" in composer and "midi" in composer


def test_generate_a_loop(tmp_path, capsys):
    """``--loop --bpm 120 --bars 4``: an 8.000 s WAV whose acid chunk says 16 beats at 120."""
    import struct

    out = tmp_path / "loop.wav"
    argv = ["generate", "funk bass and drums", "--model", "composer", "--loop", "--bpm", "120",
            "--bars", "4", "--seed", "2", "--output", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    info = sf.info(out)
    assert (info.frames, info.samplerate) == (8 * 44100, 44100)
    data = out.read_bytes()
    at = data.index(b"acid")
    beats, _, numerator, tempo = struct.unpack("<IHHf", data[at + 20 : at + 32])
    assert (beats, numerator, tempo) == (16, 4, 120.0)
    assert "loop: 4 bars of 4 beats at 120 BPM" in capsys.readouterr().out

    assert main(["generate", "funk", "--model", "composer", "--loop", "--bars", "4",
                 "--output", str(out)]) == 1  # fmt: skip
    assert "INVALID_LOOP" in capsys.readouterr().err
    assert main(["generate", "funk", "--model", "composer", "--bars", "4",
                 "--output", str(out)]) == 1  # fmt: skip
    assert "INVALID_LOOP" in capsys.readouterr().err


def test_models_list_shows_the_licence(capsys):
    assert main(["models", "list", "composer", "musicgen-small"]) == 0
    import re

    lines = capsys.readouterr().out.splitlines()
    assert re.search(r"\scached\s+licence\s+capabilities$", lines[0])
    # the licence follows the cached column (yes/no)
    licences = {line.split()[0]: re.search(r"\s(?:yes|no)\s+(\S+)", line)[1] for line in lines[2:]}
    assert licences == {"composer": "mit", "musicgen-small": "cc-by-nc-4.0"}


def test_plan_then_generate_with_the_plan(tmp_path, capsys):
    assert main(["plan", "calm lofi piano", "--duration", "12", "--seed", "2"]) == 0
    drafted = capsys.readouterr().out
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(drafted)
    out = tmp_path / "planned.wav"
    args = ["generate", "--plan", str(plan_file), "--model", "composer", "-o", str(out), "-q"]
    assert main([*args, "--seed", "3"]) == 0
    data, rate = sf.read(out)
    assert (rate, data.shape[0]) == (44100, 12 * 44100)
    assert main(["plan", "lofi", "--duration", "12", "--shape", "elevenlabs"]) == 0
    assert "positive_global_styles" in capsys.readouterr().out
    plan_file.write_text('{"sections": [{"name": "a", "duration": 1}]}')
    assert main(["generate", "--plan", str(plan_file), "--model", "composer", "-o", str(out)]) == 1
    assert "INVALID_PLAN" in capsys.readouterr().err


def test_edit_replace_and_extend_a_planned_piece(tmp_path, capsys):
    """``music-gen edit replace`` makes one plan section again (every other sample as it was);
    ``edit extend`` adds seconds after a prompt, or a plan's sections, after exactly the source."""
    plan = tmp_path / "plan.json"
    plan.write_text('{"sections": [{"name": "Verse", "duration": 3}, '
                    '{"name": "Chorus", "duration": 4, "styles": ["loud"]}]}')  # fmt: skip
    song, again, longer = tmp_path / "song.wav", tmp_path / "again.wav", tmp_path / "longer.wav"
    common = ["--model", "composer", "-q"]
    assert main(["generate", "--plan", str(plan), "--seed", "1", "-o", str(song), *common]) == 0
    replace = ["edit", "replace", str(song), "--plan", str(plan), "--section", "Chorus",
               "--seed", "5", "-o", str(again), *common]  # fmt: skip
    assert main(replace) == 0
    before, rate = sf.read(song, dtype="float32")
    after, _ = sf.read(again, dtype="float32")
    np.testing.assert_array_equal(after[: 3 * rate], before[: 3 * rate])
    assert not np.array_equal(after[3 * rate :], before[3 * rate :])
    extend = ["edit", "extend", str(song), "--duration", "2", "--prompt", "calm outro",
              "-o", str(longer), *common]  # fmt: skip
    assert main(extend) == 0
    data, _ = sf.read(longer, dtype="float32")
    assert len(data) == len(before) + 2 * rate
    np.testing.assert_array_equal(data[: len(before)], before)
    assert main(["edit", "replace", str(song), "-o", str(longer), *common]) == 1
    assert "INVALID_PLAN" in capsys.readouterr().err
    assert main(["edit", "extend", str(song), "-o", str(longer), *common]) == 1
    assert "INVALID_PLAN" in capsys.readouterr().err


def test_stable_audio_3_with_guidance_and_a_negative_prompt(sa3_pipeline, sa3, tmp_path, capsys):
    """The CLI's file is the library's output for the same options (both as 16-bit WAV)."""
    out, ref = tmp_path / "cli.wav", tmp_path / "lib.wav"
    args = ["generate", "warm pads", "--model", str(sa3_pipeline), "--duration", "0.5",
            "--seed", "7", "--steps", "2", "--guidance", "3", "--negative-prompt", "vocals",
            "-o", str(out), "-q"]  # fmt: skip
    assert main(args) == 0
    sa3.generate("warm pads", duration=0.5, seed=7, steps=2, guidance_scale=3.0,
                 negative_prompt="vocals").save(ref)  # fmt: skip
    np.testing.assert_array_equal(sf.read(out)[0], sf.read(ref)[0])
    # repaint through `music-gen edit`: outside the range, the source's samples
    edited = tmp_path / "edited.wav"
    edit = ["edit", "repaint", str(out), "--model", str(sa3_pipeline), "--start", "0.1",
            "--end", "0.3", "--prompt", "drums", "--steps", "2", "-o", str(edited),
            "-q"]  # fmt: skip
    assert main(edit) == 0
    before, after = sf.read(out, dtype="float32")[0], sf.read(edited, dtype="float32")[0]
    cut = round(0.1 * 44100) - 1
    np.testing.assert_array_equal(after[:cut], before[:cut])
    np.testing.assert_array_equal(after[round(0.3 * 44100) + 1 :], before[round(0.3 * 44100) + 1 :])


def test_a_negative_prompt_on_musicgen_names_the_capability(checkpoints, tmp_path, capsys):
    args = ["generate", "pop", "--model", str(checkpoints["mono"]), "--negative-prompt", "x",
            "--duration", "0.2", "-o", str(tmp_path / "x.wav"), "-q"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "UNSUPPORTED_FEATURE" in err and "'negative_prompt'" in err
