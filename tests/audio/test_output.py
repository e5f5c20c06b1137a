"""Tests of ``AudioOutput``: coercion, encoding round trips, resampling, normalisation."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import torch

from music_gen.audio import AUDIO_FORMATS, NORMALIZATION_STRATEGIES, AudioOutput
from music_gen.errors import InvalidInput

SR = 32000


def sine(
    freq: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.5, phase: float = 0.0
) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def stereo(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    """Left and right differ (frequency and level) so that swapped channels are caught."""
    return np.stack([sine(440, seconds, sr, 0.5), sine(660, seconds, sr, 0.25)])


def lufs(samples: np.ndarray, sr: int) -> float:
    return float(pyloudnorm.Meter(sr).integrated_loudness(samples.T.astype(np.float64)))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


# -- construction ------------------------------------------------------------------------------


def test_mono_1d_becomes_one_channel_float32() -> None:
    audio = AudioOutput(np.linspace(-1, 1, 800, dtype=np.float64), SR)
    assert audio.samples.shape == (1, 800)
    assert audio.samples.dtype == np.float32
    assert audio.channels == 1
    assert audio.num_samples == 800
    assert audio.duration == pytest.approx(800 / SR)
    assert audio.metadata == {}


def test_stereo_shape_and_duration() -> None:
    audio = AudioOutput(stereo(1.5), SR, {"prompt": "x"})
    assert (audio.channels, audio.num_samples) == (2, 48000)
    assert audio.duration == pytest.approx(1.5)
    assert audio.metadata == {"prompt": "x"}


def test_integer_pcm_is_scaled_to_unit_range() -> None:
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    audio = AudioOutput(pcm, SR)
    assert audio.samples.dtype == np.float32
    np.testing.assert_allclose(audio.samples[0], [0.0, 0.5, -1.0, 32767 / 32768])
    unsigned = AudioOutput(np.array([128, 255, 0], dtype=np.uint8), SR)
    np.testing.assert_allclose(unsigned.samples[0], [0.0, 127 / 128, -1.0])


def test_torch_tensor_is_accepted() -> None:
    tensor = torch.tensor(stereo(0.1), dtype=torch.bfloat16, requires_grad=True)
    audio = AudioOutput(tensor, SR)  # type: ignore[arg-type]
    assert audio.samples.shape == (2, 3200)
    assert audio.samples.dtype == np.float32


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros((1, 2, 100), np.float32),  # 3-D
        np.array(0.5, np.float32),  # 0-D
        np.zeros((0, 100), np.float32),  # no channels
        np.zeros((32000, 2), np.float32),  # [samples, channels]
        np.array([0.0, np.nan, 0.0], np.float32),
        np.array([0.0, np.inf], np.float64),
        np.array([1e300], np.float64),  # overflows float32
        np.array([1 + 1j]),
        np.array(["a", "b"]),
    ],
)
def test_bad_samples_raise_invalid_audio(samples: np.ndarray) -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(samples, SR)
    assert info.value.code == "INVALID_AUDIO"


@pytest.mark.parametrize("rate", [0, -1, 400_000, 44100.0, True, "32000"])
def test_bad_sample_rate(rate: object) -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440, 0.1), rate)  # type: ignore[arg-type]
    assert info.value.code == "INVALID_SAMPLE_RATE"


def test_repr_is_short_and_has_no_samples() -> None:
    audio = AudioOutput(np.full((2, 96000), 0.123456, np.float32), SR, {"seed": 1})
    text = repr(audio)
    assert "channels=2" in text and "sample_rate=32000" in text and "3.000s" in text
    assert "0.123" not in text
    assert len(text) < 150


# -- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_save_round_trip(tmp_path: Path, fmt: str) -> None:
    original = stereo(1.0)
    audio = AudioOutput(original, SR)
    path = audio.save(tmp_path / f"clip.{fmt}")
    assert path == tmp_path / f"clip.{fmt}"
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    back = data.T
    assert rate == SR
    assert back.shape[0] == 2
    if fmt == "ogg":
        assert abs(back.shape[1] - original.shape[1]) <= 0.01 * original.shape[1]
    else:
        assert back.shape[1] == original.shape[1]
    if fmt in ("wav", "flac"):
        assert sf.info(str(path)).subtype == "PCM_16"
        np.testing.assert_allclose(back, original, atol=1 / 32768)
    else:
        for ch in range(2):
            assert corr(back[ch], original[ch]) > 0.99
    # channels not swapped: the left channel is the louder one
    assert np.abs(back[0]).max() > 1.5 * np.abs(back[1]).max()


def test_save_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = AudioOutput(sine(440), SR).save(tmp_path / "clip.bin", format="FLAC")
    assert path.suffix == ".bin"
    assert sf.info(str(path)).format == "FLAC"


def test_save_uppercase_extension(tmp_path: Path) -> None:
    path = AudioOutput(sine(440), SR).save(str(tmp_path / "CLIP.WAV"))
    assert sf.info(str(path)).format == "WAV"


def test_save_clips_integer_formats_without_mutating(tmp_path: Path) -> None:
    loud = np.array([sine(440, 0.1, amp=1.5)])
    audio = AudioOutput(loud, SR)
    back, _ = sf.read(audio.save(tmp_path / "loud.wav"), dtype="float32")
    assert np.abs(back).max() <= 1.0
    assert np.abs(back).max() > 0.999  # clipped at full scale, not wrapped around
    assert np.abs(back[np.abs(loud[0]) > 1]).min() > 0.999
    assert np.abs(audio.samples).max() == pytest.approx(1.5, abs=1e-3)


def test_save_clips_lossy_formats(tmp_path: Path) -> None:
    # Vorbis could carry 1.5; the encoder is given clipped samples, so it decodes near 1.
    path = AudioOutput(sine(440, 0.5, amp=1.5), SR).save(tmp_path / "loud.ogg")
    back, _ = sf.read(path, dtype="float32")
    assert 0.9 < np.abs(back).max() < 1.2


def test_save_float_subtype_keeps_values_beyond_full_scale(tmp_path: Path) -> None:
    loud = sine(440, 0.1, amp=1.5)
    path = AudioOutput(loud, SR).save(tmp_path / "loud.wav", subtype="FLOAT")
    back, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(back, loud)


@pytest.mark.parametrize("name", ["clip.xyz", "clip", "clip.aac"])
def test_save_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).save(tmp_path / name)
    assert info.value.code == "INVALID_FORMAT"
    assert all(fmt in info.value.message for fmt in AUDIO_FORMATS)
    assert not (tmp_path / name).exists()


def test_unknown_format_argument_and_subtype() -> None:
    audio = AudioOutput(sine(440), SR)
    with pytest.raises(InvalidInput) as info:
        audio.to_bytes("aiff")
    assert info.value.code == "INVALID_FORMAT"
    with pytest.raises(InvalidInput) as info:
        audio.to_bytes("flac", subtype="FLOAT")  # libsndfile's FLAC has no float subtype
    assert info.value.code == "INVALID_FORMAT"


def test_mp3_rejects_unsupported_sample_rate() -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440, sr=30000), 30000).to_bytes("mp3")
    assert info.value.code == "INVALID_SAMPLE_RATE"


def test_save_missing_parent(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).save(tmp_path / "nope" / "clip.wav")
    assert info.value.code == "INVALID_OUTPUT_PATH"


def test_save_to_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).save(tmp_path / "dir.wav")
    assert info.value.code == "INVALID_OUTPUT_PATH"


def test_save_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores permission bits, so the permission check is simulated.
    monkeypatch.setattr("music_gen.audio.output.os.access", lambda *a, **k: False)
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).save(tmp_path / "clip.wav")
    assert info.value.code == "INVALID_OUTPUT_PATH"
    assert not (tmp_path / "clip.wav").exists()


def test_save_write_error_becomes_invalid_output_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).save(tmp_path / "clip.wav")
    assert info.value.code == "INVALID_OUTPUT_PATH"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_save_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InvalidInput) as info:
            AudioOutput(sine(440), SR).save(locked / "clip.wav")
        assert info.value.code == "INVALID_OUTPUT_PATH"
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    ("fmt", "magic"), [("wav", b"RIFF"), ("flac", b"fLaC"), ("ogg", b"OggS"), ("mp3", b"")]
)
def test_to_bytes_decodes_back(fmt: str, magic: bytes) -> None:
    original = stereo(0.5)
    data = AudioOutput(original, SR).to_bytes(fmt)
    assert data.startswith(magic)
    back, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert rate == SR
    assert back.shape[1] == 2
    assert corr(back[:, 0], original[0]) > 0.99


def test_to_base64_decodes_to_the_same_audio() -> None:
    audio = AudioOutput(sine(440, 0.25), SR)
    text = audio.to_base64()
    assert isinstance(text, str)
    raw = base64.b64decode(text, validate=True)
    assert raw == audio.to_bytes("wav")
    back, rate = sf.read(io.BytesIO(raw), dtype="float32")
    assert rate == SR
    np.testing.assert_allclose(back, audio.samples[0], atol=1 / 32768)
    flac = base64.b64decode(audio.to_base64("flac"))
    assert flac.startswith(b"fLaC")


# -- resampling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "old", "new"),
    [
        (32000, 32000, 44100),
        (32001, 32000, 44100),
        (44100, 44100, 32000),
        (12345, 48000, 16000),
        (999, 22050, 48000),
        (641, 8000, 11025),
    ],
)
def test_resample_length_is_exact(n: int, old: int, new: int) -> None:
    audio = AudioOutput(np.random.default_rng(0).uniform(-0.5, 0.5, (2, n)), old)
    out = audio.resample(new)
    assert out.sample_rate == new
    assert out.samples.shape == (2, round(n * new / old))
    assert out.samples.dtype == np.float32


@pytest.mark.parametrize("error", [-1, 1])
def test_resample_fixes_soxr_length_off_by_one(monkeypatch: pytest.MonkeyPatch, error: int) -> None:
    import soxr

    real = soxr.resample

    def off_by_one(x: np.ndarray, old: int, new: int, quality: str = "HQ") -> np.ndarray:
        out = real(x, old, new, quality=quality)
        return out[:-1] if error < 0 else np.concatenate([out, out[-1:]])

    monkeypatch.setattr(soxr, "resample", off_by_one)
    out = AudioOutput(np.ones((2, 1000), np.float32) * 0.5, SR).resample(44100)
    assert out.samples.shape == (2, round(1000 * 44100 / SR))


@pytest.mark.parametrize("new", [16000, 44100, 48000])
def test_resample_keeps_sine_frequency(new: int) -> None:
    out = AudioOutput(sine(1000, 1.0), SR).resample(new)
    spectrum = np.abs(np.fft.rfft(out.samples[0]))
    freqs = np.fft.rfftfreq(out.num_samples, 1 / new)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1000, abs=2)
    assert np.abs(out.samples).max() == pytest.approx(0.5, abs=0.02)


def test_resample_keeps_channels_apart_and_copies_metadata() -> None:
    samples = np.stack([sine(440), np.zeros(SR, np.float32)])
    audio = AudioOutput(samples, SR, {"prompt": "p"})
    out = audio.resample(48000)
    assert np.abs(out.samples[1]).max() < 1e-6
    assert np.abs(out.samples[0]).max() > 0.45
    assert out.metadata == {"prompt": "p"}
    out.metadata["x"] = 1
    assert "x" not in audio.metadata


def test_resample_same_rate_returns_a_copy() -> None:
    audio = AudioOutput(sine(440), SR)
    out = audio.resample(SR)
    np.testing.assert_array_equal(out.samples, audio.samples)
    out.samples[0, 0] = 0.9
    assert audio.samples[0, 0] == 0.0


@pytest.mark.parametrize("rate", [0, -44100, 384_001, 44100.5, None])
def test_resample_bad_rate(rate: object) -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).resample(rate)  # type: ignore[arg-type]
    assert info.value.code == "INVALID_SAMPLE_RATE"


# -- normalisation -----------------------------------------------------------------------------


def music_like(seconds: float = 3.0, amp: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(1)
    tone = sine(220, seconds, amp=amp) + sine(330, seconds, amp=amp / 2)
    noise = rng.normal(0, amp / 10, tone.shape).astype(np.float32)
    return np.stack([tone + noise, 0.8 * tone - noise])


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_loudness_hits_target(target: float) -> None:
    audio = AudioOutput(music_like(), SR)
    assert abs(lufs(audio.samples, SR) - target) > 3  # it starts far from the target
    out = audio.normalize("loudness", target_lufs=target)
    assert lufs(out.samples, SR) == pytest.approx(target, abs=0.5)
    assert np.abs(out.samples).max() <= 1.0
    assert out.metadata["normalization"] == "loudness"
    assert "normalization" not in audio.metadata
    np.testing.assert_array_equal(audio.samples, music_like())  # input untouched


def test_loudness_default_target_is_minus_14() -> None:
    out = AudioOutput(music_like(), SR).normalize()
    assert lufs(out.samples, SR) == pytest.approx(-14.0, abs=0.5)


def test_loudness_scales_down_instead_of_clipping() -> None:
    clicks = np.zeros(3 * SR, np.float32)
    clicks[:: SR // 4] = 0.5  # sparse clicks: -14 LUFS would put their peaks far above 0 dBFS
    audio = AudioOutput(clicks, SR)
    out = audio.normalize("loudness")
    assert np.abs(out.samples).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(out.samples, audio.samples * 2.0, rtol=1e-5)  # proportional
    assert lufs(out.samples, SR) < -20  # the peak ceiling won over the loudness target


def test_loudness_short_clip_uses_estimate() -> None:
    # 500 Hz: K-weighting is ~0 dB there, so the unweighted estimate should be close.
    short = sine(500, 0.2, amp=0.01)  # shorter than pyloudnorm's 400 ms block
    out = AudioOutput(short, SR).normalize("loudness", target_lufs=-16.0)
    tiled = np.tile(out.samples, (1, 20))  # 4 s of the same level, measurable by pyloudnorm
    assert lufs(tiled, SR) == pytest.approx(-16.0, abs=0.3)


@pytest.mark.parametrize("strategy", NORMALIZATION_STRATEGIES)
def test_silence_stays_silent(strategy: str) -> None:
    out = AudioOutput(np.zeros((2, 3 * SR), np.float32), SR).normalize(strategy)
    assert not np.any(out.samples)
    assert out.metadata["normalization"] == strategy


def test_peak_default_headroom_is_one_db() -> None:
    audio = AudioOutput(music_like(), SR)
    out = audio.normalize("peak")
    assert np.abs(out.samples).max() == pytest.approx(10 ** (-1 / 20), abs=1e-6)
    ratio = out.samples[0, 100] / audio.samples[0, 100]
    np.testing.assert_allclose(out.samples, audio.samples * ratio, rtol=1e-5, atol=1e-7)


def test_peak_custom_headroom_scales_down_loud_audio() -> None:
    out = AudioOutput(sine(440, amp=3.0), SR).normalize("peak", headroom_db=6.0)
    assert np.abs(out.samples).max() == pytest.approx(10 ** (-6 / 20), abs=1e-6)


def test_rms_default_is_minus_18_dbfs() -> None:
    out = AudioOutput(music_like(), SR).normalize("rms")
    mono = out.samples.mean(axis=0)
    rms_db = 20 * np.log10(np.sqrt(np.mean(mono.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-18.0, abs=0.01)


def test_rms_limits_peaks_by_scaling() -> None:
    # RMS at 0 dBFS would put a sine's peak at +3 dBFS: it is scaled down to full scale.
    audio = AudioOutput(sine(440, amp=0.1), SR)
    out = audio.normalize("rms", headroom_db=0.0)
    assert np.abs(out.samples).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(out.samples, audio.samples * 10.0, rtol=1e-4, atol=1e-6)


def test_clip_clamps_only_what_exceeds_full_scale() -> None:
    samples = np.array([[0.5, 1.5, -2.0, -0.25, 1.0]], np.float32)
    out = AudioOutput(samples, SR).normalize("clip")
    np.testing.assert_array_equal(out.samples, [[0.5, 1.0, -1.0, -0.25, 1.0]])


@pytest.mark.parametrize("strategy", NORMALIZATION_STRATEGIES)
def test_no_strategy_exceeds_full_scale(strategy: str) -> None:
    loud = music_like(amp=3.0)
    assert np.abs(loud).max() > 2
    out = AudioOutput(loud, SR).normalize(strategy)
    assert np.abs(out.samples).max() <= 1.0
    assert np.abs(out.samples).max() > 0.1


def test_unknown_strategy() -> None:
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).normalize("lufs")
    assert info.value.code == "INVALID_NORMALIZATION"
    assert all(s in info.value.message for s in NORMALIZATION_STRATEGIES)


@pytest.mark.parametrize(
    "kwargs", [{"headroom_db": -1.0}, {"headroom_db": float("nan")}, {"target_lufs": 3.0}]
)
def test_bad_normalization_parameters(kwargs: dict[str, float]) -> None:
    strategy = "loudness" if "target_lufs" in kwargs else "peak"
    with pytest.raises(InvalidInput) as info:
        AudioOutput(sine(440), SR).normalize(strategy, **kwargs)
    assert info.value.code == "INVALID_NORMALIZATION"


# -- other -------------------------------------------------------------------------------------


def test_to_mono_averages_channels() -> None:
    samples = stereo(0.5)
    out = AudioOutput(samples, SR, {"a": 1}).to_mono()
    assert out.channels == 1
    np.testing.assert_allclose(out.samples[0], samples.mean(axis=0), atol=1e-7)
    assert out.metadata == {"a": 1}


def test_load_audio_reads_a_file(tmp_path: Path) -> None:
    from music_gen.audio import load_audio

    path = tmp_path / "in.flac"
    sf.write(path, stereo(0.5).T, 44100)
    audio = load_audio(path)
    assert (audio.channels, audio.sample_rate, audio.num_samples) == (2, 44100, 16000)
    mono = load_audio(path, target_sample_rate=SR, channels=1)
    assert (mono.channels, mono.sample_rate, mono.num_samples) == (1, SR, round(16000 * SR / 44100))
