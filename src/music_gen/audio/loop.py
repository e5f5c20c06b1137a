"""Seamless loops on a beat grid: exact length, a continuous wrap, and how to measure it.

A loop of ``bars`` bars of ``beats_per_bar`` beats at ``bpm`` lasts exactly
``bars × beats_per_bar × 60 / bpm`` seconds (``round`` of that × the sample rate samples:
4 bars at 120 BPM are 8.000 s, 352 800 samples at 44.1 kHz). ``make_loop`` cuts one from audio
that runs on past the loop's end:

1. **Where it starts**: on a beat. The audio's ``metadata["beat_offset_s"]`` when its maker knows
   its grid (the composer writes 0.0), else the phase of the beat grid that best matches the
   audio's onsets (``beat_phase``: spectral flux folded onto the beat period). The start is then
   nudged by at most ``nudge_seconds`` (1 ms) to where the wrap's own step is smallest.
2. **The cut**: exactly ``loop_samples`` from that start.
3. **The wrap**: the ``crossfade`` seconds that follow the loop's end in the source (the music
   as it carried on) are crossfaded into the loop's head (equal-power by default). The head's
   first sample is then the sample that followed the loop's last one in the source, so
   playing the loop again continues the music: the jump at the wrap is one of the music's own
   steps, not a click. ``wrap_jump`` measures it and ``music_step`` the music's own steps.

Nothing here knows a model: ``generate_loop`` takes a function that makes ``seconds`` of
audio (a family's ``generate`` with its arguments bound) and asks it for ``loop_plan``'s length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInput
from .output import AudioOutput

__all__ = [
    "CURVES",
    "LoopSpec",
    "beat_phase",
    "generate_loop",
    "make_loop",
    "music_step",
    "wrap_jump",
]

CURVES = ("equal_power", "linear")
MAX_BARS = 64
METERS = (2, 3, 4, 5, 6, 7, 8, 9, 12)
_FFT, _HOP = 1024, 128  # the onset envelope: ~23 ms frames every ~3 ms at 44.1 kHz
_LEAD = 2.3  # frames: how early the flux of a 1024-sample Hann frame sees an onset (measured)


@dataclass(frozen=True)
class LoopSpec:
    """A validated loop length: ``bars`` bars of ``beats_per_bar`` beats at ``bpm``."""

    bpm: float
    bars: int
    beats_per_bar: int = 4

    @classmethod
    def validate(cls, bpm: Any, bars: Any, beats_per_bar: Any = 4) -> LoopSpec:
        if isinstance(bpm, bool) or not isinstance(bpm, int | float) or not math.isfinite(bpm):
            raise InvalidInput(
                f"a loop needs a tempo: bpm must be a number, got {bpm!r}",
                code="INVALID_BPM",
                details={"bpm": repr(bpm)},
            )
        if not 30 <= bpm <= 300:
            raise InvalidInput(
                f"bpm must be in 30..300, got {bpm!r}",
                code="INVALID_BPM",
                details={"bpm": bpm, "min": 30, "max": 300},
            )
        if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_BARS:
            raise InvalidInput(
                f"bars must be a whole number in 1..{MAX_BARS}, got {bars!r}",
                code="INVALID_BARS",
                details={"bars": repr(bars), "min": 1, "max": MAX_BARS},
            )
        if beats_per_bar not in METERS or isinstance(beats_per_bar, bool):
            raise InvalidInput(
                f"beats_per_bar must be one of {', '.join(map(str, METERS))}, "
                f"got {beats_per_bar!r}",
                code="INVALID_BARS",
                details={"beats_per_bar": repr(beats_per_bar)},
            )
        return cls(float(bpm), int(bars), int(beats_per_bar))

    @property
    def beats(self) -> int:
        return self.bars * self.beats_per_bar

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * self.beat_seconds

    @property
    def seconds(self) -> float:
        """The loop's exact length: bars × beats per bar × 60 / bpm."""
        return self.beats * self.beat_seconds

    def samples(self, sample_rate: int) -> int:
        return round(self.beats * 60 * sample_rate / self.bpm)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "beats": self.beats, "seconds": self.seconds}


def music_step(samples: npt.ArrayLike, percentile: float = 99.0) -> float:
    """The music's own sample-to-sample step: ``percentile`` of ``|x[n+1] - x[n]|`` over every
    channel (the yardstick a wrap's jump is measured against)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    if x.shape[-1] < 2:
        return 0.0
    return float(np.percentile(np.abs(np.diff(x, axis=-1)), percentile))


def wrap_jump(samples: npt.ArrayLike) -> float:
    """The step heard where a loop wraps: ``max |x[0] - x[-1]|`` over the channels."""
    x = np.asarray(samples, dtype=np.float64)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    return float(np.abs(x[:, 0] - x[:, -1]).max()) if x.shape[-1] else 0.0


def _onset_envelope(mono: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Half-wave rectified spectral flux of log magnitudes; frame ``t`` is centred on sample
    ``t × _HOP`` and its value says how much louder frame ``t`` is than frame ``t - 1``."""
    padded = np.pad(mono, (_FFT // 2, _FFT // 2))
    count = 1 + max(0, (len(padded) - _FFT) // _HOP)
    index = np.arange(_FFT)[None, :] + _HOP * np.arange(count)[:, None]
    frames = padded[index] * np.hanning(_FFT)  # [T, FFT]
    magnitude = np.log1p(100.0 * np.abs(np.fft.rfft(frames, axis=1)))  # [T, F]
    flux = np.maximum(np.diff(magnitude, axis=0, prepend=magnitude[:1]), 0.0).sum(axis=1)
    return flux


def beat_phase(samples: npt.ArrayLike, sample_rate: int, bpm: float) -> float:
    """Seconds into the audio (in ``[0, beat)``) of its first beat: the phase of the ``bpm``
    grid on which the audio's onsets fall most strongly."""
    x = np.asarray(samples, dtype=np.float64)
    mono = x.mean(axis=0) if x.ndim == 2 else x
    beat = 60.0 / bpm * sample_rate / _HOP  # frames per beat
    envelope = _onset_envelope(mono)
    if len(envelope) < 2 or beat < 1:
        return 0.0
    # frame t is centred on sample t × hop; an onset's flux peaks ~2.3 hops before the onset
    # reaches a frame's centre (the frame already holds it, half-weighted by the window)
    times = np.arange(len(envelope)) + _LEAD
    phase = np.mod(times, beat)
    bins = max(1, math.ceil(beat))
    folded = np.bincount(np.minimum((phase / beat * bins).astype(int), bins - 1),
                         weights=envelope, minlength=bins)  # fmt: skip
    best = int(np.argmax(folded + 0.5 * np.roll(folded, 1) + 0.5 * np.roll(folded, -1)))
    frames = (best + 0.5) * beat / bins
    if beat - frames < 2:  # a hair before the next beat is the first beat, at 0
        frames = 0.0
    return float(frames * _HOP / sample_rate)


def _fade(length: int, curve: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(fade in, fade out) over ``length`` samples; the fade in starts at exactly 0."""
    t = np.arange(length, dtype=np.float64) / max(1, length)
    if curve == "linear":
        return t, 1.0 - t
    return np.sin(t * np.pi / 2), np.cos(t * np.pi / 2)


def make_loop(
    audio: AudioOutput,
    spec: LoopSpec,
    *,
    start: float | None = None,
    crossfade: float | None = None,
    curve: str = "equal_power",
    nudge_seconds: float = 0.001,
) -> AudioOutput:
    """Cut a seamless loop of ``spec`` from ``audio``, which must run on at least ``crossfade``
    seconds past the loop's end (and past ``start``).

    ``start`` (seconds) is where the loop begins; by default the audio's
    ``metadata["beat_offset_s"]``, else ``beat_phase``. ``crossfade`` defaults to a 16th note
    (at most 0.25 s). ``metadata["loop"]`` records the loop (read by ``AudioOutput.to_bytes``
    to write WAV ``smpl``/``acid`` chunks) with its wrap jump and the music's own p99 step.
    """
    if curve not in CURVES:
        raise InvalidInput(
            f"crossfade curve must be one of {', '.join(CURVES)}, got {curve!r}",
            code="INVALID_LOOP",
        )
    rate = audio.sample_rate
    length = spec.samples(rate)
    fade_seconds = min(0.25, spec.beat_seconds / 4) if crossfade is None else float(crossfade)
    if not (math.isfinite(fade_seconds) and 0 <= fade_seconds <= spec.seconds / 2):
        raise InvalidInput(
            f"crossfade must be between 0 and half the loop ({spec.seconds / 2:g} s), "
            f"got {crossfade!r}",
            code="INVALID_LOOP",
        )
    fade = round(fade_seconds * rate)
    nudge = max(0, round(nudge_seconds * rate))
    x = audio.samples.astype(np.float64)  # [C, N]
    if start is None:
        known = audio.metadata.get("beat_offset_s")
        start = float(known) if isinstance(known, int | float) else None
    latest = x.shape[1] - length - fade  # the last sample a loop of this length can start on
    if start is None:  # on the grid the onsets tell, if the audio runs on long enough for it
        first = min(round(beat_phase(x, rate, spec.bpm) * rate), max(0, latest))
    else:
        first = round(start * rate)
    room = latest - first
    if first < 0 or room < 0:
        raise InvalidInput(
            f"{audio.duration:.3f} s of audio cannot hold a {spec.seconds:g} s loop starting at "
            f"{first / rate:.3f} s with a {fade_seconds:g} s crossfade",
            code="INVALID_LOOP",
            details={"duration": audio.duration, "loop_seconds": spec.seconds},
        )
    # nudge the start (<= 1 ms) to where the music's own step across the wrap is smallest
    candidates = np.arange(first, first + min(nudge, room) + 1)
    steps = np.abs(x[:, candidates + length] - x[:, candidates + length - 1]).max(axis=0)
    first = int(candidates[int(np.argmin(steps))])
    out = x[:, first : first + length].copy()  # [C, L]
    if fade:
        fade_in, fade_out = _fade(fade, curve)
        tail = x[:, first + length : first + length + fade]  # the music past the loop's end
        out[:, :fade] = out[:, :fade] * fade_in + tail * fade_out
    meta = dict(audio.metadata)
    meta.pop("beat_offset_s", None)
    meta["duration"] = length / rate
    meta["loop"] = {
        **spec.to_dict(),
        "samples": length,
        "start_s": first / rate,
        "crossfade_s": fade / rate,
        "curve": curve,
        "wrap_jump": wrap_jump(out),
        "music_step_p99": music_step(out),
    }
    return AudioOutput(out.astype(np.float32), rate, meta, audio.midi)


def loop_source_seconds(spec: LoopSpec, max_duration: float) -> float:
    """How much audio to make for a loop: the loop plus one more bar (room to find the first
    beat and a crossfade tail that is the music carrying on), within ``max_duration``."""
    if spec.seconds >= max_duration:
        raise InvalidInput(
            f"a {spec.bars}-bar loop at {spec.bpm:g} BPM lasts {spec.seconds:g} s; this model "
            f"makes at most {max_duration:g} s (and a loop needs a little more)",
            code="INVALID_DURATION",
            details={"loop_seconds": spec.seconds, "max_duration": max_duration},
        )
    return min(spec.seconds + spec.bar_seconds, max_duration)


def generate_loop(
    generate: Callable[[float], AudioOutput],
    spec: LoopSpec,
    max_duration: float,
    **options: Any,
) -> AudioOutput:
    """``generate(seconds)`` makes the source audio; ``options`` go to ``make_loop``."""
    source = generate(loop_source_seconds(spec, max_duration))
    return make_loop(source, spec, **options)
