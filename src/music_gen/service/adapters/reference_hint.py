"""Tempo and key of a reference clip, as words the composer's prompt mapping understands.

The composer cannot be conditioned on audio, but its plan follows "in A minor" and "96 bpm" in
the prompt (``compose.plan``). ``reference_hint`` estimates both from a clip so a request that
names a reference (ModelsLab ``init_audio``, music-01 ``refer_instrumental``) still gets music
in the reference's tempo and key when the composer is the model.

Tempo: the autocorrelation of a spectral-flux onset envelope, searched over 60..180 bpm with a
mild preference for values near 110 bpm (halving/doubling errors are the usual failure).
Key: a pitch-class profile from STFT magnitudes (55 Hz .. 2 kHz) correlated with the
Krumhansl-Kessler major and minor profiles in all twelve transpositions. It knows nothing of
modulations, meter or swing; a clip with no clear pulse still gets the best-scoring tempo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from ...audio import AudioOutput

__all__ = ["ReferenceFeatures", "analyse_reference", "reference_hint"]

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_RATE, _HOP, _NFFT = 22050, 512, 2048
_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class ReferenceFeatures:
    tempo: float  # beats per minute
    key: str  # tonic, one of NOTE_NAMES
    mode: str  # "major" | "minor"

    @property
    def words(self) -> str:
        return f"in {self.key} {self.mode}, {round(self.tempo)} bpm"


def analyse_reference(audio: AudioOutput) -> ReferenceFeatures:
    """Estimate the tempo and key of ``audio`` (its first minute)."""
    clip = audio.to_mono()
    clip = AudioOutput(clip.samples[:, : int(_MAX_SECONDS * clip.sample_rate)], clip.sample_rate)
    if clip.sample_rate != _RATE:
        clip = clip.resample(_RATE)
    wav = clip.samples[0].astype(np.float64)
    freqs, _, spec = signal.stft(wav, _RATE, nperseg=_NFFT, noverlap=_NFFT - _HOP, boundary=None)
    magnitude = np.abs(spec)
    return ReferenceFeatures(_tempo(magnitude), *_key(magnitude, freqs))


def reference_hint(audio: AudioOutput) -> str:
    """``analyse_reference(audio).words``: e.g. ``"in A minor, 96 bpm"``."""
    return analyse_reference(audio).words


def _tempo(magnitude: np.ndarray) -> float:
    log_mag = np.log1p(100.0 * magnitude)
    flux = np.maximum(np.diff(log_mag, axis=1), 0.0).sum(axis=0)
    if flux.size < 8 or not np.any(flux):
        return 120.0
    onset = flux - flux.mean()
    frames_per_second = _RATE / _HOP
    corr = np.correlate(onset, onset, mode="full")[onset.size - 1 :]
    lags = np.arange(corr.size)
    bpm = np.divide(60.0 * frames_per_second, lags, out=np.zeros(lags.size), where=lags > 0)
    usable = (bpm >= 60.0) & (bpm <= 180.0)
    if not usable.any():
        return 120.0
    weight = np.exp(-0.5 * (np.log2(np.where(usable, bpm, 1.0) / 110.0) / 1.0) ** 2)
    score = np.where(usable, corr * weight, -np.inf)
    return float(bpm[int(np.argmax(score))])


def _key(magnitude: np.ndarray, freqs: np.ndarray) -> tuple[str, str]:
    band = (freqs >= 55.0) & (freqs <= 2000.0)
    pitch = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    energy = magnitude[band].sum(axis=1)
    profile = np.bincount(pitch, weights=energy, minlength=12)
    if not np.any(profile):
        return "C", "major"
    best = (-np.inf, 0, "major")
    for tonic in range(12):
        for mode, template in (("major", _MAJOR), ("minor", _MINOR)):
            score = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if score > best[0]:
                best = (score, tonic, mode)
    return NOTE_NAMES[best[1]], best[2]
