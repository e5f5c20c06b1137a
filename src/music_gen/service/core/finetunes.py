"""The intake of fine-tuning jobs (``POST /api/v1/finetunes``): every check the door can make,
then one ordinary durable job of type ``finetune`` (``jobs.finetune.FinetuneSpec``).

Checked here, in this order, each with its stable code:

- the adapter's name (INVALID_ADAPTER: not a folder name; 409 ADAPTER_EXISTS: the adapter
  store has it, or another queued or running finetune will make it);
- the model: served here (UNKNOWN_MODEL) and trainable (UNSUPPORTED_FEATURE: its family has
  no training objective, e.g. the composer);
- the settings, as ``train.TrainConfig`` checks them (INVALID_TRAINING_CONFIG, naming the
  setting), and ``steps`` up to ``Settings.max_training_steps``;
- the webhook URL (as for every job);
- the account's limit: at most ``Settings.max_finetunes_per_account`` (default 1) queued or
  running at once, else **409 FINETUNE_LIMIT_REACHED** naming the running one (a state of the
  account, not a rate: it clears when that job ends, so no Retry-After);
- the dataset: written or extracted safely (``core.datasets``: INVALID_DATASET,
  INVALID_ARCHIVE), then scanned without decoding (INVALID_DATASET where no audio file has a
  caption, or ``metadata.jsonl`` is malformed);
- the storage quota (413 STORAGE_QUOTA_EXCEEDED, as for every job); a disk that cannot take
  the dataset is 503 STORAGE_FULL / STORAGE_UNAVAILABLE, and nothing is left of it.

What needs decoding (unreadable, short, silent audio) is found when the job runs: such files
are skipped by name (the job's ``dataset.skipped``), and a dataset with none left fails the
job with INVALID_DATASET.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ...errors import Conflict, InvalidInput, NotFound, UnsupportedFeature
from ...train.api import TRAINABLE, trainable
from ...train.config import TrainConfig
from .datasets import DatasetLimits, check_dataset, extract_archive, remove, write_files
from .infra.auth import Caller
from .infra.db import Job
from .infra.storage import storage_failure
from .infra.urlguard import check_public_url
from .jobs.finetune import FinetuneSpec
from .jobs.jobs import NewJob
from .jobs.spec import JobType
from .state import ServiceState

__all__ = [
    "TRAIN_SETTINGS",
    "FinetuneRequest",
    "cancel_finetune",
    "get_finetune",
    "submit_finetune",
    "work_root",
]

#: the ``TrainConfig`` fields a request may set
TRAIN_SETTINGS = (
    "steps", "rank", "alpha", "target_modules", "learning_rate", "batch_size",
    "gradient_accumulation", "seed", "checkpoint_every", "log_every", "text_dropout",
    "lora_dropout", "weight_decay", "max_grad_norm", "window_seconds", "min_seconds",
)  # fmt: skip


@dataclass
class FinetuneRequest:
    """What a caller asks for (the route's form fields): ``name`` of the adapter to make,
    ``model`` (None: the server's default), ``settings`` (``TrainConfig`` fields given)."""

    name: str
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    track_id: str | None = None


def work_root(state: ServiceState) -> Path:
    """Where finetune jobs keep their dataset and training output (one folder per job)."""
    return state.settings.data_dir / "finetunes"


def _adapter_taken(state: ServiceState, name: str) -> None:
    store = state.adapter_store
    if store.folder(name).exists():
        raise Conflict(
            f"an adapter named {name!r} exists already; choose another name",
            code="ADAPTER_EXISTS",
            details={"adapter": name},
        )
    for job in state.store.active(None, JobType.FINETUNE):
        if job.params.get("adapter") == name:
            raise Conflict(
                f"finetune {job.id} is making an adapter named {name!r}; choose another name",
                code="ADAPTER_EXISTS",
                details={"adapter": name},
            )


def _model(state: ServiceState, requested: str | None) -> str:
    model = state.catalog.resolve(requested)
    card = state.catalog.card(model)
    family = card.family
    if not trainable(card):
        raise UnsupportedFeature(
            f"model {model!r} ({family}) cannot be fine-tuned; choose a MusicGen, ACE-Step or "
            "Stable Audio 3 model (the 'adapter' capability) from GET /api/v1/models",
            details={"model": model, "family": family, "trainable": sorted(TRAINABLE)},
        )
    return model


def _config(state: ServiceState, settings: dict[str, Any]) -> TrainConfig:
    unknown = sorted(set(settings) - set(TRAIN_SETTINGS))
    if unknown:
        raise InvalidInput(
            f"unknown settings: {', '.join(unknown)}",
            code="INVALID_TRAINING_CONFIG",
            details={"unknown": unknown, "allowed": list(TRAIN_SETTINGS)},
        )
    config = TrainConfig.from_dict(settings)
    limit = state.settings.max_training_steps
    if config.steps > limit:
        raise InvalidInput(
            f"steps must be at most {limit} on this server, got {config.steps}",
            code="INVALID_TRAINING_CONFIG",
            details={"setting": "steps", "max": limit},
        )
    return config


def _limit(state: ServiceState, caller: Caller) -> None:
    limit = state.settings.max_finetunes_per_account
    active = state.store.active(caller.account_id, JobType.FINETUNE)
    if len(active) >= limit:
        raise Conflict(
            f"this account has {len(active)} fine-tuning job(s) queued or running (at most "
            f"{limit} at a time); wait for {active[0].id} to end or cancel it",
            code="FINETUNE_LIMIT_REACHED",
            details={"limit": limit, "task_ids": [j.id for j in active]},
        )


def submit_finetune(
    state: ServiceState,
    caller: Caller,
    request: FinetuneRequest,
    files: Sequence[tuple[str, IO[bytes]]] = (),
    archive: tuple[str, IO[bytes]] | None = None,
) -> Job:
    """Check ``request`` and its dataset (uploaded ``files``, or one ``archive``), write the
    dataset into the job's folder, and queue the job (see the module's doc)."""
    from .submit import check_storable

    check_storable({"name": request.name, "settings": request.settings,
                    "track_id": request.track_id})  # fmt: skip
    state.adapter_store.folder(request.name)  # INVALID_ADAPTER for a name that is no folder
    model = _model(state, request.model)
    config = _config(state, request.settings)
    if request.webhook_url is not None:
        s = state.settings
        check_public_url(request.webhook_url, s.allow_private_urls, s.allow_loopback_urls,
                         what="webhook url")  # fmt: skip
    _limit(state, caller)
    _adapter_taken(state, request.name)
    if bool(files) == (archive is not None):
        raise InvalidInput(
            "send the dataset as files (audio with NAME.txt captions or a metadata.jsonl) or "
            "as one archive (.zip, .tar.gz), not both and not neither",
            code="INVALID_DATASET",
        )
    work = work_root(state) / f"ft_{secrets.token_hex(8)}"
    data = work / "data"
    limits = DatasetLimits(state.settings.max_dataset_bytes, state.settings.max_dataset_files)
    try:
        try:
            data.mkdir(parents=True)
            if archive is not None:
                extract_archive(archive[0], archive[1], data, limits)
            else:
                write_files(files, data, limits)
        except OSError as exc:  # the disk, not the dataset: 503 STORAGE_FULL / _UNAVAILABLE
            raise storage_failure(exc, "the dataset") from exc
        summary = check_dataset(data)
        spec = FinetuneSpec(model=model, adapter=request.name, config=config.to_dict(),
                            work=str(work), dataset=summary)  # fmt: skip
        job, _ = state.store.create(
            NewJob(
                caller.account_id,
                spec,
                type=JobType.FINETUNE,
                webhook_url=request.webhook_url,
                track_id=request.track_id,
            )
        )
    except BaseException:
        remove(work)
        raise
    trainer = state.trainer
    if trainer is not None:
        trainer.wake()
    return job


def get_finetune(state: ServiceState, caller: Caller, task_id: str) -> Job:
    """The account's finetune job ``task_id`` (TASK_NOT_FOUND: none, or not a finetune)."""
    job = state.store.get(task_id, caller.account_id)
    if job.type != JobType.FINETUNE:
        raise NotFound(f"no finetune {task_id!r}", code="TASK_NOT_FOUND", details={"id": task_id})
    return job


def cancel_finetune(state: ServiceState, caller: Caller, task_id: str) -> Job:
    """Cancel a queued or running finetune (409 NOT_CANCELLABLE once it ended): a running one
    stops at its next step (its runner deletes its folder); a queued one's folder goes now."""
    before = get_finetune(state, caller, task_id)
    job = state.store.cancel(task_id, caller.account_id)
    if state.trainer is not None:
        state.trainer.cancel(task_id)
    if before.status == "queued":  # no run has it (a claim now finds it cancelled)
        remove(Path(str(before.params.get("work"))))
    return job
