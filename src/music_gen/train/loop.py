"""The training loop every family shares: batches, optimiser, log, checkpoints and resume.

A family supplies a ``TrainTask`` (its trainable LoRA parameters, its loss on a list of
dataset windows, how it saves and reloads its adapter); this loop does the rest:

- **Batches**: the windows of one optimiser step are taken from a seeded permutation of the
  dataset per epoch (``example i`` is ``perm(seed, i // N)[i % N]``), so any step's batch is
  known from the seed and the step alone.
- **Randomness**: the global RNG is reseeded from ``(seed, step)`` before every step (text
  dropout, LoRA dropout), so a resumed run draws exactly what an uninterrupted one draws.
- **Checkpoints** every ``checkpoint_every`` steps under ``OUTPUT/checkpoints/step-NNNNNN``:
  the adapter, the optimiser state and ``state.json``; each is written to a temporary folder
  and renamed into place, so a run killed mid-write leaves the previous checkpoint whole. The
  last two are kept.
- **Resume**: a run whose output folder holds a checkpoint of the same settings (the number of
  steps may grow) and the same base model continues after it; the log is cut back to it.
- **Log**: ``OUTPUT/training_log.jsonl``, one JSON object per logged step: ``step``, ``loss``
  (mean over the step's micro-batches), ``lr``, ``grad_norm``, the task's extras (MusicGen:
  ``codebook_losses``) and ``elapsed_s``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from ..errors import GenerationFailed, InvalidInput
from ..families.adapters import INFO_FILE
from .config import TrainConfig

__all__ = ["INFO_FILE", "LOG_FILE", "TrainProgress", "TrainResult", "TrainTask", "run_training"]

LOG_FILE = "training_log.jsonl"
CHECKPOINTS = "checkpoints"

#: ``progress(step, total_steps, loss)`` after every optimiser step
TrainProgress = Callable[[int, int, float], None]


class TrainTask(Protocol):
    num_examples: int

    def parameters(self) -> list[torch.nn.Parameter]: ...

    def loss(self, examples: list[int]) -> tuple[torch.Tensor, dict[str, Any]]: ...

    def save_adapter(self, directory: Path) -> None: ...

    def load_adapter(self, directory: Path) -> None: ...

    def info(self) -> dict[str, Any]: ...


@dataclass
class TrainResult:
    output: Path
    steps: int
    loss: float
    resumed_from: int  # 0 for a fresh run
    log: list[dict[str, Any]]


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919) % (2**63 - 1)


def _examples(config: TrainConfig, n: int, step: int) -> list[list[int]]:
    """The dataset indices of step ``step``'s micro-batches."""
    per_step = config.batch_size * config.gradient_accumulation
    first = (step - 1) * per_step
    perms: dict[int, list[int]] = {}
    out: list[int] = []
    for i in range(first, first + per_step):
        epoch = i // n
        if epoch not in perms:
            g = torch.Generator().manual_seed(_step_seed(config.seed, -1 - epoch))
            perms[epoch] = torch.randperm(n, generator=g).tolist()
        out.append(perms[epoch][i % n])
    b = config.batch_size
    return [out[j : j + b] for j in range(0, per_step, b)]


def _checkpoints(output: Path) -> list[Path]:
    root = output / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [
        p for p in root.iterdir() if p.name.startswith("step-") and (p / "state.json").is_file()
    ]
    return sorted(found, key=lambda p: int(p.name.removeprefix("step-")))


def _write_log(output: Path, log: list[dict[str, Any]]) -> None:
    tmp = output / f".{LOG_FILE}.tmp"
    tmp.write_text("".join(json.dumps(e) + "\n" for e in log))
    os.replace(tmp, output / LOG_FILE)


def run_training(
    task: TrainTask,
    config: TrainConfig,
    output: str | Path,
    *,
    resume: bool = True,
    progress: TrainProgress | None = None,
) -> TrainResult:
    out = Path(output).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"output {str(out)!r} is not a folder", code="INVALID_OUTPUT_PATH")
    out.mkdir(parents=True, exist_ok=True)
    params = task.parameters()
    if not params:
        raise InvalidInput(
            "no trainable parameters: target_modules matched nothing",
            code="INVALID_TRAINING_CONFIG",
        )
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    info = task.info()
    start, log = 0, []
    if not resume:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    for ckpt in reversed(_checkpoints(out)):
        state = json.loads((ckpt / "state.json").read_text())
        same_base = state.get("base") == info.get("base")
        if not (same_base and config.resumable_with(TrainConfig.from_dict(state["config"]))):
            raise InvalidInput(
                f"{str(out)!r} holds checkpoints of another run (other settings or base model); "
                "choose another output folder or start over (resume=False / --no-resume)",
                code="INVALID_TRAINING_CONFIG",
                details={"checkpoint": str(ckpt)},
            )
        if state["step"] > config.steps:
            continue
        task.load_adapter(ckpt)
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        start, log = int(state["step"]), list(state["log"])
        break
    _write_log(out, log)

    def checkpoint(step: int) -> None:
        root = out / CHECKPOINTS
        root.mkdir(exist_ok=True)
        final, tmp = root / f"step-{step:06d}", root / f".step-{step:06d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        task.save_adapter(tmp)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        state = {"step": step, "config": config.to_dict(), "base": info.get("base"), "log": log}
        (tmp / "state.json").write_text(json.dumps(state))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in _checkpoints(out)[:-2]:
            shutil.rmtree(old, ignore_errors=True)

    started = time.perf_counter()
    loss_value = float(log[-1]["loss"]) if log else math.nan
    for step in range(start + 1, config.steps + 1):
        torch.manual_seed(_step_seed(config.seed, step))
        optimizer.zero_grad(set_to_none=True)
        micro = _examples(config, task.num_examples, step)
        total, extras = 0.0, dict[str, Any]()
        for examples in micro:
            loss, extras = task.loss(examples)
            if not torch.isfinite(loss):
                raise GenerationFailed(
                    f"training diverged at step {step} (loss {loss.item()}); lower the learning "
                    "rate",
                    code="TRAINING_DIVERGED",
                )
            (loss / len(micro)).backward()
            total += float(loss.detach()) / len(micro)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        loss_value = total
        if step % config.log_every == 0 or step == config.steps:
            log.append(
                {
                    "step": step,
                    "loss": total,
                    "lr": config.learning_rate,
                    "grad_norm": float(grad_norm),
                    **extras,
                    "elapsed_s": round(time.perf_counter() - started, 4),
                }
            )
            with (out / LOG_FILE).open("a") as f:
                f.write(json.dumps(log[-1]) + "\n")
        if step % config.checkpoint_every == 0 or step == config.steps:
            checkpoint(step)
        if progress is not None:
            progress(step, config.steps, total)
    task.save_adapter(out)
    meta = {**info, "config": config.to_dict(), "steps": config.steps, "final_loss": loss_value}
    (out / INFO_FILE).write_text(json.dumps(meta, indent=2))
    return TrainResult(out, config.steps, loss_value, start, log)
