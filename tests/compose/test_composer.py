"""The composer: deterministic, follows the prompt, stems on one grid, MIDI that matches."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from music_gen import MusicGenerator, UnsupportedFeature
from music_gen.cli import main
from music_gen.compose import Composer, plan_music
from music_gen.compose.arrange import arrange
from music_gen.compose.harmony import SCALES

SR = 44100


def onsets(samples: np.ndarray, sr: int = SR) -> np.ndarray:
    """Onset times (s): peaks of the rise in log energy over 2048-sample windows (long enough
    for a bass note's cycles), each dated at its window's end."""
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    hop, size = 128, 2048
    power = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
    starts = np.arange(0, len(mono) - size, hop)
    energy = power[starts + size] - power[starts]
    flux = np.maximum(0.0, np.diff(np.log(energy + 1e-9), prepend=np.log(1e-9)))
    threshold = max(0.3, np.percentile(flux, 97) * 0.4)
    rising = (flux > threshold) & (flux >= np.roll(flux, 1)) & (flux >= np.roll(flux, -1))
    peaks = np.flatnonzero(rising[1:-1]) + 1
    times: list[float] = []
    for i in peaks:
        t = (starts[i] + size) / sr
        if not times or t - times[-1] > 0.05:
            times.append(t)
    return np.array(times)


def tempo_from_onsets(times: np.ndarray, low: float, high: float) -> float:
    """The BPM in [low, high] whose 16th-note grid the onsets fit best (phase coherence)."""
    best, best_score = low, -1.0
    rel = times - times[0]
    for bpm in np.arange(low, high, 0.25):
        step = 60.0 / bpm / 4
        score = float(np.abs(np.mean(np.exp(2j * np.pi * rel / step))))
        if score > best_score + 1e-9:
            best, best_score = float(bpm), score
    return best


@pytest.fixture(scope="module")
def composer():
    return Composer()


def test_deterministic_per_seed_and_exact_duration(composer):
    a = composer.generate("upbeat funk with slap bass and horns", duration=6.3, seed=5)
    b = composer.generate("upbeat funk with slap bass and horns", duration=6.3, seed=5)
    c = composer.generate("upbeat funk with slap bass and horns", duration=6.3, seed=6)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.midi == b.midi and a.midi != c.midi
    assert a.num_samples == round(6.3 * SR) and a.channels == 2
    master = a.metadata["master"]
    assert abs(master["lufs"] + 14) < 0.5 and master["true_peak_dbtp"] <= -1.0 + 1e-3


def _found_tempo(composer, prompt):
    plan = composer.plan(prompt, 8.0, seed=1)
    times = onsets(composer.stems(plan)["drums"].samples)
    # the window only rules out octave errors; within it the grid must fit the audio
    return plan.tempo, tempo_from_onsets(times, plan.tempo / 1.45, plan.tempo * 1.45)


def test_tempo_words_change_the_bpm_found_by_onset_analysis(composer):
    planned, found = _found_tempo(composer, "funk groove at 120 bpm")
    assert planned == 120.0 and found == pytest.approx(120.0, rel=0.02)
    slow_plan, slow = _found_tempo(composer, "slow rock song")
    fast_plan, fast = _found_tempo(composer, "fast rock song")
    assert slow == pytest.approx(slow_plan, rel=0.02) and fast == pytest.approx(fast_plan, rel=0.02)
    assert slow < 0.7 * fast


def test_tempo_words_change_the_plan(composer):
    slow = composer.plan("slow jazz trio", 8.0, seed=1).tempo
    plain = composer.plan("jazz trio", 8.0, seed=1).tempo
    fast = composer.plan("fast jazz trio", 8.0, seed=1).tempo
    assert slow < plain < fast


@pytest.mark.parametrize(
    "prompt", ["sad piano ballad", "dark cinematic theme", "pop song in A minor"]
)
def test_minor_words_give_a_minor_key(composer, prompt):
    plan = composer.plan(prompt, 8.0, seed=2)
    assert plan.mode == "minor"
    midi = pretty_midi.PrettyMIDI(io.BytesIO(composer.generate(prompt, 6.0, seed=2).midi))
    tonic = plan.tonic
    pcs = {n.pitch % 12 for inst in midi.instruments if not inst.is_drum for n in inst.notes}
    assert (tonic + 3) % 12 in pcs and (tonic + 4) % 12 not in pcs  # minor third, no major
    assert pretty_midi.key_number_to_key_name(midi.key_signature_changes[0].key_number).endswith(
        "minor"
    )


def test_major_words_and_scales(composer):
    plan = composer.plan("happy bright pop song", 8.0, seed=3)
    assert plan.mode == "major"
    parts = arrange(plan)
    scale = {(plan.tonic + s) % 12 for s in SCALES["major"]}
    lead = next(notes for inst, notes in parts.values() if inst.role == "lead")
    assert {n.pitch % 12 for n in lead} <= scale


def test_named_instruments_get_their_gm_programs(composer):
    out = composer.generate("upbeat funk with slap bass and horns", duration=4.0, seed=1)
    midi = pretty_midi.PrettyMIDI(io.BytesIO(out.midi))
    programs = {i.program for i in midi.instruments if not i.is_drum}
    assert {36, 61} <= programs  # Slap Bass 1, Brass Section
    assert any(i.is_drum for i in midi.instruments)
    plan = out.metadata["plan"]
    assert plan["genre"] == "funk" and any("slap bass" in r for r in plan["reasons"])
    no_drums = composer.plan("ambient strings without drums", 4.0, seed=1)
    assert all(not i.is_drum for i in no_drums.instruments)


def test_midi_parses_and_matches_the_plan(composer):
    out = composer.generate("rock anthem at 140 bpm in E", duration=8.0, seed=4)
    plan = out.metadata["plan"]
    midi = pretty_midi.PrettyMIDI(io.BytesIO(out.midi))
    assert midi.get_tempo_changes()[1][0] == pytest.approx(140.0, rel=1e-3)
    assert midi.time_signature_changes[0].numerator == plan["meter"] == 4
    assert len(midi.instruments) == len(plan["instruments"])
    assert [i.program for i in midi.instruments] == [
        0 if i["is_drum"] else i["program"] for i in plan["instruments"]
    ]
    assert plan["key"] == "E" and midi.get_end_time() <= 8.0 + 60 / 140 * 4


def test_stems_line_up_on_one_beat_grid(composer):
    plan = composer.plan("jazz quartet with piano, bass, drums and sax", 6.0, seed=8)
    stems = composer.stems(plan)
    lengths = {s.num_samples for s in stems.values()}
    assert lengths == {round(6.0 * SR)}
    step = 60.0 / plan.tempo / 4
    swing = plan.swing * 60.0 / plan.tempo / 2
    parts = arrange(plan)

    def off_grid(t: float) -> float:  # distance to the nearest 16th step or its swung position
        k = int(t // step)
        return min(abs(t - j * step - d) for j in (k - 1, k, k + 1) for d in (0.0, swing))

    for _, notes in parts.values():
        assert max(off_grid(n.start) for n in notes) < 1e-6
    # in the audio: the sharp-attack stems (a bass sample's slow attack shifts its energy peak)
    keys = next(n for n, s in stems.items() if s.metadata["role"] == "comp")
    for name in ("drums", keys):
        detected = onsets(stems[name].samples)
        assert len(detected) > 4 and np.median([off_grid(t) for t in detected]) < 0.012, name


def test_music_generator_composer_and_cli(tmp_path, capsys):
    gen = MusicGenerator(model="composer")
    out = gen.generate("lofi hip hop beat", duration=3.0, seed=1)
    assert out.metadata["engine"] == "composer" and out.midi is not None
    with pytest.raises(UnsupportedFeature):
        gen.generate("x", duration=1.0, melody=out)
    code = main(["generate", "upbeat funk with slap bass and horns", "--model", "composer",
                 "-o", str(tmp_path / "funk.wav"), "--midi", str(tmp_path / "funk.mid"),
                 "--duration", "4", "-q"])  # fmt: skip
    assert code == 0 and (tmp_path / "funk.wav").stat().st_size > 0
    assert pretty_midi.PrettyMIDI(str(tmp_path / "funk.mid")).instruments


def test_default_model_falls_back_to_composer_with_a_notice(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["generate", "calm piano", "--duration", "2", "-o", str(tmp_path / "a.wav"),
                 "--cache-dir", str(tmp_path / "empty-cache"), "-q"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    notices = [line for line in captured.err.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1 and "composer" in notices[0]
    # a model named explicitly never falls back
    args = ["generate", "calm piano", "--model", "facebook/musicgen-small", "--duration", "2"]
    code = main([*args, "-o", str(tmp_path / "b.wav"), "--cache-dir", str(tmp_path / "c"), "-q"])
    assert code == 1 and "MODEL_NOT_AVAILABLE" in capsys.readouterr().err
    assert not (tmp_path / "b.wav").exists()


def test_plan_reasons_explain_the_choices():
    plan = plan_music("dark techno at 128 bpm with a synth bass", 10.0, seed=0)
    assert plan.genre == "edm" and plan.tempo == 128 and plan.mode == "minor"
    text = " ".join(plan.reasons)
    assert "techno" in text and "128 bpm" in text and "synth bass" in text and "dark" in text


def silent_gaps(audio, min_seconds: float = 0.04, below: float = 0.01) -> list[tuple[float, float]]:
    """Stretches of at least ``min_seconds`` where the mix's peak level stays under ``below``
    (-40 dB) of its median 5 ms peak, away from the first and last 0.3 s: the mix has gone
    silent mid-piece."""
    hop = round(audio.sample_rate * 0.005)
    peaks = np.abs(audio.samples).max(axis=0)
    n = peaks.size // hop
    frames = peaks[: n * hop].reshape(n, hop).max(axis=1)
    quiet = frames < below * np.median(frames)
    edge = round(0.3 / 0.005)
    gaps, i = [], edge
    while i < n - edge:
        if quiet[i]:
            j = i
            while j < n - edge and quiet[j]:
                j += 1
            if (j - i) * 0.005 >= min_seconds:
                gaps.append((i * 0.005, (j - i) * 0.005))
            i = j
        i += 1
    return gaps


@pytest.mark.parametrize(
    ("prompt", "seed"),
    [
        ("upbeat funk with slap bass and horns", 754063887),  # fell silent at 4.84 s and 6.91 s
        ("upbeat funk with slap bass and horns", 3),
        ("reggae one drop with organ", 11),
        ("lofi hip hop beat with rhodes", 5),
        ("jazz trio with walking bass", 8),
        ("epic cinematic orchestra", 2),
    ],
)
def test_the_mix_never_falls_silent_mid_groove(composer, prompt, seed):
    song = composer.generate(prompt, duration=15.0, seed=seed)
    assert silent_gaps(song) == []


def test_the_gap_finder_finds_a_gap():
    from music_gen import AudioOutput

    t = np.arange(44100 * 3) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    tone[int(1.5 * 44100) : int(1.57 * 44100)] = 0.0  # 70 ms of digital silence
    [(start, length)] = silent_gaps(AudioOutput(tone[None], 44100))
    assert start == pytest.approx(1.5, abs=0.01) and length == pytest.approx(0.07, abs=0.011)
