"""melody_chroma against transformers' MusicgenMelodyFeatureExtractor, plus musical sanity.

torchaudio cannot be imported here, so the equivalence tests run the real extractor code with a
stand-in ``torchaudio`` whose ``transforms.Spectrogram`` is a from-the-formula reimplementation of
torchaudio's documented definition (manual reflect padding, ``unfold`` framing, explicit periodic
Hann window, ``rfft``, division of the STFT by the window's L2 norm, ``|.|**2``), written
independently of ``music_gen.audio.chroma`` (which uses ``torch.stft``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import math
import sys
import types
from typing import Any

import numpy as np
import pytest
import torch

from music_gen.audio.chroma import ChromaConfig, _normalized_chroma, melody_chroma
from music_gen.errors import InvalidInput

SR = 32000
A, C, E, G = 9, 0, 4, 7  # pitch classes of chroma_filter_bank(start_at_c_chroma=True)


class _ReferenceSpectrogram(torch.nn.Module):
    """torchaudio.transforms.Spectrogram, only for the arguments the extractor passes."""

    def __init__(
        self,
        *,
        n_fft: int,
        win_length: int,
        hop_length: int,
        power: float,
        center: bool,
        pad: int,
        normalized: bool,
        **rest: Any,
    ) -> None:
        super().__init__()
        # fail loudly if transformers ever asks for something this stand-in does not implement
        assert (win_length, power, center, pad, normalized, rest) == (n_fft, 2, True, 0, True, {})
        self.n_fft, self.hop = n_fft, hop_length
        n = torch.arange(n_fft, dtype=torch.float64)
        self.window = (0.5 * (1.0 - torch.cos(2.0 * math.pi * n / n_fft))).to(torch.float32)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        lead, length = waveform.shape[:-1], waveform.shape[-1]
        x = waveform.reshape(-1, length)
        half = self.n_fft // 2
        left = torch.flip(x[:, 1 : half + 1], dims=[-1])  # reflect: edge sample not repeated
        right = torch.flip(x[:, length - half - 1 : length - 1], dims=[-1])
        frames = torch.cat([left, x, right], dim=-1).unfold(-1, self.n_fft, self.hop)
        spectrum = torch.fft.rfft(frames * self.window, dim=-1)  # [batch, frames, freqs]
        spectrum = spectrum / torch.sqrt(torch.sum(self.window * self.window))
        power = (spectrum.real**2 + spectrum.imag**2).transpose(-1, -2)
        return power.reshape(*lead, *power.shape[-2:])


def _no_resample(*args: Any, **kwargs: Any) -> torch.Tensor:
    raise AssertionError("the equivalence tests only run the extractor at its native rate")


@pytest.fixture
def hf_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real feature_extraction_musicgen_melody module, wired to the stand-in torchaudio."""
    # import first: transformers probes for torchaudio (find_spec) while it imports, and the
    # module only does ``import torchaudio`` when that probe finds it installed
    module = importlib.import_module(
        "transformers.models.musicgen_melody.feature_extraction_musicgen_melody"
    )
    fake = types.ModuleType("torchaudio")
    fake.__spec__ = importlib.machinery.ModuleSpec("torchaudio", loader=None)
    fake.transforms = types.SimpleNamespace(Spectrogram=_ReferenceSpectrogram)  # type: ignore[attr-defined]
    fake.functional = types.SimpleNamespace(resample=_no_resample)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchaudio", fake)
    monkeypatch.setattr(module, "torchaudio", fake, raising=False)
    return module


def _extract(hf_module: Any, audio: Any) -> torch.Tensor:
    extractor = hf_module.MusicgenMelodyFeatureExtractor()
    return extractor(audio, sampling_rate=SR, return_tensors="pt")["input_features"]


def _tone(freqs: list[float], seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.mean([np.sin(2 * np.pi * f * t) for f in freqs], axis=0).astype(np.float32)


def _noise(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CHORD = [261.63, 329.63, 392.00]  # C4 E4 G4


@pytest.mark.parametrize(
    ("name", "ours", "theirs"),
    [
        ("noise mono", _noise(5 * SR), None),
        ("noise mono torch", torch.from_numpy(_noise(3 * SR + 123, seed=1)), None),
        ("noise stereo", _noise(2, 4 * SR, seed=2), "add batch"),
        ("noise batch stereo", _noise(3, 2, 2 * SR, seed=3), None),
        ("noise batch stereo torch f64", torch.from_numpy(_noise(2, 2, SR, seed=4)).double(), None),
        ("sine A4", _tone([440.0], 3.0), None),
        ("C major chord", _tone(CHORD, 3.0), None),
        ("chord + sine batch", np.stack([_tone(CHORD, 2.0), _tone([440.0], 2.0)])[:, None], None),
        ("longer than chunk", _noise(31 * SR, seed=5), None),
        ("shorter than n_fft", _noise(1001, seed=6), None),
        ("demucs stems", torch.from_numpy(_noise(2, 4, 2, 2 * SR, seed=7)), None),
    ],
)
def test_equals_transformers_extractor(hf_module: Any, name: str, ours: Any, theirs: Any) -> None:
    reference = _extract(hf_module, ours[None] if theirs == "add batch" else ours)
    got = melody_chroma(ours, SR)
    assert got.dtype == reference.dtype == torch.float32
    assert got.shape == reference.shape, name
    assert torch.equal(got, reference), f"{name}: {(got != reference).any(-1).sum()} frames differ"


def test_normalized_chroma_matches_before_one_hot(hf_module: Any) -> None:
    """The continuous features too, not just their argmax: our STFT vs the stand-in's."""
    extractor = hf_module.MusicgenMelodyFeatureExtractor()
    wav = torch.from_numpy(np.stack([_noise(2 * SR, seed=8), _tone(CHORD, 2.0)]))
    spec = extractor.spectrogram(wav)
    raw = torch.einsum("cf,...ft->...ct", extractor.chroma_filters, spec)
    reference = torch.nn.functional.normalize(raw, p=float("inf"), dim=-2, eps=1e-6)
    ours = _normalized_chroma(wav, ChromaConfig())
    torch.testing.assert_close(ours, reference.transpose(1, 2), rtol=1e-5, atol=1e-6)


def test_config_defaults_and_preprocessor_config(hf_module: Any) -> None:
    extractor = hf_module.MusicgenMelodyFeatureExtractor()
    assert ChromaConfig.from_preprocessor_config(extractor.to_dict()) == ChromaConfig()
    hub = {
        "chunk_length": 30,
        "feature_extractor_type": "MusicgenMelodyFeatureExtractor",
        "feature_size": 12,
        "hop_length": 4096,
        "n_fft": 16384,
        "num_chroma": 12,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": True,
        "processor_class": "MusicgenMelodyProcessor",
        "sampling_rate": 32000,
        "stem_indices": [3, 2],
    }
    config = ChromaConfig.from_preprocessor_config(hub)
    assert config == ChromaConfig() and config.n_samples == 960000
    other = ChromaConfig.from_preprocessor_config({"hop_length": 2048, "stem_indices": [1]})
    assert (other.hop_length, other.stem_indices, other.n_fft) == (2048, (1,), 16384)
    with pytest.raises(InvalidInput):
        ChromaConfig.from_preprocessor_config({"feature_extractor_type": "WhisperFeatureExtractor"})


def test_a4_sine_is_pitch_class_a() -> None:
    chroma = melody_chroma(_tone([440.0], 4.0), SR)
    assert (chroma.argmax(-1) == A).all()


def test_c_major_triad_frames_are_one_hot_on_c_e_or_g() -> None:
    chroma = melody_chroma(_tone(CHORD, 4.0), SR)
    assert torch.equal(chroma.sum(-1), torch.ones(chroma.shape[:2]))
    assert set(chroma.argmax(-1).unique().tolist()) <= {C, E, G}


def test_shapes() -> None:
    frames = 1 + (2 * SR) // 4096
    assert melody_chroma(_noise(2 * SR), SR).shape == (1, frames, 12)
    assert melody_chroma(_noise(2, 2 * SR), SR).shape == (1, frames, 12)
    assert melody_chroma(_noise(3, 1, 2 * SR), SR).shape == (3, frames, 12)
    assert melody_chroma(_noise(40 * SR), SR).shape == (1, 235, 12)  # truncated to 30 s
    assert melody_chroma(_noise(100), SR).shape == (1, 5, 12)  # padded to n_fft
    small = ChromaConfig(n_fft=2048, hop_length=512, chunk_length=1)
    assert melody_chroma(_noise(3 * SR), SR, small).shape == (1, 1 + SR // 512, 12)


def test_stereo_mixdown_equals_mono_mean() -> None:
    stereo = _noise(2, SR, seed=9)
    assert torch.equal(melody_chroma(stereo, SR), melody_chroma(stereo.mean(0), SR))


def test_other_sample_rate_is_resampled() -> None:
    chroma = melody_chroma(_tone([440.0], 2.0, sr=44100), 44100)
    assert chroma.shape == (1, 1 + (2 * SR) // 4096, 12)
    assert (chroma.argmax(-1) == A).all()
    chord = melody_chroma(_tone(CHORD, 2.0, sr=48000), 48000)
    assert torch.equal(chord, melody_chroma(_tone(CHORD, 2.0), SR))


@pytest.mark.parametrize(
    ("audio", "rate"),
    [
        (np.zeros(0, np.float32), SR),
        (np.zeros((1, 1, 1, 1, 10), np.float32), SR),
        (np.full(SR, np.nan, np.float32), SR),
        (_noise(SR), 0),
    ],
)
def test_invalid_input(audio: np.ndarray, rate: int) -> None:
    with pytest.raises(InvalidInput):
        melody_chroma(audio, rate)
