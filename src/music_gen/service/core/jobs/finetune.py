"""What a fine-tuning job is: ``FinetuneSpec``, stored as the job's ``params`` (type
``finetune``), and the report a running one keeps (``jobs.report``: step, total, loss history).

The spec is validated once at the door (``core.finetunes``): the served model, the adapter's
name, the training settings as ``train.TrainConfig`` checks them, and the dataset's folder on
this server (uploads written and archives extracted there). The runner trains from it as it is.

This module knows no database, no HTTP and no torch.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["MAX_HISTORY", "FinetuneSpec", "history_point", "trim_history"]

#: loss points a job keeps (longer runs keep every n-th step, and the last)
MAX_HISTORY = 1000


class FinetuneSpec(BaseModel):
    """A validated fine-tuning job: ``model`` (a served, trainable model), ``adapter`` (the
    name its result gets in the adapter store), ``config`` (``TrainConfig.to_dict()``),
    ``work`` (its folder on the node that accepted it: ``data/`` the dataset, ``run/`` the
    training output with its checkpoints) and ``dataset`` (what the door saw: files, captions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    adapter: str
    config: dict[str, Any]
    work: str
    dataset: dict[str, Any] = {}

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def steps(self) -> int:
        return int(self.config["steps"])

    def stored(self) -> dict[str, Any]:
        """The JSON stored with the job (``jobs.params``)."""
        return self.model_dump()

    @classmethod
    def from_stored(cls, params: dict[str, Any], model: str) -> FinetuneSpec:
        return cls.model_validate({"model": model, **params})


def history_point(step: int, loss: float) -> dict[str, Any]:
    """One point of the loss history (a non-finite loss is stored as null)."""
    return {"step": step, "loss": round(loss, 6) if math.isfinite(loss) else None}


def trim_history(history: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """At most about ``MAX_HISTORY`` points of a run of ``steps``: every ``stride``-th step
    (``stride = ceil(steps / MAX_HISTORY)``) and the newest one."""
    stride = max(1, math.ceil(steps / MAX_HISTORY))
    if stride == 1:
        return history
    kept = [p for p in history if p["step"] % stride == 0]
    if history and (not kept or kept[-1] is not history[-1]):
        kept.append(history[-1])
    return kept
