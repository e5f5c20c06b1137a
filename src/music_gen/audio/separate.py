"""Vocals / accompaniment separation that runs anywhere (no weights): REPET-SIM.

The method librosa documents ("vocal separation" example; Rafii & Pardo 2012): accompaniment
repeats, vocals do not. For every frame of the magnitude spectrogram, the median of its most
similar frames (cosine similarity, at least ``min_gap_s`` apart) models the repeating
background; soft masks with margins split the mix into a foreground (vocals) and a background
(accompaniment), which are resynthesised with the mixture's phase.

Similarity is computed on a coarse, 64-band summary of each frame (so a 10-minute track stays
tractable on a CPU); the filtering itself uses the full spectrogram. A neural separator (the
Demucs family) is much better when its weights are available; this is the fallback that needs
none, and says so in what it returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal

from .output import AudioOutput

__all__ = ["separate", "separate_vocals"]

METHOD = "repet-sim (nearest-neighbour filtering)"


def _demucs() -> tuple[Any, Any] | None:
    """Demucs (htdemucs) when the package is installed and its weights are in the local torch
    hub cache; None otherwise (no network is tried beyond what demucs itself does)."""
    try:
        from demucs.apply import apply_model
        from demucs.pretrained import get_model
    except ImportError:
        return None
    try:
        return get_model("htdemucs"), apply_model
    except Exception:  # weights not cached / not downloadable
        return None


def separate(audio: AudioOutput) -> tuple[AudioOutput, AudioOutput, str]:
    """``(vocals, accompaniment, method)``: Demucs when available, else REPET-SIM."""
    found = _demucs()
    if found is not None:
        import torch

        model, apply_model = found
        wav = audio.resample(model.samplerate) if audio.sample_rate != model.samplerate else audio
        x = torch.from_numpy(np.ascontiguousarray(wav.samples))
        if x.shape[0] == 1:
            x = x.repeat(model.audio_channels, 1)
        with torch.no_grad():
            sources = apply_model(model, x[None], progress=False)[0]  # [S, C, N]
        vocal = model.sources.index("vocals")
        rest = [i for i in range(sources.shape[0]) if i != vocal]
        parts = (sources[vocal], sources[rest].sum(dim=0))
        method = "demucs (htdemucs)"
        out = []
        for part in parts:
            clip = AudioOutput(part.numpy(), model.samplerate, {"separation": method})
            clip = (
                clip.resample(audio.sample_rate) if model.samplerate != audio.sample_rate else clip
            )
            out.append(clip)
        return out[0], out[1], method
    vocals, accompaniment = separate_vocals(audio)
    return vocals, accompaniment, METHOD


def separate_vocals(
    audio: AudioOutput,
    *,
    analysis_rate: int = 22050,
    neighbours: int = 10,
    min_gap_s: float = 2.0,
    margin_vocals: float = 10.0,
    margin_accompaniment: float = 2.0,
) -> tuple[AudioOutput, AudioOutput]:
    """``(vocals, accompaniment)``, each at ``audio``'s rate and length, stereo if it was."""
    rate = audio.sample_rate
    work = audio.resample(analysis_rate) if rate != analysis_rate else audio
    x = work.samples.astype(np.float64)  # [C, N]
    n_fft, hop = 2048, 512
    _, _, spec = signal.stft(x, analysis_rate, nperseg=n_fft, noverlap=n_fft - hop)  # [C, F, T]
    mag = np.abs(spec)
    mono = mag.mean(axis=0)  # [F, T]
    background = _nn_median(mono, neighbours, max(1, round(min_gap_s * analysis_rate / hop)))
    background = np.minimum(mono, background)
    foreground = mono - background
    eps = 1e-10
    mask_acc = (margin_accompaniment * background) ** 2
    mask_voc = (margin_vocals * foreground) ** 2
    voc_mask = mask_voc / (mask_voc + background**2 + eps)
    acc_mask = mask_acc / (mask_acc + foreground**2 + eps)
    out = []
    for mask in (voc_mask, acc_mask):
        _, y = signal.istft(spec * mask[None], analysis_rate, nperseg=n_fft, noverlap=n_fft - hop)
        y = np.asarray(y)[:, : x.shape[1]]
        if y.shape[1] < x.shape[1]:
            y = np.pad(y, ((0, 0), (0, x.shape[1] - y.shape[1])))
        part = AudioOutput(y.astype(np.float32), analysis_rate, {"separation": METHOD})
        if rate != analysis_rate:
            part = part.resample(rate)
        samples = part.samples[:, : audio.num_samples]
        if samples.shape[1] < audio.num_samples:
            samples = np.pad(samples, ((0, 0), (0, audio.num_samples - samples.shape[1])))
        out.append(AudioOutput(samples, rate, {"separation": METHOD}))
    return out[0], out[1]


def _nn_median(mag: np.ndarray, k: int, gap: int) -> np.ndarray:
    """For each frame, the median of its ``k`` most similar frames at least ``gap`` away."""
    frames = mag.shape[1]
    bands = np.array_split(np.arange(mag.shape[0]), 64)
    summary = np.stack([mag[b].mean(axis=0) for b in bands])  # [64, T]
    summary = summary / (np.linalg.norm(summary, axis=0, keepdims=True) + 1e-10)
    out = np.empty_like(mag)
    k = max(1, min(k, frames - 1))
    for start in range(0, frames, 512):
        block = slice(start, min(frames, start + 512))
        sim = summary[:, block].T @ summary  # [b, T]
        idx = np.arange(block.start, block.stop)
        near = np.abs(idx[:, None] - np.arange(frames)[None, :]) < gap
        sim[near] = -np.inf
        available = np.isfinite(sim).sum(axis=1)
        best = np.argpartition(-sim, kth=min(k, frames - 1) - 1, axis=1)[:, :k]  # [b, k]
        for row, t in enumerate(idx):
            chosen = best[row] if available[row] >= k else np.array([t])
            out[:, t] = np.median(mag[:, chosen], axis=1)
    return out
