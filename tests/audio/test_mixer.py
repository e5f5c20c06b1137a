"""AudioMixer: pan law, levels, resampling, effects that do what they say, mastering targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from music_gen import AudioOutput, InvalidInput
from music_gen.audio.mixer import PRESETS, AudioMixer, instrument_family, true_peak_db
from music_gen.audio.output import _integrated_loudness

SR = 32000


def tone(freq=440.0, seconds=1.0, amp=0.3, sr=SR, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return AudioOutput(np.tile(x, (channels, 1)), sr)


def clicks(seconds=2.0, every=0.5, sr=SR):
    x = np.zeros(int(seconds * sr), dtype=np.float32)
    rng = np.random.default_rng(0)
    for start in np.arange(0, seconds, every):
        i = int(start * sr)
        n = int(0.02 * sr)
        x[i : i + n] += (rng.standard_normal(n) * np.exp(-np.arange(n) / 80)).astype(np.float32)
    return AudioOutput(np.clip(x, -1, 1), sr)


def rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def test_constant_power_pan_law():
    mixer = AudioMixer()
    left = mixer.mix_tracks({"a": tone()}, panning={"a": -1.0})
    assert np.abs(left.samples[1]).max() == 0.0 and np.abs(left.samples[0]).max() > 0.2
    right = mixer.mix_tracks({"a": tone()}, panning={"a": 1.0})
    assert np.abs(right.samples[0]).max() == 0.0
    for pan in (-0.7, -0.2, 0.0, 0.4, 0.9):  # total power does not change with the pan
        out = mixer.mix_tracks({"a": tone()}, panning={"a": pan}).samples
        assert rms(out[0]) ** 2 + rms(out[1]) ** 2 == pytest.approx(
            rms(tone().samples) ** 2, rel=1e-3
        )
    centre = mixer.mix_tracks({"a": tone()}).samples
    assert rms(centre[0]) == pytest.approx(rms(tone().samples) / math.sqrt(2), rel=1e-3)


def test_levels_resampling_alignment_and_no_clipping():
    mixer = AudioMixer()
    quiet = mixer.mix_tracks({"a": tone()}, levels={"a": -6.0}).samples
    loud = mixer.mix_tracks({"a": tone()}, levels={"a": 0.0}).samples
    assert rms(quiet) / rms(loud) == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    mix = mixer.mix_tracks(
        {"long": tone(seconds=1.5, sr=44100), "short": tone(220, 0.5, channels=2)}
    )
    assert mix.sample_rate == 44100 and mix.channels == 2
    assert mix.num_samples == int(1.5 * 44100)
    hot = mixer.mix_tracks([tone(amp=0.9), tone(amp=0.9), tone(amp=0.9)], levels=[6, 6, 6])
    assert np.abs(hot.samples).max() <= 10 ** (-1 / 20) + 1e-6


def test_reverb_lengthens_decay_and_compressor_reduces_crest():
    mixer = AudioMixer()
    dry = clicks(seconds=1.0, every=2.0)  # one click, then silence
    wet = mixer.apply_effects(dry, [{"type": "reverb", "room_size": 0.9, "wet_level": 0.5}])
    tail = slice(int(0.3 * SR), int(0.9 * SR))
    assert rms(wet.samples[:, tail]) > 100 * rms(dry.samples[:, tail]) + 1e-6
    t = np.arange(2 * SR) / SR
    x = 0.05 * np.sin(2 * np.pi * 220 * t)
    for start in range(0, 2 * SR, SR // 4):  # loud 10 ms hits over a quiet bed
        x[start : start + SR // 100] += 0.8 * np.sin(2 * np.pi * 1000 * t[: SR // 100])
    music = AudioOutput(x.astype(np.float32), SR)
    squashed = mixer.apply_effects(
        music,
        [{"type": "compressor", "threshold_db": -20, "ratio": 10, "attack_ms": 0.1,
          "release_ms": 20}],
    )  # fmt: skip

    def crest(x):
        return float(np.abs(x).max()) / rms(x)

    assert crest(squashed.samples) < 0.8 * crest(music.samples)
    low = mixer.apply_effects(tone(8000), [{"type": "lowpass", "cutoff_hz": 500}])
    assert rms(low.samples) < 0.1 * rms(tone(8000).samples)


@pytest.mark.parametrize(
    ("chain", "needle"),
    [
        ([{"type": "flanger"}], "flanger"),
        ([{"type": "reverb", "size": 0.5}], "size"),
        ([{"type": "reverb", "room_size": 3}], "room_size"),
        ([{"type": "compressor", "ratio": "hard"}], "ratio"),
        ([{"room_size": 0.5}], "type"),
        ({"type": "reverb"}, "list"),
    ],
)
def test_invalid_effect_specs_fail_clearly(chain, needle):
    with pytest.raises(InvalidInput) as err:
        AudioMixer().apply_effects(tone(), chain)
    assert err.value.code == "INVALID_EFFECT" and needle in err.value.message


@pytest.mark.parametrize(("target", "headroom"), [(-14.0, 1.0), (-9.0, 1.0), (-23.0, 2.0)])
def test_master_hits_loudness_and_true_peak(target, headroom):
    rng = np.random.default_rng(1)
    t = np.arange(3 * SR) / SR
    music = 0.05 * np.sin(2 * np.pi * 110 * t) + 0.02 * rng.standard_normal(t.size)
    music[:: SR // 4] += 0.6  # sharp transients that the limiter must catch
    stereo = AudioOutput(np.stack([music, 0.8 * music]).astype(np.float32), SR)
    out = AudioMixer().master(stereo, target_lufs=target, headroom_db=headroom)
    assert _integrated_loudness(out.samples.astype(np.float64), SR) == pytest.approx(
        target, abs=0.5
    )
    assert true_peak_db(out.samples, SR) <= -headroom + 1e-3
    assert out.metadata["master"]["target_lufs"] == target


def test_presets_apply_by_instrument_family():
    assert instrument_family("Walking bass line") == "bass"
    assert instrument_family("Jazz piano comping") == "keys"
    assert instrument_family("Swing drums") == "drums"
    tracks = {"piano": tone(440), "bass": tone(55), "drums": clicks()}
    for name in PRESETS:
        mix = AudioMixer().mix_tracks(tracks, preset=name)
        assert mix.metadata["mix"]["preset"] == name and np.abs(mix.samples).max() > 0
    jazz = AudioMixer().mix_tracks(tracks, preset="jazz_club", levels={"piano": -20})
    assert jazz.metadata["mix"]["levels_db"]["piano"] == -20  # explicit beats preset
    with pytest.raises(InvalidInput) as err:
        AudioMixer().mix_tracks(tracks, preset="polka")
    assert "jazz_club" in err.value.message
    with pytest.raises(InvalidInput):
        AudioMixer().mix_tracks(tracks, levels={"tuba": 0})
    with pytest.raises(InvalidInput):
        AudioMixer().mix_tracks(tracks, panning={"piano": 2})
