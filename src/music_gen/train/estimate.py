"""Offline tempo and key estimation for training data (numpy and scipy only).

Datasets may leave a clip's ``bpm`` and ``key`` out; song models condition on them, so they are
estimated from the audio:

- **Tempo** (``estimate_bpm``): the audio is mixed to mono and resampled to 11025 Hz; an onset
  strength envelope is the half-wave rectified frame-to-frame increase of the log-magnitude
  spectrum (1024-point STFT, hop 128 ≈ 86 frames/s), summed over frequency, high-passed. Its
  autocorrelation is scored at every beat period between 50 and 220 BPM as the sum of the
  autocorrelation at 1, 2 and 4 periods (a beat repeats, so the true period collects evidence at
  its multiples while half periods do not), weighted by a log-normal prior centred on 105 BPM
  (standard deviation 0.6 octave); the best lag is refined by parabolic interpolation.
- **Key** (``estimate_key``): a chromagram from a 8192-point STFT (hop 4096) of the mono mix;
  every bin between 55 Hz and 2 kHz adds its mean magnitude to its pitch class; the chroma is
  correlated with the 24 rotations of the Albrecht-Shanahan (2013) major and minor key
  profiles and the best one names the key (``"E minor"``, ``"Bb major"``).

The prior and the profiles were chosen on 40 renders of the offline composer (seeds 0-3),
whose plans record the true tempo and key (Krumhansl-Kessler profiles on log-magnitude chroma
got 25/36 keys right there, these 36/36; a one-octave prior at 110 BPM 34/40 tempos, this
38/40 at ±4 %). Accuracy on other renders (seeds 10-12) is measured by
``benchmarks/bench_train.py estimate`` and reported in docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

__all__ = ["NOTE_NAMES", "estimate_bpm", "estimate_key", "parse_key"]

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_ALIASES = {"Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10, "Cb": 11, "B#": 0, "E#": 5, "Fb": 4}

# Albrecht & Shanahan (2013) key profiles, tonic first
_MAJOR = np.array(
    [0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081]
)
_MINOR = np.array(
    [0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052]
)

_TEMPO_RATE = 11025
_N_FFT, _HOP = 1024, 128
_BPM_RANGE = (50.0, 220.0)
_BPM_PRIOR, _PRIOR_OCTAVES = 105.0, 0.6


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    return x.mean(axis=0) if x.ndim == 2 else x


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x
    g = np.gcd(int(rate), int(target))
    return signal.resample_poly(x, target // g, rate // g)


def onset_envelope(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """``(onset strength per frame, frames per second)`` of ``samples`` (``[N]`` or ``[C, N]``)."""
    x = _resample(_mono(samples), sample_rate, _TEMPO_RATE)
    if len(x) < _N_FFT:
        return np.zeros(1), _TEMPO_RATE / _HOP
    _, _, spec = signal.stft(
        x, nperseg=_N_FFT, noverlap=_N_FFT - _HOP, boundary=None, padded=False
    )  # [F, T]
    logmag = np.log1p(1000.0 * np.abs(spec))
    flux = np.maximum(np.diff(logmag, axis=1), 0.0).sum(axis=0)  # [T - 1]
    fps = _TEMPO_RATE / _HOP
    b, a = signal.butter(1, 0.4 / (fps / 2), btype="highpass")  # remove the slow drift
    return signal.lfilter(b, a, flux), fps


def estimate_bpm(samples: np.ndarray, sample_rate: int) -> float | None:
    """The tempo in beats per minute (one decimal), or None for audio with no pulse."""
    env, fps = onset_envelope(samples, sample_rate)
    env = env - env.mean()
    if len(env) < 4 * fps or not np.any(env):  # under 4 s there is too little to go on
        return None
    ac = signal.correlate(env, env, mode="full", method="fft")[len(env) - 1 :]
    ac /= ac[0]
    lo = int(np.floor(60.0 * fps / _BPM_RANGE[1]))
    hi = int(np.ceil(60.0 * fps / _BPM_RANGE[0]))
    lags = np.arange(lo, hi + 1)
    score = np.zeros(len(lags))
    for mult, weight in ((1, 1.0), (2, 0.5), (4, 0.25)):
        idx = lags * mult
        ok = idx < len(ac)
        score[ok] += weight * ac[idx[ok]]
    bpm_at = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm_at / _BPM_PRIOR) / _PRIOR_OCTAVES) ** 2)
    score = np.maximum(score, 0.0) * prior
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None
    lag = float(lags[best])
    if 0 < best < len(score) - 1:  # parabolic refinement between neighbouring lags
        y0, y1, y2 = score[best - 1], score[best], score[best + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            lag += 0.5 * (y0 - y2) / denom
    return round(60.0 * fps / lag, 1)


def chroma_profile(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean chroma ``[12]`` (pitch class 0 is C) of ``samples``."""
    x = _mono(samples)
    n_fft = 8192 if sample_rate >= 32000 else 4096
    if len(x) < n_fft:
        return np.zeros(12)
    freqs, _, spec = signal.stft(
        x, fs=sample_rate, nperseg=n_fft, noverlap=n_fft // 2, boundary=None, padded=False
    )
    mag = np.abs(spec).mean(axis=1)  # [F]
    band = (freqs >= 55.0) & (freqs <= 2000.0)
    midi = 69.0 + 12.0 * np.log2(freqs[band] / 440.0)
    pitch_class = np.mod(np.round(midi).astype(int), 12)
    return np.bincount(pitch_class, weights=mag[band], minlength=12)


def estimate_key(samples: np.ndarray, sample_rate: int) -> str | None:
    """The key as ``"<tonic> major|minor"`` (tonic spelled as the composer spells it), or None
    for audio with no pitched content."""
    chroma = chroma_profile(samples, sample_rate)
    if not np.any(chroma > 0):
        return None
    best, best_r = None, -np.inf
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            r = np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = f"{NOTE_NAMES[tonic]} {mode}", r
    return best


def parse_key(key: str) -> tuple[int, str] | None:
    """``"E minor"`` / ``"Bb"`` / ``"F# major"`` -> ``(pitch class, mode)``; None if unreadable."""
    parts = key.strip().split()
    if not parts or len(parts) > 2:
        return None
    tonic = parts[0][:1].upper() + parts[0][1:]
    pc = NOTE_NAMES.index(tonic) if tonic in NOTE_NAMES else _ALIASES.get(tonic)
    mode = parts[1].lower() if len(parts) == 2 else "major"
    if pc is None or mode not in ("major", "minor"):
        return None
    return pc, mode
