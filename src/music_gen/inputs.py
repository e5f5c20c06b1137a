"""Turning a request's inputs into model inputs: prompt groups, melody chroma, continuation.

Each function validates what it reads (``InvalidInput`` / ``UnsupportedFeature`` with stable
codes) and knows the loaded checkpoint's facts (sample rate, channels, hop, melody support).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .audio import AudioOutput, load_audio
from .engine.loading import LoadedModel
from .engine.runtime import window_chroma
from .errors import InvalidInput, UnsupportedFeature

__all__ = ["AudioSource", "continuation_audio", "melody_audio", "prompt_groups", "window_chroma"]

AudioSource = str | Path | bytes | np.ndarray | torch.Tensor | AudioOutput


def prompt_groups(loaded: LoadedModel, texts: list[str]) -> list[list[int]]:
    """Rows decoded together.

    Text-only checkpoints cross-attend to the prompt, so padding is masked out and the whole
    batch is one padded pass. Melody checkpoints self-attend to a ``[chroma, text]`` prefix with
    absolute positions, so a row's output depends on the padded prompt length: rows are grouped
    by their prompt's token count, one pass per group, and each output is the one its prompt
    would give alone.
    """
    if not loaded.melody:
        return [list(range(len(texts)))]
    lengths = [len(ids) for ids in loaded.tokenizer(texts)["input_ids"]]
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        groups.setdefault(n, []).append(i)
    return list(groups.values())


def _rate_for(source: AudioSource, rate: int) -> int | None:
    """Arrays carry no sample rate: they are taken at the model's."""
    return rate if isinstance(source, np.ndarray | torch.Tensor) else None


def melody_audio(loaded: LoadedModel, name: str, melody: AudioSource | None) -> np.ndarray | None:
    """The melody as mono samples at the chroma's rate (melody checkpoints only)."""
    if melody is None:
        return None
    if not loaded.melody or loaded.chroma is None:
        raise UnsupportedFeature(
            f"model {name!r} is not a melody checkpoint; use a musicgen-melody model to "
            "condition on a melody",
            details={"model": name},
        )
    audio = load_audio(
        melody,
        sample_rate=_rate_for(melody, loaded.sample_rate),
        target_sample_rate=loaded.chroma.sampling_rate,
        channels=1,
        require_sound=True,
        name="melody",
    )
    return audio.samples[0]


def continuation_audio(
    loaded: LoadedModel, source: AudioSource | None, num_samples: int, window_frames: int
) -> np.ndarray | None:
    """The continuation prompt ``[C, N]``, cut to whole codec frames, shorter than a window and
    than the requested total length."""
    if source is None:
        return None
    rate = loaded.sample_rate
    audio = load_audio(
        source,
        sample_rate=_rate_for(source, rate),
        target_sample_rate=rate,
        channels=loaded.audio_channels,
        name="continuation",
    )
    hop = loaded.hop_length
    usable = (audio.num_samples // hop) * hop  # whole codec frames only
    if usable // hop >= window_frames:
        raise InvalidInput(
            f"continuation audio is {audio.duration:.1f} s; it must be shorter than "
            f"{window_frames * hop / rate:g} s",
            code="INVALID_AUDIO",
        )
    if usable >= num_samples:
        raise InvalidInput(
            f"duration ({num_samples / rate:g} s) must be longer than the continuation audio "
            f"({usable / rate:g} s): it is the total length",
            code="INVALID_DURATION",
        )
    return audio.samples[:, :usable]
