"""Effect chains described as data, run by pedalboard (Spotify's DSP library).

A chain is a list of dicts, each with a ``type`` and that effect's parameters::

    [{"type": "highpass", "cutoff_hz": 80},
     {"type": "compressor", "threshold_db": -18, "ratio": 3},
     {"type": "reverb", "room_size": 0.6, "wet_level": 0.25}]

``EFFECTS`` is the whole vocabulary: each type, its pedalboard plugin, and each parameter's
pedalboard name and allowed range. Anything else — an unknown type or parameter, a value out of
range or not a number — raises ``InvalidInput`` (INVALID_EFFECT) naming it, before any audio is
touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput

__all__ = ["EFFECTS", "build_chain", "run_chain"]


@dataclass(frozen=True)
class _Param:
    name: str  # pedalboard's keyword
    low: float
    high: float


@dataclass(frozen=True)
class _Effect:
    plugin: str
    params: dict[str, _Param]


def _p(name: str, low: float, high: float) -> _Param:
    return _Param(name, low, high)


_FREQ = (10.0, 20000.0)
EFFECTS: dict[str, _Effect] = {
    "reverb": _Effect(
        "Reverb",
        {
            "room_size": _p("room_size", 0, 1),
            "damping": _p("damping", 0, 1),
            "wet_level": _p("wet_level", 0, 1),
            "dry_level": _p("dry_level", 0, 1),
            "width": _p("width", 0, 1),
        },
    ),
    "compressor": _Effect(
        "Compressor",
        {
            "threshold_db": _p("threshold_db", -60, 0),
            "ratio": _p("ratio", 1, 30),
            "attack_ms": _p("attack_ms", 0.01, 500),
            "release_ms": _p("release_ms", 1, 5000),
        },
    ),
    "limiter": _Effect(
        "Limiter",
        {"threshold_db": _p("threshold_db", -60, 0), "release_ms": _p("release_ms", 1, 5000)},
    ),
    "gain": _Effect("Gain", {"gain_db": _p("gain_db", -60, 24)}),
    "delay": _Effect(
        "Delay",
        {
            "delay_seconds": _p("delay_seconds", 0.001, 5),
            "feedback": _p("feedback", 0, 0.95),
            "mix": _p("mix", 0, 1),
        },
    ),
    "chorus": _Effect(
        "Chorus",
        {
            "rate_hz": _p("rate_hz", 0.01, 20),
            "depth": _p("depth", 0, 1),
            "centre_delay_ms": _p("centre_delay_ms", 0.1, 50),
            "feedback": _p("feedback", 0, 0.95),
            "mix": _p("mix", 0, 1),
        },
    ),
    "phaser": _Effect(
        "Phaser",
        {
            "rate_hz": _p("rate_hz", 0.01, 20),
            "depth": _p("depth", 0, 1),
            "centre_frequency_hz": _p("centre_frequency_hz", *_FREQ),
            "feedback": _p("feedback", 0, 0.95),
            "mix": _p("mix", 0, 1),
        },
    ),
    "distortion": _Effect("Distortion", {"drive_db": _p("drive_db", 0, 60)}),
    "highpass": _Effect("HighpassFilter", {"cutoff_hz": _p("cutoff_frequency_hz", *_FREQ)}),
    "lowpass": _Effect("LowpassFilter", {"cutoff_hz": _p("cutoff_frequency_hz", *_FREQ)}),
    **{
        kind: _Effect(
            plugin,
            {
                "cutoff_hz": _p("cutoff_frequency_hz", *_FREQ),
                "gain_db": _p("gain_db", -24, 24),
                "q": _p("q", 0.1, 20),
            },
        )
        for kind, plugin in (
            ("low_shelf", "LowShelfFilter"),
            ("high_shelf", "HighShelfFilter"),
            ("eq", "PeakFilter"),
        )
    },
}


def _invalid(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code="INVALID_EFFECT", details=details)


def build_chain(chain: Any) -> Any:
    """A ``pedalboard.Pedalboard`` for ``chain`` (validated; see the module docstring)."""
    import pedalboard

    if chain is None:
        chain = []
    if not isinstance(chain, list | tuple):
        raise _invalid("an effects chain is a list of {'type': ..., <parameters>} objects")
    plugins = []
    for index, spec in enumerate(chain):
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise _invalid(f"effect #{index} needs a 'type'", index=index)
        kind = spec["type"].lower()
        effect = EFFECTS.get(kind)
        if effect is None:
            raise _invalid(
                f"unknown effect {spec['type']!r}; known: {', '.join(sorted(EFFECTS))}",
                index=index,
                type=spec["type"],
                known=sorted(EFFECTS),
            )
        kwargs: dict[str, float] = {}
        for key, value in spec.items():
            if key == "type":
                continue
            param = effect.params.get(key)
            if param is None:
                raise _invalid(
                    f"effect {kind!r} has no parameter {key!r}; it has "
                    f"{', '.join(sorted(effect.params))}",
                    index=index,
                    type=kind,
                    parameter=key,
                    parameters=sorted(effect.params),
                )
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not param.low <= value <= param.high:
                raise _invalid(
                    f"effect {kind!r} parameter {key!r} must be a number within "
                    f"[{param.low:g}, {param.high:g}], got {value!r}",
                    index=index,
                    type=kind,
                    parameter=key,
                )
            kwargs[param.name] = float(value)
        plugins.append(getattr(pedalboard, effect.plugin)(**kwargs))
    return pedalboard.Pedalboard(plugins)


def run_chain(samples: np.ndarray, sample_rate: int, chain: Any) -> np.ndarray:
    """``samples`` [C, N] float32 through the chain; effects with tails (reverb, delay) are
    flushed into the output's length, which does not change."""
    board = build_chain(chain)
    if not len(board):
        return samples
    out = board(np.ascontiguousarray(samples, dtype=np.float32), sample_rate, reset=True)
    return np.asarray(out, dtype=np.float32)
