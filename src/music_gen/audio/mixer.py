"""``AudioMixer``: mix stems, run effect chains, master to a loudness target.

- ``mix_tracks``: every track is resampled (soxr) to the mix rate and made stereo; levels are in
  dB; panning -1 (left) … 1 (right) uses the constant-power law (``L = cos θ``, ``R = sin θ``,
  ``θ = (pan + 1) π/4``: centre is -3 dB per side, hard left is silent on the right); each
  track may have its own effect chain (``audio.effects``); tracks are aligned at 0 and padded
  to the longest. The sum is scaled down (never clipped) if it would exceed -1 dBFS.
- ``master``: gain to ``target_lufs`` (ITU-R BS.1770, pyloudnorm), then a limiter (pedalboard)
  and a final trim so the **true peak** (4× oversampled) stays under ``-headroom_db`` dBTP;
  repeated until the loudness is within 0.1 LU of target or the ceiling forbids more.
- Presets (``PRESETS``) give levels, pans and effects per instrument family and a master chain.

What it does not do: time-stretch or align stems musically — callers (the multitrack generator)
make stems that already share a grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .effects import run_chain
from .output import AudioOutput, _integrated_loudness

__all__ = ["PRESETS", "AudioMixer", "instrument_family", "true_peak_db"]

FAMILIES: dict[str, tuple[str, ...]] = {
    "drums": ("drum", "kit", "percussion", "beat", "snare", "kick", "hat", "cymbal", "perc"),
    "bass": ("bass",),
    "keys": ("piano", "keys", "organ", "rhodes", "keyboard", "epiano", "clav"),
    "guitar": ("guitar",),
    "pad": ("pad", "strings", "string", "synth", "choir", "ambient"),
    "horns": ("horn", "brass", "sax", "trumpet", "trombone", "flute", "clarinet", "wind"),
    "lead": ("lead", "melody", "solo", "violin", "vocal", "voice", "bell", "mallet"),
}


def instrument_family(name: str) -> str:
    """The family of an instrument or stem name (``"Walking bass"`` → ``bass``)."""
    low = name.lower()
    for family, words in FAMILIES.items():
        if any(w in low for w in words):
            return family
    return "other"


def _fx(kind: str, **params: float) -> dict[str, Any]:
    return {"type": kind, **params}


_ROOM = _fx("reverb", room_size=0.45, wet_level=0.18, dry_level=0.8)
PRESETS: dict[str, dict[str, Any]] = {
    "jazz_club": {
        "levels": {"drums": -4, "bass": -3, "keys": -2, "horns": -3, "lead": -2, "other": -4},
        "panning": {"drums": 0.0, "bass": 0.0, "keys": -0.35, "guitar": 0.35, "horns": 0.4},
        "effects": {"*": [_ROOM], "bass": [_fx("low_shelf", cutoff_hz=120, gain_db=2)]},
        "master": [_fx("compressor", threshold_db=-20, ratio=2)],
    },
    "rock_band": {
        "levels": {"drums": -2, "bass": -3, "guitar": -2, "lead": -1, "keys": -5, "other": -4},
        "panning": {"guitar": -0.5, "keys": 0.45, "lead": 0.15},
        "effects": {
            "drums": [_fx("compressor", threshold_db=-16, ratio=4, attack_ms=5)],
            "guitar": [_fx("distortion", drive_db=12), _fx("highpass", cutoff_hz=90)],
            "bass": [_fx("compressor", threshold_db=-18, ratio=3)],
        },
        "master": [_fx("compressor", threshold_db=-14, ratio=3)],
    },
    "lofi": {
        "levels": {"drums": -3, "bass": -4, "keys": -3, "other": -5},
        "panning": {"keys": -0.2, "guitar": 0.25, "pad": 0.3},
        "effects": {
            "*": [_fx("lowpass", cutoff_hz=5500)],
            "keys": [_fx("chorus", rate_hz=0.6, depth=0.3, mix=0.3), _ROOM],
        },
        "master": [_fx("compressor", threshold_db=-18, ratio=3), _fx("lowpass", cutoff_hz=9000)],
    },
    "cinematic": {
        "levels": {"pad": -2, "lead": -2, "drums": -5, "bass": -4, "horns": -3, "other": -4},
        "panning": {"pad": 0.0, "lead": 0.1, "horns": -0.3},
        "effects": {"*": [_fx("reverb", room_size=0.85, wet_level=0.3, dry_level=0.7)]},
        "master": [_fx("compressor", threshold_db=-22, ratio=1.5)],
    },
    "edm": {
        "levels": {"drums": -1, "bass": -2, "lead": -3, "pad": -6, "other": -5},
        "panning": {"pad": 0.0, "lead": 0.0},
        "effects": {
            "drums": [_fx("compressor", threshold_db=-12, ratio=4, attack_ms=2)],
            "lead": [_fx("delay", delay_seconds=0.375, feedback=0.3, mix=0.2)],
            "pad": [_fx("highpass", cutoff_hz=200), _ROOM],
        },
        "master": [_fx("compressor", threshold_db=-10, ratio=4)],
    },
}


def true_peak_db(samples: np.ndarray, sample_rate: int) -> float:
    """True peak in dBTP: the peak of a 4× oversampled copy (BS.1770 annex 2)."""
    import soxr

    up = soxr.resample(np.ascontiguousarray(samples.T, dtype=np.float64), sample_rate,
                       4 * sample_rate, quality="VHQ")  # fmt: skip
    peak = max(float(np.abs(up).max()), float(np.abs(samples).max()))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan: (cos θ, sin θ) with θ = (pan + 1) π/4; exact zeros at the ends."""
    theta = (pan + 1) * math.pi / 4
    left = 0.0 if pan == 1 else math.cos(theta)
    right = 0.0 if pan == -1 else math.sin(theta)
    return left, right


def _stereo(samples: np.ndarray) -> np.ndarray:
    if samples.shape[0] == 1:
        return np.repeat(samples, 2, axis=0)
    if samples.shape[0] == 2:
        return samples
    return np.stack([samples[0::2].mean(axis=0), samples[1::2].mean(axis=0)])  # [2, N]


def _known_tracks(named: Mapping[str, Any], given: Mapping[str, Any], what: str) -> None:
    unknown = set(given) - set(named)
    if unknown:
        raise InvalidInput(
            f"{what} name tracks that are not in the mix: {', '.join(sorted(unknown))}",
            code="INVALID_MIX",
            details={"unknown": sorted(unknown), "tracks": list(named)},
        )


def _number(value: Any, what: str, low: float, high: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(
            f"{what} must be a number within [{low:g}, {high:g}], got {value!r}",
            code="INVALID_MIX",
            details={"what": what},
        )
    return float(value)


class AudioMixer:
    """Mixes stems into a stereo track; ``sample_rate`` is the mix rate (default: the highest
    rate among the tracks)."""

    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate = sample_rate

    # ------------------------------------------------------------------ effects
    def apply_effects(
        self, audio: AudioOutput, effects_chain: Sequence[Mapping[str, Any]]
    ) -> AudioOutput:
        """``audio`` through a chain such as ``[{"type": "reverb", "room_size": 0.6}]``."""
        out = run_chain(audio.samples, audio.sample_rate, effects_chain)
        result = AudioOutput(out, audio.sample_rate, dict(audio.metadata))
        result.metadata["effects"] = list(effects_chain)
        return result

    # ------------------------------------------------------------------ mixing
    def mix_tracks(
        self,
        tracks: Mapping[str, AudioOutput] | Sequence[AudioOutput],
        levels: Mapping[str, float] | Sequence[float] | None = None,
        panning: Mapping[str, float] | Sequence[float] | None = None,
        effects: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        *,
        preset: str | None = None,
    ) -> AudioOutput:
        named = self._named(tracks)
        if not named:
            raise InvalidInput("mix_tracks needs at least one track", code="INVALID_MIX")
        lv = self._per_track(named, levels, "levels")
        pn = self._per_track(named, panning, "panning")
        fx = dict(effects or {})
        if preset is not None:
            lv, pn, fx = self._preset(preset, named, lv, pn, fx)
        _known_tracks(named, fx, "effects")
        rate = self.sample_rate or max(t.sample_rate for t in named.values())
        stems = []
        for name, track in named.items():
            audio = track if track.sample_rate == rate else track.resample(rate)
            samples = run_chain(audio.samples, rate, fx.get(name, []))
            gain = 10 ** (_number(lv.get(name, 0.0), f"level of {name!r}", -96, 24) / 20)
            pan = _number(pn.get(name, 0.0), f"panning of {name!r}", -1, 1)
            left, right = _pan_gains(pan)
            if samples.shape[0] >= 2:  # a stereo track keeps unity gain at the centre
                left, right = left * math.sqrt(2), right * math.sqrt(2)
            stereo = _stereo(samples.astype(np.float64)) * gain
            stereo[0] *= left
            stereo[1] *= right
            stems.append(stereo)
        length = max(s.shape[1] for s in stems)
        mix = np.zeros((2, length))
        for s in stems:
            mix[:, : s.shape[1]] += s
        peak = float(np.abs(mix).max())
        ceiling = 10 ** (-1 / 20)
        if peak > ceiling:
            mix *= ceiling / peak
        meta = {"mix": {"tracks": list(named), "levels_db": lv, "panning": pn, "preset": preset}}
        return AudioOutput(mix.astype(np.float32), rate, meta)

    @staticmethod
    def _named(tracks: Any) -> dict[str, AudioOutput]:
        if isinstance(tracks, Mapping):
            named = dict(tracks)
        else:
            named = {f"track{i}": t for i, t in enumerate(tracks)}
        for name, track in named.items():
            if not isinstance(track, AudioOutput):
                raise InvalidInput(f"track {name!r} is not an AudioOutput", code="INVALID_MIX")
        return named

    @staticmethod
    def _per_track(named: dict[str, AudioOutput], values: Any, what: str) -> dict[str, float]:
        if values is None:
            return {}
        if isinstance(values, Mapping):
            _known_tracks(named, values, what)
            return dict(values)
        values = list(values)
        if len(values) != len(named):
            raise InvalidInput(f"{len(values)} {what} for {len(named)} tracks", code="INVALID_MIX")
        return dict(zip(named, values, strict=True))

    @staticmethod
    def _preset(
        preset: str,
        named: dict[str, AudioOutput],
        levels: dict[str, float],
        panning: dict[str, float],
        effects: dict[str, Any],
    ) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
        spec = PRESETS.get(preset)
        if spec is None:
            raise InvalidInput(
                f"unknown mix preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}",
                code="INVALID_MIX",
                details={"preset": preset, "known": sorted(PRESETS)},
            )
        lv, pn, fx = dict(levels), dict(panning), dict(effects)
        for name in named:  # explicit settings win over the preset's
            family = instrument_family(name)
            lv.setdefault(name, spec["levels"].get(family, spec["levels"].get("other", 0.0)))
            pn.setdefault(name, spec["panning"].get(family, 0.0))
            if name not in fx:
                fx[name] = [*spec["effects"].get("*", []), *spec["effects"].get(family, [])]
        return lv, pn, fx

    # ------------------------------------------------------------------ mastering
    def master(
        self, audio: AudioOutput, target_lufs: float = -14.0, headroom_db: float = 1.0,
        chain: Sequence[Mapping[str, Any]] | None = None,
    ) -> AudioOutput:  # fmt: skip
        """Loudness to ``target_lufs``, true peak under ``-headroom_db`` dBTP (see module doc).
        ``chain`` runs first (a preset's master bus, e.g. glue compression)."""
        _number(target_lufs, "target_lufs", -70, 0)
        _number(headroom_db, "headroom_db", 0, 20)
        import pedalboard

        rate = audio.sample_rate
        x = run_chain(audio.samples, rate, chain or []).astype(np.float64)
        if float(np.sqrt(np.mean(x**2))) < 1e-6:
            return AudioOutput(x.astype(np.float32), rate, {**audio.metadata, "master": None})
        ceiling_db = -headroom_db
        limiter = pedalboard.Limiter(threshold_db=ceiling_db - 1.0, release_ms=80)
        gain_db = target_lufs - _integrated_loudness(x, rate)
        y = x
        for _ in range(6):
            y = x * 10 ** (gain_db / 20)
            y = np.asarray(limiter(y.astype(np.float32), rate, reset=True), dtype=np.float64)
            over = true_peak_db(y, rate) - (ceiling_db - 0.05)
            if over > 0:
                y *= 10 ** (-over / 20)
            miss = target_lufs - _integrated_loudness(y, rate)
            if abs(miss) < 0.1:
                break
            gain_db += miss
        loudness = _integrated_loudness(y, rate)
        meta = {
            **audio.metadata,
            "master": {
                "target_lufs": target_lufs,
                "lufs": round(loudness, 2),
                "true_peak_dbtp": round(true_peak_db(y, rate), 2),
                "headroom_db": headroom_db,
            },
        }
        return AudioOutput(y.astype(np.float32), rate, meta)
