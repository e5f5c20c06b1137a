"""Leap "Generate Music" (seed 000): ``POST/GET /api/v1/music``, ``GET /api/v1/music/{id}``.

A Leap client changes only its base path and access token (one of our API keys, as
``Authorization: Bearer``). Entity: ``id``, ``createdAt``, ``prompt``, ``state``
(``queued`` | ``processing`` | ``finished`` | ``failed``), the audio URL when finished as both
``media_uri`` (what ``@leap-ai/sdk`` 1.x types) and ``mediaUri`` (the seed's spelling) — plus
``mode``, ``duration``, ``seed``, ``error`` (a message string, as the SDK types it) and
``errorCode`` (our stable code).

``GET /music/{id}`` needs no key, as in Leap's spec (the SDK's ``findOne`` sends none): the id
is 128 random bits and is the capability, like an audio URL, and only jobs created through this
adapter are found that way. With an ``Authorization`` header the key is checked and the job must
belong to its account. Listing and creating always need the key. Modes map to checkpoints by a
setting:
``melody`` → ``MUSIC_GEN_LEAP_MELODY_MODEL`` when set, else the server's default model;
``music`` → the default model. ``webhookUrl`` gets the service's signed event.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ....errors import NotFound
from ...api.deps import CallerDep, StateDep, caller_for_key
from ...api.schemas import ERROR_RESPONSES
from ...core.infra.db import Job
from ...core.jobs.spec import JobRequest
from ...core.state import ServiceState
from ...core.submit import submit
from ..common import adapter_settings
from .schemas import LeapCreate, LeapEntity
from .settings import LeapSettings

__all__ = ["NAME", "router"]

router = APIRouter(prefix="/api/v1/music", tags=["leap (drop-in)"], responses=ERROR_RESPONSES)

NAME = "leap"


def _settings(request: Request) -> LeapSettings:
    settings: LeapSettings = adapter_settings(request, NAME)
    return settings


SettingsDep = Annotated[LeapSettings, Depends(_settings)]

_STATES = {"queued": "queued", "running": "processing", "succeeded": "finished",
           "failed": "failed", "cancelled": "failed"}  # fmt: skip


def entity(state: ServiceState, job: Job) -> LeapEntity:
    created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=dt.UTC)
    url = state.audio_url(job.audio_id)
    error = job.error or {}
    if job.status == "cancelled" and not error:
        error = {"code": "CANCELLED", "message": "the job was cancelled"}
    return LeapEntity(
        id=job.id,
        createdAt=created.isoformat().replace("+00:00", "Z"),
        prompt=str(job.params.get("prompt", "")),
        state=_STATES[job.status],  # type: ignore[arg-type]
        media_uri=url,
        mediaUri=url,
        mode=str((job.options or {}).get("mode", "music")),
        duration=float(job.params.get("duration", 0.0)),
        seed=job.seed,
        error=error.get("message"),
        errorCode=error.get("code"),
    )


@router.post("", response_model=LeapEntity, summary="Generate Music (Leap)")
def create_audio(
    body: LeapCreate, state: StateDep, caller: CallerDep, settings: SettingsDep
) -> LeapEntity:
    model = settings.leap_melody_model if body.mode == "melody" else None
    job, _ = submit(
        state,
        caller,
        JobRequest(
            prompt=body.prompt, duration=body.duration, model=model, webhook_url=body.webhookUrl
        ),
        origin="leap",
        options={"mode": body.mode},
    )
    return entity(state, job)


@router.get("", response_model=list[LeapEntity], summary="List Music Generation Jobs (Leap)")
def find_all_audio(state: StateDep, caller: CallerDep) -> list[LeapEntity]:
    jobs, _ = state.store.list_jobs(caller.account_id, limit=1000, origin="leap")
    return [entity(state, j) for j in jobs]


_optional_bearer = HTTPBearer(auto_error=False, description="Optional: an API key.")
OptionalKey = Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)]


@router.get("/{inferenceId}", response_model=LeapEntity, summary="Get a Music Generation Job")
def find_one_audio(inferenceId: str, state: StateDep, credentials: OptionalKey) -> LeapEntity:
    if credentials is not None:
        caller = caller_for_key(state, credentials.credentials)
        return entity(state, state.store.get(inferenceId, caller.account_id))
    job = state.store.get(inferenceId)  # no key: the unguessable id is the capability
    if job.origin != "leap":
        raise NotFound(f"no task {inferenceId!r}", code="TASK_NOT_FOUND")
    return entity(state, job)
