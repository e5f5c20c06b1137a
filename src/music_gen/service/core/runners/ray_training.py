"""``RayTraining``: with ``serve --ray``, each finetune runs as a Ray actor on the cluster with
the resources it asks for (``Settings.ray_training_cpus`` / ``ray_training_gpus``), never in the
API node's process; the API node's trainer still owns the job (claim, heartbeat, report,
settling), exactly as for a local run.

- The dataset travels to the actor in the call (its files' bytes through Ray's object store),
  with the checkpoints of an earlier run of the job, so a requeued job resumes wherever its
  actor lands; the actor trains in a temporary folder of its node (``torch`` limited to the
  CPUs it asked for).
- The API node polls the actor about twice a second for the steps done (``TrainingRun.on_step``:
  progress, loss history, cancellation) and for each new checkpoint, which it keeps in the
  job's folder.
- The adapter's files come back in the result and are stored by the API node, like a local
  run's. A cancelled job kills its actor; an actor lost with its node raises ``RunLost``: the
  job goes back to the queue (its attempt counted) and resumes from its last checkpoint.
- Errors of the training itself come back as the library's error body (code, message), so a
  job fails with INVALID_DATASET, TRAINING_DIVERGED & co. as it would locally.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ....errors import MusicGenError, error_for
from .training import RunLost, Stopped, TrainingRun

__all__ = ["RayTraining", "TrainingActor"]

POLL_SECONDS = 0.5
_CHECKPOINTS = "checkpoints"


def _read_tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``root`` by its relative POSIX path (top-level names in ``skip`` left
    out)."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in skip
    }


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class TrainingActor:
    """One training run on a cluster node (a Ray actor; ``max_concurrency`` > 1, so ``poll`` and
    ``cancel`` answer while ``train`` runs)."""

    def __init__(self, cpus: float) -> None:
        import torch

        torch.set_num_threads(max(1, int(cpus or 1)))
        self.events: list[tuple[int, int, float]] = []
        self.cancelled = False
        self.folder = Path(tempfile.mkdtemp(prefix="music-gen-train-"))
        self.sent: str | None = None
        self.lock = threading.Lock()

    def train(
        self,
        model: str,
        config: dict[str, Any],
        data: dict[str, bytes],
        checkpoints: dict[str, bytes],
        device: str,
        cache_dir: str | None,
    ) -> dict[str, Any]:
        from ....train.api import train

        run = self.folder / "run"
        _write_tree(self.folder / "data", data)
        _write_tree(run / _CHECKPOINTS, checkpoints)

        def progress(step: int, total: int, loss: float) -> None:
            with self.lock:
                self.events.append((step, total, loss))
            if self.cancelled:
                raise Stopped

        try:
            result = train(model, self.folder / "data", run, device=device,
                           cache_dir=cache_dir, progress=progress, **config)  # fmt: skip
        except Stopped:
            return {"cancelled": True}
        except MusicGenError as exc:
            return {"error": exc.to_dict()["error"]}
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return {"error": {"code": "GENERATION_FAILED", "message": message, "details": {}}}
        finally:
            shutil.rmtree(self.folder / "data", ignore_errors=True)
        from .training import _adapter_info

        info = _adapter_info(run)
        return {
            "files": _read_tree(run, skip=(_CHECKPOINTS,)),
            "steps": result.steps,
            "final_loss": result.loss,
            "resumed_from": result.resumed_from,
            "dataset": info.get("dataset"),
            "worker": f"ray-training-{os.uname().nodename}-{os.getpid()}",
            "pid": os.getpid(),
        }

    def poll(self, since: int) -> dict[str, Any]:
        """Steps done after the first ``since``, and the newest checkpoint if not sent yet."""
        with self.lock:
            events = self.events[since:]
        out: dict[str, Any] = {"events": events}
        root = self.folder / "run" / _CHECKPOINTS
        done = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file()) if (
            root.is_dir()
        ) else []  # fmt: skip
        if done and done[-1].name != self.sent:
            try:
                out["checkpoint"] = (done[-1].name, _read_tree(done[-1]))
                self.sent = done[-1].name
            except OSError:  # replaced while read: the next poll sends the next one
                pass
        return out

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class RayTraining:
    """The trainer's executor on a Ray cluster (``ray.init`` already done by ``connect``)."""

    def __init__(
        self, cpus: float, gpus: float, cache_dir: Path | None = None, device: str = "auto"
    ) -> None:
        self.cpus, self.gpus = cpus, gpus
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.device = device

    def run(self, run: TrainingRun, wait_turn: Callable[[], None]) -> tuple[Path, dict[str, Any]]:
        import ray
        from ray.exceptions import RayError

        spec = run.spec
        work = Path(spec.work)
        data = _read_tree(work / "data")
        checkpoints = _read_tree(work / "run" / _CHECKPOINTS)
        actor_class: Any = ray.remote(TrainingActor)
        options = {"num_cpus": self.cpus, "num_gpus": self.gpus, "max_concurrency": 4}
        actor: Any = actor_class.options(**options).remote(self.cpus)
        run.actor = actor
        try:
            call = actor.train.remote(spec.model, spec.config, data, checkpoints, self.device,
                                      self.cache_dir)  # fmt: skip
            seen = 0
            while True:
                ready, _ = ray.wait([call], timeout=POLL_SECONDS)
                polled: dict[str, Any] = ray.get(actor.poll.remote(seen), timeout=60)
                if "checkpoint" in polled:
                    _keep_checkpoint(work / "run" / _CHECKPOINTS, *polled["checkpoint"])
                for step, total, loss in polled["events"]:
                    seen += 1
                    try:
                        run.on_step(step, total, loss)
                    except Stopped:
                        actor.cancel.remote()
                        raise
                if ready:
                    break
            out: dict[str, Any] = ray.get(call)
        except RayError as exc:
            raise RunLost(f"the training actor was lost: {type(exc).__name__}") from exc
        finally:
            try:
                actor.close.remote()
                ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        if out.get("cancelled"):
            raise Stopped
        if "error" in out:
            body = out["error"]
            raise error_for(str(body.get("code")), str(body.get("message")),
                            details=dict(body.get("details") or {}))  # fmt: skip
        result = work / "run"
        _write_tree(result, out.pop("files"))
        return result, out


def _keep_checkpoint(root: Path, name: str, files: dict[str, bytes]) -> None:
    """Keep the actor's newest checkpoint in the job's folder (written aside, then renamed;
    older ones removed)."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _write_tree(tmp, files)
    final = root / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in root.glob("step-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
