"""Loops: exact length on the beat grid, a seamless wrap, and smpl/acid chunks in the WAV.

The chunks are read back with the small RIFF parser below, written from the RIFF layout
(tag, little-endian uint32 size, body, pad byte to an even size), not with the writer's code.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from music_gen.audio import AudioOutput
from music_gen.audio.loop import (
    LoopSpec,
    beat_phase,
    loop_source_seconds,
    make_loop,
    music_step,
    wrap_jump,
)
from music_gen.errors import InvalidInput


def riff_chunks(data: bytes) -> dict[str, bytes]:
    """``{tag: body}`` of a RIFF/WAVE file; checks the RIFF size and the even alignment."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    (riff_size,) = struct.unpack("<I", data[4:8])
    assert riff_size == len(data) - 8
    chunks, pos = {}, 12
    while pos < len(data):
        assert pos % 2 == 0
        tag = data[pos : pos + 4].decode("ascii")
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks[tag] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return chunks


def music(seconds: float, rate: int, bpm: float = 120.0, phase: float = 0.0, seed: int = 0):
    """Stereo test music: drifting tones plus a decaying thump on every beat from ``phase``,
    accented on each bar's first beat."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    x = np.zeros((2, t.size))
    for f in (110.0, 220.7, 331.3, 443.9):
        x += 0.08 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (2, 1)))
    beat = 60.0 / bpm
    n = np.arange(round(0.15 * rate))
    thump = np.sin(2 * np.pi * 70 * n / rate) * np.exp(-n / (0.03 * rate))
    hiss = rng.normal(0, 1, n.size) * np.exp(-n / (0.005 * rate))
    for k, start in enumerate(np.arange(phase, seconds - 0.15, beat)):
        s = round(start * rate)
        gain = 0.5 if k % 4 == 0 else 0.25
        x[:, s : s + n.size] += gain * (thump + 0.2 * hiss)
    return x.astype(np.float32)


@pytest.mark.parametrize("rate", [32000, 44100, 48000])
def test_four_bars_at_120_bpm_are_exactly_eight_seconds(rate: int) -> None:
    spec = LoopSpec.validate(120, 4)
    assert spec.seconds == 8.0 and spec.beats == 16
    source = AudioOutput(music(loop_source_seconds(spec, 300.0), rate), rate)
    loop = make_loop(source, spec)
    assert loop.num_samples == 8 * rate
    assert loop.duration == 8.0
    assert loop.metadata["loop"]["samples"] == 8 * rate
    # 3 bars of 3/4 at 97 BPM: 9 beats, rounded to whole samples
    odd = LoopSpec.validate(97, 3, 3)
    assert odd.samples(rate) == round(9 * 60 / 97 * rate)


@pytest.mark.parametrize("rate", [32000, 44100, 48000])
def test_the_wrap_is_no_larger_than_the_musics_own_steps(rate: int) -> None:
    spec = LoopSpec.validate(120, 4)
    x = music(10.0, rate, seed=rate)
    loop = make_loop(AudioOutput(x, rate), spec)
    own = music_step(loop.samples)
    assert wrap_jump(loop.samples) <= own
    assert loop.metadata["loop"]["wrap_jump"] <= loop.metadata["loop"]["music_step_p99"]
    # the head now continues the music from the loop's end: its first sample is the one that
    # followed the last in the source
    first = round(loop.metadata["loop"]["start_s"] * rate)
    np.testing.assert_allclose(loop.samples[:, 0], x[:, first + 8 * rate], atol=1e-6)
    np.testing.assert_allclose(loop.samples[:, -1], x[:, first + 8 * rate - 1], atol=1e-6)


def test_without_the_crossfade_the_same_cut_clicks() -> None:
    """A tone whose phase at the loop's end does not meet its start: a plain cut jumps far
    beyond the music's steps, the crossfaded loop does not."""
    rate, spec = 44100, LoopSpec.validate(120, 4)
    t = np.arange(10 * rate) / rate
    x = 0.5 * np.sin(2 * np.pi * 440.0625 * t + 0.3).astype(np.float32)  # [N]
    plain = x[: spec.samples(rate)]
    assert wrap_jump(plain) > 5 * music_step(plain)
    loop = make_loop(AudioOutput(x, rate), spec, start=0.0)
    assert wrap_jump(loop.samples) <= music_step(loop.samples)


@pytest.mark.parametrize("curve", ["equal_power", "linear"])
def test_crossfade_curves_and_lengths(curve: str) -> None:
    rate, spec = 32000, LoopSpec.validate(90, 2)
    x = music(loop_source_seconds(spec, 300.0), rate, bpm=90)
    loop = make_loop(AudioOutput(x, rate), spec, crossfade=0.05, curve=curve, start=0.0)
    assert loop.metadata["loop"]["crossfade_s"] == pytest.approx(0.05, abs=1 / rate)
    assert loop.metadata["loop"]["curve"] == curve
    first = round(loop.metadata["loop"]["start_s"] * rate)
    assert first <= 32  # the 1 ms nudge
    length = spec.samples(rate)  # past the crossfade, the loop is the source as it was
    np.testing.assert_array_equal(loop.samples[:, 1600:], x[:, first + 1600 : first + length])
    assert wrap_jump(loop.samples) <= music_step(loop.samples)


@pytest.mark.parametrize("rate", [32000, 44100, 48000])
@pytest.mark.parametrize("phase", [0.0, 0.137, 0.31])
def test_beat_phase_finds_the_grid(rate: int, phase: float) -> None:
    x = music(6.0, rate, phase=phase)
    found = beat_phase(x, rate, 120)
    assert abs(found - phase) < 0.006
    spec = LoopSpec.validate(120, 2)
    loop = make_loop(AudioOutput(x, rate), spec)
    assert abs(loop.metadata["loop"]["start_s"] - phase) < 0.007  # grid estimate + 1 ms nudge


def test_wav_loop_carries_smpl_and_acid_chunks(tmp_path) -> None:
    rate, spec = 44100, LoopSpec.validate(120, 4)
    loop = make_loop(AudioOutput(music(10.0, rate), rate), spec)
    path = loop.save(tmp_path / "loop.wav")
    data = path.read_bytes()
    chunks = riff_chunks(data)
    assert {"fmt ", "data", "smpl", "acid"} <= chunks.keys()

    smpl = chunks["smpl"]
    head = struct.unpack("<9I", smpl[:36])
    period_ns, unity_note, loop_count = head[2], head[3], head[7]
    assert period_ns == round(1e9 / rate) and unity_note == 60 and loop_count == 1
    _cue, kind, start, end, _fraction, plays = struct.unpack("<6I", smpl[36:60])
    assert (kind, start, end, plays) == (0, 0, 8 * rate - 1, 0)  # forward, whole file, forever

    acid = chunks["acid"]
    assert len(acid) == 24
    flags, root, _, _, beats, denominator, numerator, tempo = struct.unpack("<IHHfIHHf", acid)
    assert not flags & 0x01  # not a one-shot: a loop
    assert flags & 0x04 and flags & 0x02  # stretch on, root note set
    assert (root, beats, numerator, denominator, tempo) == (60, 16, 4, 4, 120.0)

    # the file still decodes as before, every frame of the loop in it
    decoded, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert sr == rate and decoded.shape == (8 * rate, 2)
    # to_bytes carries them too (what the service stores), other formats and plain audio do not
    assert "acid" in riff_chunks(loop.to_bytes("wav", subtype="FLOAT"))
    assert "acid" not in riff_chunks(AudioOutput(loop.samples, rate).to_bytes("wav"))
    assert sf.info(io.BytesIO(loop.to_bytes("flac"))).frames == 8 * rate


def test_three_four_loop_writes_its_meter() -> None:
    rate, spec = 32000, LoopSpec.validate(90, 2, 3)
    loop = make_loop(AudioOutput(music(loop_source_seconds(spec, 300), rate, 90), rate), spec)
    acid = riff_chunks(loop.to_bytes("wav"))["acid"]
    _, _, _, _, beats, denominator, numerator, tempo = struct.unpack("<IHHfIHHf", acid)
    assert (beats, numerator, denominator, tempo) == (6, 3, 4, 90.0)
    assert loop.num_samples == 4 * rate


@pytest.mark.parametrize(
    ("bpm", "bars", "beats_per_bar", "code"),
    [
        (None, 4, 4, "INVALID_BPM"),
        (10, 4, 4, "INVALID_BPM"),
        (float("nan"), 4, 4, "INVALID_BPM"),
        (120, 0, 4, "INVALID_BARS"),
        (120, 2.5, 4, "INVALID_BARS"),
        (120, 4, 11, "INVALID_BARS"),
    ],
)
def test_bad_loop_parameters_are_refused(bpm, bars, beats_per_bar, code) -> None:
    with pytest.raises(InvalidInput) as info:
        LoopSpec.validate(bpm, bars, beats_per_bar)
    assert info.value.code == code


def test_too_little_audio_or_too_long_a_loop_is_refused() -> None:
    spec = LoopSpec.validate(120, 4)
    with pytest.raises(InvalidInput) as info:
        make_loop(AudioOutput(music(8.05, 32000), 32000), spec, start=0.0)
    assert info.value.code == "INVALID_LOOP"
    with pytest.raises(InvalidInput) as info:
        loop_source_seconds(spec, 8.0)
    assert info.value.code == "INVALID_DURATION"
    with pytest.raises(InvalidInput) as info:
        make_loop(AudioOutput(music(10, 32000), 32000), spec, curve="cubic")
    assert info.value.code == "INVALID_LOOP"
