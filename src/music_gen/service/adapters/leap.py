"""Leap "Generate Music" (seed 000): ``POST/GET /api/v1/music``, ``GET /api/v1/music/{id}``.

A Leap client changes only its base path and access token (one of our API keys, as
``Authorization: Bearer``). Entity: ``id``, ``createdAt``, ``prompt``, ``state``
(``queued`` | ``processing`` | ``finished`` | ``failed``), ``mediaUri`` when finished — plus
``mode``, ``duration``, ``seed`` and ``error``. Modes map to checkpoints by a setting:
``melody`` → ``MUSIC_GEN_LEAP_MELODY_MODEL`` when set, else the server's default model;
``music`` → the default model. ``webhookUrl`` gets the service's signed event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ..db import Job
from ..deps import CallerDep, StateDep
from ..schemas import JobCreate
from ..state import ServiceState
from ..submit import submit

router = APIRouter(prefix="/music", tags=["leap (drop-in)"])

_STATES = {"queued": "queued", "running": "processing", "succeeded": "finished",
           "failed": "failed", "cancelled": "failed"}  # fmt: skip


class LeapCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown Leap fields are ignored, as Leap does

    prompt: str
    mode: Literal["melody", "music"] = "melody"
    duration: float = Field(28, gt=0, le=30)
    webhookUrl: str | None = None


class LeapEntity(BaseModel):
    id: str
    createdAt: str
    prompt: str
    state: Literal["queued", "processing", "finished", "failed"]
    mediaUri: str | None
    mode: str
    duration: float
    seed: int | None
    error: dict[str, Any] | None = None


def entity(state: ServiceState, job: Job) -> LeapEntity:
    created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=dt.UTC)
    return LeapEntity(
        id=job.id,
        createdAt=created.isoformat().replace("+00:00", "Z"),
        prompt=str(job.params.get("prompt", "")),
        state=_STATES[job.status],  # type: ignore[arg-type]
        mediaUri=state.audio_url(job.audio_id),
        mode=str(job.params.get("mode", "music")),
        duration=float(job.params.get("duration", 0.0)),
        seed=job.seed,
        error=job.error,
    )


@router.post("", response_model=LeapEntity, summary="Generate Music (Leap)")
def create_audio(body: LeapCreate, state: StateDep, caller: CallerDep) -> LeapEntity:
    model = state.settings.leap_melody_model if body.mode == "melody" else None
    job, _ = submit(
        state,
        caller,
        JobCreate(
            prompt=body.prompt, duration=body.duration, model=model, webhook_url=body.webhookUrl
        ),
        kind="leap",
        extra={"mode": body.mode},
    )
    return entity(state, job)


@router.get("", response_model=list[LeapEntity], summary="List Music Generation Jobs (Leap)")
def find_all_audio(state: StateDep, caller: CallerDep) -> list[LeapEntity]:
    jobs, _ = state.store.list_jobs(caller.account_id, limit=1000, kind="leap")
    return [entity(state, j) for j in jobs]


@router.get("/{inferenceId}", response_model=LeapEntity, summary="Get a Music Generation Job")
def find_one_audio(inferenceId: str, state: StateDep, caller: CallerDep) -> LeapEntity:
    return entity(state, state.store.get(inferenceId, caller.account_id))
