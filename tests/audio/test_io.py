"""Tests of ``load_audio``: every source kind, the checks, channel and rate conversion."""

from __future__ import annotations

import contextlib
import io
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from music_gen.audio import AudioOutput, load_audio
from music_gen.audio.io import CONTAINERS, DecodeLimits, probe_audio, scan_audio
from music_gen.errors import InvalidInput

SR = 32000


def sine(freq: float, n: int, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


def stereo(n: int = SR, sr: int = SR) -> np.ndarray:
    return np.stack([sine(440, n, sr, 0.5), sine(660, n, sr, 0.25)])


def write(path: Path, samples: np.ndarray, sr: int = SR, **kwargs: str) -> Path:
    sf.write(path, samples.T, sr, **kwargs)
    return path


def invalid(code: str, **kwargs: object) -> InvalidInput:
    """Call ``load_audio(**kwargs)`` and return the InvalidInput, checking its code."""
    with pytest.raises(InvalidInput) as info:
        load_audio(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == code, info.value
    return info.value


# -- sources -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_file_of_each_format(tmp_path: Path, fmt: str) -> None:
    original = stereo()
    path = write(tmp_path / f"in.{fmt}", original)
    audio = load_audio(path)
    assert isinstance(audio, AudioOutput)
    assert (audio.channels, audio.sample_rate) == (2, SR)
    assert abs(audio.num_samples - SR) <= (0.01 * SR if fmt == "ogg" else 0)
    n = min(audio.num_samples, SR)
    assert np.corrcoef(audio.samples[0, :n], original[0, :n])[0, 1] > 0.99
    assert np.abs(audio.samples[0]).max() > 1.5 * np.abs(audio.samples[1]).max()


def test_str_path_and_int_pcm_file(tmp_path: Path) -> None:
    path = write(tmp_path / "in.wav", stereo(), subtype="PCM_24")
    audio = load_audio(str(path))
    assert audio.samples.dtype == np.float32
    np.testing.assert_allclose(audio.samples, stereo(), atol=1e-6)


def test_bytes_source() -> None:
    buffer = io.BytesIO()
    sf.write(buffer, stereo().T, 44100, format="FLAC")
    audio = load_audio(buffer.getvalue())
    assert (audio.channels, audio.sample_rate, audio.num_samples) == (2, 44100, SR)
    assert load_audio(bytearray(buffer.getvalue())).num_samples == SR


def test_numpy_sources() -> None:
    mono = load_audio(sine(440, 1000), sample_rate=SR)
    assert mono.samples.shape == (1, 1000)
    both = load_audio(stereo(), sample_rate=16000)
    assert (both.channels, both.sample_rate) == (2, 16000)
    np.testing.assert_array_equal(both.samples, stereo())


def test_numpy_source_is_copied() -> None:
    array = sine(440, 1000)
    audio = load_audio(array, sample_rate=SR)
    array[:] = 0
    assert np.any(audio.samples)


def test_torch_sources() -> None:
    tensor = torch.from_numpy(stereo())
    audio = load_audio(tensor, sample_rate=SR)
    np.testing.assert_array_equal(audio.samples, stereo())
    tensor.zero_()
    assert np.any(audio.samples)  # copied, not a view of the tensor
    half = load_audio(torch.ones(2000, dtype=torch.bfloat16, requires_grad=True), sample_rate=SR)
    assert half.samples.shape == (1, 2000)
    assert half.samples.dtype == np.float32


def test_audio_output_source_is_copied() -> None:
    source = AudioOutput(stereo(), SR, {"prompt": "p"})
    audio = load_audio(source)
    assert audio is not source
    assert audio.metadata == {"prompt": "p"}
    audio.samples[:] = 0
    assert np.any(source.samples)


def test_array_needs_sample_rate() -> None:
    err = invalid("INVALID_SAMPLE_RATE", source=sine(440, 1000), name="melody audio")
    assert "melody audio" in err.message
    invalid("INVALID_SAMPLE_RATE", source=torch.zeros(1000))


@pytest.mark.parametrize("rate", [0, -1, 500_000, 44100.0])
def test_bad_source_sample_rate(rate: object) -> None:
    invalid("INVALID_SAMPLE_RATE", source=sine(440, 1000), sample_rate=rate)


def test_sample_rate_disagreeing_with_file(tmp_path: Path) -> None:
    path = write(tmp_path / "in.wav", stereo())
    invalid("INVALID_SAMPLE_RATE", source=path, sample_rate=44100)
    assert load_audio(path, sample_rate=SR).sample_rate == SR


# -- rejections --------------------------------------------------------------------------------


def test_missing_file_names_the_input(tmp_path: Path) -> None:
    err = invalid("INVALID_AUDIO", source=tmp_path / "nope.wav", name="melody audio")
    assert err.message.startswith("melody audio")
    assert "not found" in err.message


def test_directory_is_not_audio(tmp_path: Path) -> None:
    invalid("INVALID_AUDIO", source=tmp_path)


def test_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 50)
    err = invalid("INVALID_AUDIO", source=path, name="melody audio")
    assert "melody audio" in err.message


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage" * 100])
def test_bad_bytes(data: bytes) -> None:
    invalid("INVALID_AUDIO", source=data)


def test_unsupported_source_type() -> None:
    invalid("INVALID_AUDIO", source=12345)


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.wav", np.zeros((1, 0), np.float32))
    invalid("INVALID_AUDIO", source=path)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((1, 0), np.float32),
        np.array([0.0, np.nan] * 1000, np.float32),
        np.full(1000, np.inf),
        np.zeros((1, 2, 1000), np.float32),
    ],
)
def test_bad_arrays(array: np.ndarray) -> None:
    err = invalid("INVALID_AUDIO", source=array, sample_rate=SR, name="melody audio")
    assert "melody audio" in err.message


@pytest.mark.parametrize(("sr", "shortest"), [(32000, 640), (16000, 320), (48000, 960)])
def test_minimum_length_is_20_ms(sr: int, shortest: int) -> None:
    err = invalid("INVALID_AUDIO", source=sine(440, shortest - 1, sr), sample_rate=sr)
    assert "too short" in err.message
    assert load_audio(sine(440, shortest, sr), sample_rate=sr).num_samples == shortest


def test_require_sound_rejects_digital_silence(tmp_path: Path) -> None:
    silent = np.zeros((2, SR), np.float32)
    err = invalid(
        "INVALID_AUDIO", source=silent, sample_rate=SR, require_sound=True, name="melody audio"
    )
    assert "silent" in err.message
    assert load_audio(silent, sample_rate=SR).channels == 2  # allowed unless asked
    path = write(tmp_path / "silent.flac", silent)
    invalid("INVALID_AUDIO", source=path, require_sound=True)
    quiet = silent.copy()
    quiet[0, 100] = 1e-4
    assert load_audio(quiet, sample_rate=SR, require_sound=True).num_samples == SR


# -- conversion --------------------------------------------------------------------------------


def test_stereo_to_mono_averages() -> None:
    audio = load_audio(stereo(), sample_rate=SR, channels=1)
    assert audio.channels == 1
    np.testing.assert_allclose(audio.samples[0], stereo().mean(axis=0), atol=1e-7)


def test_mono_to_stereo_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path / "mono.wav", sine(440, SR)[np.newaxis], subtype="FLOAT")
    audio = load_audio(path, channels=2)
    assert audio.channels == 2
    np.testing.assert_array_equal(audio.samples[0], audio.samples[1])
    np.testing.assert_array_equal(audio.samples[0], sine(440, SR))


def test_matching_channels_are_kept() -> None:
    audio = load_audio(stereo(), sample_rate=SR, channels=2)
    np.testing.assert_array_equal(audio.samples, stereo())


@pytest.mark.parametrize(("have", "want"), [(3, 2), (1, 3), (2, 4)])
def test_other_channel_conversions_are_refused(have: int, want: int) -> None:
    samples = np.tile(sine(440, SR), (have, 1))
    err = invalid("INVALID_AUDIO", source=samples, sample_rate=SR, channels=want, name="clip")
    assert "channels" in err.message


@pytest.mark.parametrize("channels", [0, -1, True, 1.0])
def test_bad_channels_argument(channels: object) -> None:
    invalid("INVALID_INPUT", source=stereo(), sample_rate=SR, channels=channels)


def test_resampling_file(tmp_path: Path) -> None:
    path = write(tmp_path / "in.wav", stereo(44100, 44100), 44100)
    audio = load_audio(path, target_sample_rate=SR)
    assert (audio.channels, audio.sample_rate, audio.num_samples) == (2, SR, SR)
    spectrum = np.abs(np.fft.rfft(audio.samples[0]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 s of audio: bins are 1 Hz


def test_resampling_with_channel_conversion() -> None:
    mono = load_audio(stereo(48000, 48000), sample_rate=48000, target_sample_rate=SR, channels=1)
    assert (mono.channels, mono.sample_rate, mono.num_samples) == (1, SR, SR)
    wide = load_audio(sine(440, 22050, 22050), sample_rate=22050, target_sample_rate=SR, channels=2)
    assert (wide.channels, wide.sample_rate, wide.num_samples) == (2, SR, SR)
    np.testing.assert_array_equal(wide.samples[0], wide.samples[1])


def test_too_short_is_judged_before_resampling() -> None:
    # 639 samples at 32 kHz stay too short even when asked for 48 kHz (958 samples after).
    invalid("INVALID_AUDIO", source=sine(440, 639), sample_rate=SR, target_sample_rate=48000)


@pytest.mark.parametrize("rate", [0, 1_000_000, "32000"])
def test_bad_target_sample_rate(rate: object) -> None:
    invalid("INVALID_SAMPLE_RATE", source=stereo(), sample_rate=SR, target_sample_rate=rate)


# -- decode safety (hostile findings 1 and 12) -------------------------------------------------


def _encoded(
    rate: int, channels: int, seconds: float, fmt: str = "FLAC", noise: bool = False
) -> bytes:
    """Encoded audio written block by block (a long file never sits in memory whole)."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with sf.SoundFile(buffer, "w", rate, channels, format=fmt) as f:
        left = int(rate * seconds)
        while left:
            n = min(left, 1 << 16)
            block = rng.uniform(-0.3, 0.3, (n, channels)) if noise else np.zeros((n, channels))
            f.write(block.astype(np.float32))
            left -= n
    return buffer.getvalue()


def _peak_traced(fn: Callable[[], object]) -> int:
    """The most memory Python and numpy held above the start while ``fn`` ran (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with contextlib.suppress(InvalidInput):
            fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    """Finding 1: a small FLAC of silence declaring 8 channels at 384 kHz decoded whole (7 GB
    for 600 s). Here 4 s: 39 KB that decode to 12.3 M samples (49 MB as float32); with a bound
    of 1 M samples it is refused from its header, holding nothing like its decoded size."""
    bomb = _encoded(384_000, 8, 4.0)
    assert len(bomb) < 100_000
    limits = DecodeLimits(max_samples=1_000_000)
    peak = _peak_traced(lambda: load_audio(bomb, limits=limits))
    assert peak < 2_000_000, f"held {peak} bytes while refusing a 49 MB decode"
    err = invalid("INVALID_AUDIO", source=bomb, limits=limits)
    assert "too large to decode" in err.message
    assert err.details == {"samples": 384_000 * 8 * 4, "max_samples": 1_000_000}
    assert probe_audio(bomb).samples == 384_000 * 8 * 4  # the header, nothing decoded


def test_sample_rate_and_channels_are_bounded_from_the_header() -> None:
    data = _encoded(96_000, 3, 0.1)
    assert (
        "at most 48000 Hz"
        in invalid(
            "INVALID_AUDIO", source=data, limits=DecodeLimits(max_sample_rate=48_000)
        ).message
    )
    assert (
        "at most 2 are read"
        in invalid("INVALID_AUDIO", source=data, limits=DecodeLimits(max_channels=2)).message
    )


def test_a_header_that_lies_is_caught_while_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound holds while decoding too: a header declaring less than the file holds (here:
    the header check switched off) is refused once the decoded blocks pass the bound."""
    import music_gen.audio.io as audio_io

    monkeypatch.setattr(audio_io, "_check_header", lambda *args: None)
    data = _encoded(8000, 1, 30.0, noise=True)
    limits = DecodeLimits(max_samples=100_000)
    for decode in (load_audio, scan_audio):
        with pytest.raises(InvalidInput) as err:
            decode(data, limits=limits)
        assert "decodes to more than" in err.value.message


def test_decoding_holds_the_audio_once_and_scanning_one_block() -> None:
    """Blocks go straight into the [C, N] result (no [N, C] copy beside it), and ``scan_audio``
    keeps none of them: 20 s of 48 kHz stereo is 7.7 MB as float32."""
    data = _encoded(48_000, 2, 20.0, noise=True)
    decoded = 48_000 * 2 * 20 * 4
    assert _peak_traced(lambda: load_audio(data)) < 1.3 * decoded + 2_000_000
    assert _peak_traced(lambda: scan_audio(data)) < 0.25 * decoded
    info = scan_audio(data)
    assert (info.container, info.frames, info.channels, info.sample_rate) == (
        "flac", 48_000 * 20, 2, 48_000)  # fmt: skip


def _id3(size: int = 10) -> bytes:
    """An ID3v2.3 tag of ``size`` bytes (syncsafe length), padding only."""
    body = size - 10
    syncsafe = bytes([(body >> 21) & 127, (body >> 14) & 127, (body >> 7) & 127, body & 127])
    return b"ID3\x03\x00\x00" + syncsafe + b"\x00" * body


def test_the_container_is_what_the_bytes_say_and_libsndfile_reads() -> None:
    """Finding 1 (music-01): an ID3 tag before a FLAC is a FLAC, not an MP3; text behind an ID3
    tag or under an audio name is nothing."""
    flac, mp3 = _encoded(8000, 1, 1.0), _encoded(8000, 1, 1.0, "MP3")
    assert probe_audio(_id3(20) + flac).container == "flac"
    assert probe_audio(mp3).container == "mp3"
    assert probe_audio(_encoded(8000, 1, 1.0, "WAV")).container == "wav"
    assert probe_audio(_encoded(8000, 1, 1.0, "OGG")).container == "ogg"
    wav_or_mp3 = DecodeLimits(containers=("wav", "mp3"))
    err = invalid("INVALID_AUDIO", source=_id3(20) + flac, limits=wav_or_mp3)
    assert err.details["container"] == "flac" and "not a wav or mp3 file" in err.message
    invalid("INVALID_AUDIO", source=_id3(10) + b"not audio at all" * 64, limits=wav_or_mp3)
    aiff = io.BytesIO()
    sf.write(aiff, np.zeros(8000, np.float32), 8000, format="AIFF")
    assert load_audio(aiff.getvalue()).num_samples == 8000  # the library reads what it can
    assert invalid("INVALID_AUDIO", source=aiff.getvalue(), limits=DecodeLimits(
        containers=CONTAINERS)).details["container"] == "aiff"  # fmt: skip


def test_a_wav_declaring_a_huge_data_chunk_decodes_what_it_holds() -> None:
    wav = bytearray(_encoded(8000, 1, 1.0, "WAV"))
    at = wav.find(b"data")
    wav[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFF0)  # 4 GB declared
    wav[4:8] = struct.pack("<I", 0xFFFFFFF8)
    assert load_audio(bytes(wav), limits=DecodeLimits(max_samples=10_000)).num_samples == 8000


@pytest.mark.parametrize("data", [b"\x00\x01garbage" * 100, _id3(10) + b"\xff" * 200])
def test_messages_carry_no_heap_addresses(data: bytes) -> None:
    """Finding 12: INVALID_AUDIO messages showed ``<_io.BytesIO object at 0x7f6a…>``."""
    for call in (lambda: load_audio(data), lambda: probe_audio(data), lambda: scan_audio(data)):
        with pytest.raises(InvalidInput) as err:
            call()
        assert " at 0x" not in err.value.message and "object" not in err.value.message
