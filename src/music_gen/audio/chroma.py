"""The melody chroma that MusicGen-melody conditions on, without torchaudio.

``facebook/musicgen-melody`` conditions generation on a chromagram of a reference melody,
computed by transformers' ``MusicgenMelodyFeatureExtractor``. That extractor needs torchaudio
(for its ``Spectrogram`` transform and for resampling), which cannot be relied on here, so
:func:`melody_chroma` recomputes the same features with ``torch.stft``:

1. mono mixdown (mean over channels, in float32), or for 4-D demucs output
   ``[batch, stems, channels, samples]``: sum of the ``stem_indices`` stems, then mean over
   channels;
2. resampling to ``config.sampling_rate`` when the input rate differs (soxr, see below);
3. truncation to ``chunk_length`` seconds; audio shorter than ``n_fft`` is zero-padded on both
   sides to ``n_fft`` samples (left ``pad // 2``, right the rest);
4. power spectrogram as ``torchaudio.transforms.Spectrogram(n_fft, win_length=n_fft,
   hop_length, power=2, center=True, pad=0, normalized=True)``: periodic Hann window,
   reflect padding of ``n_fft // 2`` on both sides, one-sided FFT, the complex STFT divided by
   the window's L2 norm, then ``|.|**2``;
5. projection on ``transformers.audio_utils.chroma_filter_bank(sampling_rate, n_fft, tuning=0,
   num_chroma)`` (pitch class 0 is C, 9 is A), normalisation by the per-frame maximum
   (``eps=1e-6``), then a one-hot of the per-frame argmax.

The result is float32 ``[batch, frames, n_chroma]`` with ``frames = 1 + samples // hop_length``
(235 for 30 s at 32 kHz), i.e. the extractor's ``input_features``.

Equivalence: at the native rate (input ``sample_rate == config.sampling_rate``) the output equals
the extractor's ``input_features`` (tests/audio/test_chroma.py checks it against transformers' own
code). At other rates the extractor uses torchaudio's windowed-sinc ``resample`` (rolloff 0.945,
width 24) while we use soxr, so the waveforms differ slightly and equality is not promised (the
chroma of ordinary music is the same in practice).

Not done here: demucs stem separation. The full mix is used unless stems are passed in; a 2-D
input is one clip ``[channels, samples]`` (the extractor would read a 2-D array as a batch of mono
clips; ours equals the extractor called on ``audio[None]``). Batch items always have the same
length, so the extractor's within-batch padding (``padding_value``, ``padding_side``) never applies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import soxr
import torch

from music_gen.errors import InvalidInput

__all__ = ["ChromaConfig", "melody_chroma"]

_EXTRACTOR_TYPE = "MusicgenMelodyFeatureExtractor"
#: normalize(p=inf) epsilon of the extractor
_NORM_EPS = 1e-6


@dataclass(frozen=True)
class ChromaConfig:
    """The extractor's parameters (its defaults are those of ``facebook/musicgen-melody``)."""

    sampling_rate: int = 32000
    n_fft: int = 16384
    hop_length: int = 4096
    n_chroma: int = 12
    chunk_length: int = 30
    stem_indices: tuple[int, ...] = (3, 2)

    @property
    def n_samples(self) -> int:
        """Longest input used, in samples at ``sampling_rate`` (longer audio is truncated)."""
        return self.chunk_length * self.sampling_rate

    @classmethod
    def from_preprocessor_config(cls, d: dict[str, Any]) -> ChromaConfig:
        """Read a checkpoint's ``preprocessor_config.json`` (as a dict).

        Uses ``sampling_rate``, ``n_fft``, ``hop_length``, ``num_chroma``, ``chunk_length`` and
        ``stem_indices``; a missing key takes the extractor's default. Keys that do not change
        the features of equal-length inputs (``feature_size``, ``padding_value``,
        ``padding_side``, ``return_attention_mask``, ``n_samples``, ...) are ignored.
        """
        kind = d.get("feature_extractor_type", _EXTRACTOR_TYPE)
        if kind != _EXTRACTOR_TYPE:
            raise InvalidInput(
                f"preprocessor config is for {kind!r}, not {_EXTRACTOR_TYPE}",
                details={"feature_extractor_type": kind},
            )
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: d[k] for k in names - {"n_chroma"} if k in d}
        if "num_chroma" in d:
            values["n_chroma"] = d["num_chroma"]
        if "stem_indices" in values:
            values["stem_indices"] = tuple(int(i) for i in values["stem_indices"])
        for key in ("sampling_rate", "n_fft", "hop_length", "n_chroma", "chunk_length"):
            if key in values:
                values[key] = int(values[key])
        return cls(**values)


@functools.lru_cache(maxsize=8)
def _chroma_filters(sampling_rate: int, n_fft: int, n_chroma: int) -> torch.Tensor:
    """``[n_chroma, n_fft // 2 + 1]`` float32, exactly as the extractor builds it."""
    from transformers.audio_utils import chroma_filter_bank

    bank = chroma_filter_bank(
        sampling_rate=sampling_rate, num_frequency_bins=n_fft, tuning=0, num_chroma=n_chroma
    )
    return torch.from_numpy(bank).float()


def _power_spectrogram(wav: torch.Tensor, config: ChromaConfig) -> torch.Tensor:
    """``[batch, samples]`` -> ``[batch, n_fft // 2 + 1, frames]``, torchaudio's definition."""
    window = torch.hann_window(config.n_fft, dtype=wav.dtype, device=wav.device)
    spec = torch.stft(
        wav,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.n_fft,
        window=window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    spec /= window.pow(2.0).sum().sqrt()  # torchaudio's normalized=True ("window")
    return spec.abs().pow(2.0)


def _normalized_chroma(wav: torch.Tensor, config: ChromaConfig) -> torch.Tensor:
    """Mono float32 ``[batch, samples]`` at the config rate -> max-normalised chroma
    ``[batch, frames, n_chroma]`` (the extractor's features before the one-hot step)."""
    wav = wav[:, : config.n_samples]
    if wav.shape[-1] < config.n_fft:
        pad = config.n_fft - wav.shape[-1]
        wav = torch.nn.functional.pad(wav, (pad // 2, pad - pad // 2), "constant", 0.0)
    spec = _power_spectrogram(wav, config)
    filters = _chroma_filters(config.sampling_rate, config.n_fft, config.n_chroma)
    raw = torch.einsum("cf, ...ft->...ct", filters.to(spec.device), spec)
    norm = torch.nn.functional.normalize(raw, p=float("inf"), dim=-2, eps=_NORM_EPS)
    return norm.transpose(1, 2)


def _to_mono(audio: torch.Tensor, config: ChromaConfig) -> torch.Tensor:
    """Any accepted layout -> float32 ``[batch, samples]``, in the extractor's order of ops."""
    if not audio.is_floating_point():  # integer PCM: the chroma is scale-invariant
        audio = audio.to(torch.float32)
    if audio.dim() == 4:  # demucs output: [batch, stems, channels, samples]
        if max(config.stem_indices, default=-1) >= audio.shape[1]:
            raise InvalidInput(
                f"stems input has {audio.shape[1]} stems, stem_indices {config.stem_indices}",
                code="INVALID_AUDIO",
            )
        stems = audio[:, torch.tensor(config.stem_indices, device=audio.device)]
        return stems.sum(1).mean(dim=1).to(torch.float32)
    audio = audio.to(torch.float32)
    if audio.dim() == 1:
        return audio.unsqueeze(0)
    if audio.dim() == 2:  # [channels, samples]: one clip
        audio = audio.unsqueeze(0)
    if audio.dim() != 3:
        raise InvalidInput(
            f"audio must be [samples], [channels, samples], [batch, channels, samples] or "
            f"[batch, stems, channels, samples]; got shape {tuple(audio.shape)}",
            code="INVALID_AUDIO",
        )
    return audio.mean(dim=1)


def _resample(wav: torch.Tensor, sample_rate: int, target_rate: int) -> torch.Tensor:
    """``[batch, samples]`` resampled with soxr (high quality), on CPU."""
    out = soxr.resample(wav.detach().cpu().numpy().T, sample_rate, target_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)).to(
        wav.device
    )


def melody_chroma(
    audio: torch.Tensor | np.ndarray, sample_rate: int, config: ChromaConfig | None = None
) -> torch.Tensor:
    """One-hot melody chroma ``[batch, frames, n_chroma]`` (float32) of ``audio``.

    ``audio``: ``[samples]``, ``[channels, samples]``, ``[batch, channels, samples]`` (mixed down
    to mono), or demucs stems ``[batch, stems, channels, samples]`` (``config.stem_indices``
    summed). ``sample_rate``: the rate of ``audio``; it is resampled to ``config.sampling_rate``
    when different. Equal to ``MusicgenMelodyFeatureExtractor(...)(audio, sampling_rate=...)
    .input_features`` at the native rate (see the module docstring).
    """
    config = config or ChromaConfig()
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise InvalidInput(
            f"sample_rate must be a positive int, got {sample_rate!r}", code="INVALID_SAMPLE_RATE"
        )
    tensor = torch.from_numpy(np.asarray(audio)) if isinstance(audio, np.ndarray) else audio
    if not isinstance(tensor, torch.Tensor) or tensor.is_complex() or tensor.dtype == torch.bool:
        raise InvalidInput("audio must be a real-valued tensor or array", code="INVALID_AUDIO")
    if tensor.numel() == 0 or tensor.shape[-1] == 0:
        raise InvalidInput("audio is empty", code="INVALID_AUDIO")
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidInput("audio contains NaN or infinite samples", code="INVALID_AUDIO")
    wav = _to_mono(tensor, config)
    if sample_rate != config.sampling_rate:
        wav = _resample(wav, sample_rate, config.sampling_rate)
    with torch.no_grad():
        chroma = _normalized_chroma(wav, config)
        index = chroma.argmax(-1, keepdim=True)
        one_hot = torch.zeros_like(chroma).scatter_(-1, index, 1.0)
    return one_hot.contiguous()
