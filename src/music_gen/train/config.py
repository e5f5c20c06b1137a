"""Settings of one LoRA fine-tuning run, checked before any weights load."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import InvalidInput

__all__ = ["MUSICGEN_TARGETS", "TrainConfig"]

#: MusicGen decoder linears: self- and cross-attention projections and the feed-forward pair
MUSICGEN_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def _bad(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code="INVALID_TRAINING_CONFIG", details=details)


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and optimisation settings.

    One optimiser step sees ``batch_size * gradient_accumulation`` windows, taken in a fresh
    seeded permutation of the dataset each epoch. ``text_dropout`` is the probability that a
    window's caption is replaced by the null condition (what classifier-free guidance needs at
    inference). A checkpoint is written every ``checkpoint_every`` steps (and at the end).
    ``target_modules=None`` picks the family's default (MusicGen: ``MUSICGEN_TARGETS``).
    """

    steps: int = 1000
    rank: int = 16
    alpha: float = 32.0
    target_modules: tuple[str, ...] | None = None
    learning_rate: float = 1e-4
    batch_size: int = 2
    gradient_accumulation: int = 1
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 1
    text_dropout: float = 0.2
    lora_dropout: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    window_seconds: float = 30.0
    min_seconds: float = 1.0

    def __post_init__(self) -> None:
        ints = ("steps", "rank", "batch_size", "gradient_accumulation", "checkpoint_every",
                "log_every")  # fmt: skip
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(f"{name} must be an integer >= 1, got {value!r}", setting=name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise _bad(f"seed must be an integer >= 0, got {self.seed!r}", setting="seed")
        positive = ("alpha", "learning_rate", "window_seconds", "min_seconds", "max_grad_norm")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise _bad(f"{name} must be a number > 0, got {value!r}", setting=name)
        if self.learning_rate > 1.0:
            raise _bad(f"learning_rate {self.learning_rate} is far too large", setting="lr")
        for name in ("text_dropout", "lora_dropout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < 1:
                raise _bad(f"{name} must be in [0, 1), got {value!r}", setting=name)
        if not isinstance(self.weight_decay, int | float) or self.weight_decay < 0:
            raise _bad("weight_decay must be >= 0", setting="weight_decay")
        if self.min_seconds > self.window_seconds:
            raise _bad("min_seconds must not exceed window_seconds", setting="min_seconds")
        if self.target_modules is not None:
            mods = self.target_modules
            if isinstance(mods, str) or not mods or not all(isinstance(m, str) and m for m in mods):
                raise _bad("target_modules must be a non-empty list of module names")
            object.__setattr__(self, "target_modules", tuple(mods))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = None if self.target_modules is None else list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise _bad(f"unknown settings: {', '.join(sorted(unknown))}", unknown=sorted(unknown))
        d = dict(d)
        if d.get("target_modules") is not None:
            d["target_modules"] = tuple(d["target_modules"])
        return cls(**d)

    def resumable_with(self, other: TrainConfig) -> bool:
        """Whether a run with ``other``'s checkpoints can continue under these settings: all the
        same but the number of steps (a run may be extended) and how often it logs/saves."""
        skip = {"steps", "checkpoint_every", "log_every"}
        a, b = self.to_dict(), other.to_dict()
        return all(a[k] == b[k] for k in a if k not in skip)
