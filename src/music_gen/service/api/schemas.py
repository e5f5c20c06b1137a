"""Request and response bodies of ``/api/v1``, by role: ``*Create`` in, ``*Public`` out.

Types are checked here (422 VALIDATION_ERROR); value ranges are checked by the library's own
validation so that the service and ``MusicGenerator`` give the same stable codes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.jobs.requests import EditRequest, MultitrackRequest
from ..core.jobs.spec import JobRequest

__all__ = [
    "AdapterList",
    "AdapterPublic",
    "BatchCreate",
    "BatchPublic",
    "EditCreate",
    "ErrorBody",
    "ErrorResponse",
    "FinetuneList",
    "FinetunePublic",
    "HealthPublic",
    "JobCreate",
    "JobList",
    "JobPublic",
    "JobSubmitted",
    "ModelList",
    "ModelPublic",
    "MultiInstrumentCreate",
    "ReadinessPublic",
    "StorageUsage",
    "UploadList",
    "UploadPublic",
]


class JobCreate(JobRequest):
    """A generation job (POST /generate, batches, the WebSocket)."""


class EditCreate(EditRequest):
    """Edit a song (models with the "edit" capability): the source by upload, job or URL."""


class UploadPublic(BaseModel):
    upload_id: str
    duration: float
    sample_rate: int
    channels: int
    format: str | None = None  # its container, as stored (as sent): wav, flac, ogg or mp3
    size: int | None = None  # bytes stored (counted toward the storage quota)
    created_at: dt.datetime | None = None


class StorageUsage(BaseModel):
    """Bytes the account keeps, by kind (results, uploads, adapters' files) and ``total``;
    ``quota`` in bytes (null: no limit)."""

    usage: dict[str, int]
    quota: int | None


class UploadList(BaseModel):
    uploads: list[UploadPublic]
    storage: StorageUsage


class MultiInstrumentCreate(MultitrackRequest):
    """Stems that share one plan, their mix, and (composer) the MIDI."""


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[JobCreate] = Field(min_length=1)


class JobSubmitted(BaseModel):
    task_id: str
    status: str
    eta: float = Field(description="Estimated seconds until the result is ready.")
    status_url: str
    queue_position: int | None = Field(
        default=None, description="While queued: its place in the queue, 1 = next."
    )


class BatchPublic(BaseModel):
    batch_id: str
    tasks: list[JobSubmitted]


class JobPublic(BaseModel):
    task_id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    progress_detail: dict[str, Any] | None = Field(
        default=None,
        description="What the run last said it was doing: a plan's section (1-based) of "
        "sections, its name, step of steps, stage (section, whole or repaint).",
    )
    queue_position: int | None = Field(
        default=None, description="While queued: its place in the queue, 1 = next."
    )
    type: Literal["batch", "stream", "multitrack", "edit", "finetune"] = Field(
        description="batch (one whole result), stream, multitrack (a mix with stems), edit or "
        "finetune (GET /finetunes/{id} shows its loss history)"
    )
    origin: str = Field(description="api, or the drop-in API it came through (segmind, ...)")
    kind: str = Field(
        description="Deprecated (use type and origin): the origin for drop-in APIs, else "
        "generate, stream, multitrack or edit.",
        json_schema_extra={"deprecated": True},
    )
    model: str
    prompt: str
    duration: float
    seed: int | None
    params: dict[str, Any] = Field(
        description="What the job runs with; input audio is named by its upload id, or true."
    )
    audio_url: str | None
    stems: dict[str, str] = Field(default_factory=dict, description="Stem name → audio URL.")
    midi_url: str | None = None
    metadata: dict[str, Any]
    error: dict[str, Any] | None
    batch_id: str | None
    track_id: str | None
    attempts: int
    worker: str | None = Field(
        default=None,
        description="What ran (or runs) the job: a Ray replica, or the server's own worker.",
    )
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class LossPoint(BaseModel):
    step: int
    loss: float | None = Field(description="The step's training loss (null: not finite).")


class FinetunePublic(BaseModel):
    """A fine-tuning job (``POST /finetunes``): its progress, loss history and result."""

    task_id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(description="step / total_steps")
    queue_position: int | None = None
    model: str = Field(description="The base model it trains on.")
    adapter: str = Field(description="The adapter's name in GET /adapters once it succeeded.")
    step: int = Field(description="Optimiser steps done.")
    total_steps: int
    loss: float | None = Field(description="The newest step's loss.")
    loss_history: list[LossPoint] = Field(
        description="Every step's loss (runs over 1000 steps: every n-th step, and the last)."
    )
    paused_s: float = Field(description="Seconds the run yielded to generation jobs.")
    resumed_from: int | None = Field(
        default=None, description="The checkpoint step this run resumed from (0: fresh)."
    )
    settings: dict[str, Any] = Field(description="The training settings (TrainConfig).")
    dataset: dict[str, Any] = Field(
        description="What the door saw (files, skipped) and, once loaded, the training's "
        "own summary (clips, windows, seconds, skipped files with their reasons)."
    )
    result: dict[str, Any] | None = Field(
        description="Once succeeded: adapter, model, steps, final_loss, resumed_from."
    )
    error: dict[str, Any] | None
    attempts: int
    track_id: str | None = None
    status_url: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class FinetuneList(BaseModel):
    items: list[FinetunePublic]
    total: int
    limit: int
    offset: int


class JobList(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int


class ModelPublic(BaseModel):
    name: str
    id: str
    family: str = Field(description="musicgen, composer, acestep (songs) or test-tone")
    size: str
    sample_rate: int
    channels: int
    capabilities: list[str]
    license: str = Field(
        description="The weights' licence as the checkpoint declares it (its model card's "
        "license:), or the published name's; 'unknown' otherwise."
    )
    commercial_use: bool | None = Field(
        description="Whether the licence allows commercial use (null: cannot tell)."
    )
    loaded: bool
    cached: bool
    default: bool
    adapters: list[str] = Field(
        default=[],
        description="The LoRA adapters (GET /adapters: yours and the shared ones) trained for "
        "this model: names a request's adapter may take.",
    )


class ModelList(BaseModel):
    models: list[ModelPublic]


class AdapterPublic(BaseModel):
    """A LoRA adapter in the server's store: the account's own, or shared by the operator."""

    name: str
    shared: bool = Field(description="Placed by the server's operator: usable, not deletable.")
    base_model: str | None = Field(description="The model it was trained on (null: unknown).")
    family: str | None = Field(description="musicgen, acestep, … (null: not trained yet).")
    ready: bool = Field(description="Its weights are there (false while it trains).")
    created_at: dt.datetime
    size_bytes: int = Field(description="Its files (counted in the account's storage).")
    rank: int | None = None
    steps: int | None = Field(default=None, description="Training steps it was trained for.")
    final_loss: float | None = Field(default=None, description="The last training loss.")
    models: list[str] = Field(
        default=[], description="The served models it applies to (its base model's)."
    )


class AdapterList(BaseModel):
    adapters: list[AdapterPublic]


class HealthPublic(BaseModel):
    status: Literal["ok"]
    version: str


class ReadinessPublic(BaseModel):
    ready: bool
    worker_alive: bool
    model_loadable: bool
    queue_depth: int
    running: int
    detail: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    error: ErrorBody


# documented on every route that answers in this shape (the vendor adapters' routers too)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in (
        (401, "Missing or invalid API key"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Body too large"),
        (422, "Invalid request"),
        (429, "Rate limited (see Retry-After)"),
    )
}


class PlanCreate(BaseModel):
    """Draft a composition plan from ``prompt`` (offline, the composer's planner), or check
    ``plan`` (our shape or ElevenLabs' ``composition_plan``), for ``model`` where named."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(None, max_length=2000)
    duration: float = Field(60.0, gt=0, description="seconds (a draft)")
    seed: int = Field(0, ge=0)
    plan: dict[str, Any] | None = None
    model: str | None = Field(None, description="check the total against this model's limit")


class PlanPublic(BaseModel):
    plan: dict[str, Any] = Field(description="our JSON shape (POST it back, or to /generate)")
    composition_plan: dict[str, Any] = Field(description="the same plan in ElevenLabs' shape")
    duration: float
    sections: int
