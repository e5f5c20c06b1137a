"""The public views of jobs: what a client sees of a job and of a submission."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from fastapi import Response

from ..core.infra.auth import Caller
from ..core.infra.db import Job
from ..core.jobs.spec import INPUT_FILES
from ..core.state import ServiceState
from ..core.submit import Request, eta_seconds, queue_position, submit
from .responses import scrub
from .schemas import FinetunePublic, JobPublic, JobSubmitted

__all__ = ["accept", "finetune_public", "job_public", "public_params", "submitted"]


def submitted(state: ServiceState, job: Job) -> JobSubmitted:
    return JobSubmitted(
        task_id=job.id,
        status=job.status,
        eta=eta_seconds(state, float(job.params.get("duration", 10.0))),
        status_url=f"{state.settings.base_url}/api/v1/generate/{job.id}",
        queue_position=queue_position(state, job),
    )


def accept(
    state: ServiceState,
    caller: Caller,
    body: Request,
    response: Response,
    idempotency_key: str | None,
) -> JobSubmitted:
    """A job route's whole answer: ``body`` through the core's intake, the 202 body and its
    ``Location`` header."""
    job, _ = submit(state, caller, body, idempotency_key=idempotency_key)
    out = submitted(state, job)
    response.headers["Location"] = out.status_url
    return out


#: the deprecated ``kind`` field's old values for the API's own jobs
_LEGACY_KIND = {"batch": "generate"}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC
        return value.replace(tzinfo=dt.UTC)
    return value


def public_params(state: ServiceState, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as a client may see them: an input file is named by the upload it came from
    (``reference: "up_…"``), or ``true``; any other path under the data directory is ``true``."""
    ids = {f"{name}_upload_id" for name in INPUT_FILES} | {"model"}
    out = {k: v for k, v in params.items() if k not in ids}
    for name in INPUT_FILES:
        if isinstance(out.get(name), str):
            out[name] = params.get(f"{name}_upload_id") or True
    root = str(state.settings.data_dir.resolve())
    prefixes = (root + os.sep, str(state.settings.data_dir) + os.sep)

    def scrub(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(prefixes):
            return True
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return {k: scrub(v) for k, v in out.items()}


def _running_on(state: ServiceState, job: Job) -> str | None:
    """The Ray replica running the job, when this node dispatched it (else None)."""
    where = getattr(state.backend, "where", None)
    return where(job.id) if where is not None and job.status == "running" else None


def job_public(state: ServiceState, job: Job) -> JobPublic:
    """What a client sees of ``job``; text a stored row holds that cannot be encoded (a lone
    surrogate) is shown as U+FFFD, so one bad row never fails a read or a list."""
    result = job.result or {}
    created = _utc(job.created_at)
    assert created is not None
    return JobPublic.model_validate(scrub(dict(
        task_id=job.id,
        status=job.status,
        progress=round(job.progress, 4),
        progress_detail=job.report if job.status == "running" else None,  # while it runs
        queue_position=queue_position(state, job),
        type=job.type,
        origin=job.origin,
        kind=_LEGACY_KIND.get(job.type, job.type) if job.origin == "api" else job.origin,
        model=job.model,
        prompt=str(job.params.get("prompt", "")),
        duration=float(result.get("duration", job.params.get("duration", 0.0))),
        seed=job.seed,
        params=public_params(state, job.params),
        audio_url=state.audio_url(job.audio_id),
        stems={name: state.audio_url(i) or "" for name, i in (result.get("stems") or {}).items()},
        midi_url=state.audio_url(result.get("midi_id")),
        metadata=result.get("metadata", {}),
        error=job.error,
        batch_id=job.batch_id,
        track_id=job.track_id,
        attempts=job.attempts,
        worker=result.get("worker") or _running_on(state, job) or job.worker_id,
        created_at=created,
        started_at=_utc(job.started_at),
        finished_at=_utc(job.finished_at),
    )))  # fmt: skip


def finetune_public(state: ServiceState, job: Job) -> FinetunePublic:
    """What a client sees of a finetune job: the live report where this node runs it, else
    the one stored with its last heartbeat."""
    progress, report = job.progress, dict(job.report or {})
    live = state.trainer.snapshot(job.id) if state.trainer is not None else None
    if live is not None and job.status == "running":
        progress, report = live
    params = job.params
    config = dict(params.get("config") or {})
    history = list(report.get("history") or [])
    created = _utc(job.created_at)
    assert created is not None
    dataset = {**(params.get("dataset") or {}), **(report.get("dataset") or {})}
    return FinetunePublic.model_validate(scrub(dict(
        task_id=job.id,
        status=job.status,
        progress=round(progress, 4),
        queue_position=queue_position(state, job),
        model=job.model,
        adapter=str(params.get("adapter", "")),
        step=int(report.get("step") or 0),
        total_steps=int(report.get("total") or config.get("steps") or 0),
        loss=report.get("loss"),
        loss_history=history,
        paused_s=float(report.get("paused_s") or 0.0),
        resumed_from=report.get("resumed_from"),
        settings=config,
        dataset=dataset,
        result=job.result,
        error=job.error,
        attempts=job.attempts,
        track_id=job.track_id,
        status_url=f"{state.settings.base_url}/api/v1/finetunes/{job.id}",
        created_at=created,
        started_at=_utc(job.started_at),
        finished_at=_utc(job.finished_at),
    )))  # fmt: skip
