"""ModelsLab (seed 001): ``POST /api/v6/voice/music_gen`` and ``POST /api/v6/voice/fetch/{id}``.

The key travels in the body (``key``). Fields: ``prompt``; ``init_audio`` (a URL — or base64
data when ``base64`` is true — fetched safely, see ``common.fetch_input_audio``; it conditions
melody checkpoints through its chroma and is the continuation prompt for text-only
checkpoints); ``sampling_rate`` (default 32000; values under 10000 are raised to 10000, which
``meta.sampling_rate`` reports); ``max_new_token`` 256..1024 (MusicGen frames: 50 per second,
so 5.12..20.48 s; default 256); ``base64`` (true: ``output`` holds the audio as base64 text);
``temp`` (true: links that expire after an hour); ``webhook`` + ``track_id`` (the same body is
POSTed, signed, when the job ends).

Answers, always HTTP 200 like ModelsLab: ``{"status": "success", "generationTime", "id",
"output": [url], "proxy_links": [url], "meta": {...}}`` when the job finished within
``MUSIC_GEN_SYNC_WAIT_SECONDS``; else ``{"status": "processing", "eta", "id", "fetch_result",
"output": [], "meta"}``; errors ``{"status": "error", "message"}``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import MusicGenError
from ..db import AudioFile, Job
from ..deps import authenticate, caller_for_key
from ..schemas import JobCreate
from ..state import ServiceState
from ..submit import resolve_model, submit, submitted
from .common import (
    conditioning_for,
    error_message,
    fetch_input_audio,
    listener_event,
    wait_for_job,
)

router = APIRouter(prefix="/api/v6/voice", tags=["modelslab (drop-in)"])

FRAMES_PER_SECOND = 50
TEMP_LINK_SECONDS = 3600


class ModelsLabCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""
    prompt: str
    init_audio: str | None = None
    sampling_rate: int = Field(32000, gt=0, le=192000)
    max_new_token: int = Field(256, ge=256, le=1024)
    base64: bool = False
    temp: bool = False
    webhook: str | None = None
    track_id: str | None = None


class ModelsLabFetch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "message": message}


def response_body(state: ServiceState, job: Job) -> dict[str, Any]:
    """The ModelsLab answer for ``job`` in its current state."""
    p = job.params
    meta: dict[str, Any] = {
        "base64": "yes" if p.get("ml_base64") else "no",
        "filename": None,
        "input_text": p.get("prompt"),
        "max_new_token": p.get("max_new_token"),
        "sampling_rate": p.get("sample_rate"),
        "temp": "yes" if p.get("ml_temp") else "no",
        "conditioning_melody": [p["ml_init_audio"]] if p.get("ml_init_audio") else [],
        "seed": job.seed,
        "track_id": job.track_id,
    }
    if job.status in ("failed", "cancelled"):
        message = (job.error or {}).get("message", f"generation {job.status}")
        return {**_error(message), "id": job.id, "track_id": job.track_id}
    if job.status != "succeeded" or job.audio_id is None:
        eta = submitted(state, job).eta
        return {
            "status": "processing",
            "eta": eta,
            "id": job.id,
            "message": "generation in progress; POST fetch_result with your key",
            "fetch_result": f"{state.settings.base_url}/api/v6/voice/fetch/{job.id}",
            "output": [],
            "proxy_links": [],
            "meta": meta,
        }
    with state.db.session() as s:
        record = s.get(AudioFile, job.audio_id)
    url = state.audio_url(job.audio_id) or ""
    if p.get("ml_temp"):
        url = state.temporary_audio_url(job.audio_id, int(time.time()) + TEMP_LINK_SECONDS)
    meta["filename"] = record.key if record is not None else None
    output = [url]
    if p.get("ml_base64") and record is not None:
        output = [base64.b64encode(state.storage.get(record.key)).decode("ascii")]
    started, finished = job.started_at or job.created_at, job.finished_at or job.created_at
    return {
        "status": "success",
        "generationTime": round((finished - started).total_seconds(), 3),
        "id": job.id,
        "output": output,
        "proxy_links": [url],
        "meta": meta,
        "track_id": job.track_id,
    }


def webhook_body(state: ServiceState, job: Job) -> str:
    return json.dumps(response_body(state, job), separators=(",", ":"))


def _create(state: ServiceState, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        body = ModelsLabCreate(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        return _error(f"{where}: {first['msg']}")
    try:
        caller = caller_for_key(state, body.key)
        rate = max(10000, body.sampling_rate)
        extra: dict[str, Any] = {
            "max_new_token": body.max_new_token,
            "ml_base64": body.base64,
            "ml_temp": body.temp,
            "ml_init_audio": body.init_audio if body.init_audio and not body.base64 else None,
            "api": "modelslab",
        }
        model = resolve_model(state, None)
        if body.init_audio:
            path = fetch_input_audio(state, body.init_audio, body.base64)
            extra.update(
                conditioning_for(state, model, path, body.max_new_token / FRAMES_PER_SECOND)
            )
        done, attach = listener_event(state)
        job, _ = submit(
            state,
            caller,
            JobCreate(
                prompt=body.prompt,
                duration=body.max_new_token / FRAMES_PER_SECOND,
                sample_rate=rate,
                webhook_url=body.webhook or None,
                track_id=body.track_id or None,
            ),
            kind="modelslab",
            extra=extra,
            on_created=attach,
        )
        try:
            final = wait_for_job(state, job, state.settings.sync_wait_seconds, done)
        finally:
            state.worker.unlisten(job.id)
        return response_body(state, final)
    except MusicGenError as exc:
        return _error(error_message(exc))


@router.post("/music_gen", summary="Music Gen (ModelsLab-compatible)")
async def music_gen(request: Request) -> dict[str, Any]:
    state: ServiceState = request.app.state.service
    try:
        raw = await request.json()
    except ValueError:
        return _error("the body must be JSON")
    if not isinstance(raw, dict):
        return _error("the body must be a JSON object")
    result: dict[str, Any] = await run_in_threadpool(_create, state, raw)
    return result


@router.post("/fetch/{job_id}", summary="Fetch a queued result (ModelsLab-compatible)")
def fetch(job_id: str, body: ModelsLabFetch, request: Request) -> dict[str, Any]:
    state: ServiceState = request.app.state.service
    try:
        job = state.store.get(job_id, authenticate(state, body.key).account_id)
    except MusicGenError as exc:
        return _error(error_message(exc))
    return response_body(state, job)
