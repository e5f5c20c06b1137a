"""``/generate``: submit, read, list, cancel and delete jobs; ``/generate/batch``."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ....errors import InvalidInput
from ...core.infra.db import JobStatus
from ...core.infra.storage import remove_conversions
from ...core.state import ServiceState
from ...core.submit import submit, validate_request
from ..deps import CallerDep, IdempotencyKey, StateDep
from ..schemas import BatchCreate, BatchPublic, JobCreate, JobList, JobPublic, JobSubmitted
from ..views import accept, job_public, submitted

log = logging.getLogger("music_gen.service")

router = APIRouter(prefix="/generate", tags=["generate"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobSubmitted)
def create_job(
    body: JobCreate,
    state: StateDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobSubmitted:
    return accept(state, caller, body, response, idempotency_key)


@router.post("/batch", status_code=status.HTTP_202_ACCEPTED, response_model=BatchPublic)
def create_batch(
    body: BatchCreate,
    state: StateDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> BatchPublic:
    limit = state.settings.max_batch_requests
    if len(body.requests) > limit:
        raise InvalidInput(
            f"a batch holds at most {limit} requests, got {len(body.requests)}",
            code="INVALID_BATCH",
            details={"max_requests": limit},
        )
    # validate everything before queueing anything (and only once)
    validated = [validate_request(state, request, caller) for request in body.requests]
    batch_id = f"batch_{secrets.token_hex(8)}"
    tasks = []
    for i, (request, checked) in enumerate(zip(body.requests, validated, strict=True)):
        key = f"{idempotency_key}:{i}" if idempotency_key else None
        job, _ = submit(
            state, caller, request, batch_id=batch_id, idempotency_key=key, validated=checked
        )
        batch_id = job.batch_id or batch_id  # a replayed key returns the first batch's jobs
        tasks.append(submitted(state, job))
    return BatchPublic(batch_id=batch_id, tasks=tasks)


@router.get("/batch/{batch_id}", response_model=JobList)
def read_batch(batch_id: str, state: StateDep, caller: CallerDep) -> JobList:
    jobs, total = state.store.list_jobs(caller.account_id, batch_id=batch_id, limit=1000)
    if not jobs:
        from ....errors import NotFound

        raise NotFound(f"no batch {batch_id!r}", details={"id": batch_id})
    return JobList(items=[job_public(state, j) for j in jobs], total=total, limit=1000, offset=0)


@router.get("", response_model=JobList)
def list_jobs(
    state: StateDep,
    caller: CallerDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    jobs, total = state.store.list_jobs(caller.account_id, status, limit, offset)
    return JobList(
        items=[job_public(state, j) for j in jobs], total=total, limit=limit, offset=offset
    )


@router.get("/{task_id}", response_model=JobPublic)
def read_job(task_id: str, state: StateDep, caller: CallerDep) -> JobPublic:
    job = state.store.get(task_id, caller.account_id)
    if job.status == JobStatus.RUNNING.value:
        job.progress = state.worker.progress.get(job.id, job.progress)
        job.report = state.worker.progress_detail.get(job.id, job.report)
    return job_public(state, job)


@router.delete(
    "/{task_id}",
    response_model=JobPublic,
    responses={204: {"description": "purge=true: the ended job and its audio are deleted"}},
)
def cancel_or_delete_job(
    task_id: str,
    state: StateDep,
    caller: CallerDep,
    purge: Annotated[
        bool,
        Query(description="Delete an ended job and its stored audio (409 while it runs)."),
    ] = False,
) -> JobPublic | Response:
    """Cancel a queued or running job (409 NOT_CANCELLABLE once it has ended); with
    ``purge=true``, delete an ended job and its audio instead (409 NOT_DELETABLE before)."""
    if purge:
        for audio_id, key in state.store.delete_ended(task_id, caller.account_id):
            delete_audio(state, audio_id, key)
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    job = state.store.cancel(task_id, caller.account_id)
    state.worker.cancel(task_id)
    return job_public(state, job)


def delete_audio(state: ServiceState, audio_id: str, key: str) -> None:
    """A deleted job's stored file and its cached conversions (its row is gone already: a
    file that cannot be deleted now is only logged)."""
    try:
        state.storage.delete(key)
        remove_conversions(state.storage, audio_id)
    except (OSError, ValueError):
        log.warning("could not delete the audio %s of a deleted job", audio_id, exc_info=True)
