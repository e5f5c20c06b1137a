"""Segmind (seed 002): ``POST /v1/meta-musicgen-medium`` with ``x-api-key``, audio back at once.

Body ``{prompt, duration 1..30 (default 10), seed -1..9999 (default 42; -1 = random)}``; the
answer is the audio itself (``audio/wav``, or ``audio/mpeg`` / ``audio/flac`` / ``audio/ogg`` when
``Accept`` asks for it). Codes as Segmind documents them: 401 bad key, 404 unknown model path,
405 wrong method, 406 not enough credits, 500 with a JSON reason. Every response under ``/v1/``
carries ``x-remaining-credits`` (``unlimited`` when keys have no balance): each key starts with
``MUSIC_GEN_KEY_CREDITS`` and spends ``MUSIC_GEN_CREDITS_PER_SECOND`` per generated second.
The request runs as an ordinary job (kind ``segmind``) and the connection waits for it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ...errors import GenerationFailed, MusicGenError, NotFound, ServiceError
from ..auth import Caller
from ..deps import caller_for_key
from ..schemas import JobCreate
from ..state import ServiceState
from ..submit import submit
from .common import listener_event, wait_for_job

router = APIRouter(prefix="/v1", tags=["segmind (drop-in)"])

MODEL_PATHS = ("meta-musicgen-medium",)
ACCEPT = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/flac": "flac", "audio/ogg": "ogg",
          "audio/wav": "wav", "audio/x-wav": "wav"}  # fmt: skip
MEDIA = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg"}


class NotEnoughCredits(ServiceError):
    default_code = "NOT_ENOUGH_CREDITS"
    http_status = 406


class SegmindCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str
    duration: float = Field(10, ge=1, le=30)
    seed: int = Field(42, ge=-1, le=9999)


def remaining(state: ServiceState, caller: Caller | None) -> str:
    initial = state.settings.key_credits
    if initial is None:
        return "unlimited"
    if caller is None:
        return "0"
    return f"{max(0.0, initial - state.keys.credits_used(caller.key_id)):g}"


def _format(accept: str | None) -> str:
    for part in (accept or "").split(","):
        fmt = ACCEPT.get(part.split(";")[0].strip().lower())
        if fmt:
            return fmt
    return "wav"


def generate(state: ServiceState, caller: Caller, body: SegmindCreate, fmt: str) -> bytes:
    cost = body.duration * state.settings.credits_per_second
    left = remaining(state, caller)
    if left != "unlimited" and float(left) < cost:
        raise NotEnoughCredits(
            f"not enough credits: this request costs {cost:g}, {left} left",
            details={"cost": cost, "remaining": float(left)},
        )
    done, attach = listener_event(state)
    job, _ = submit(
        state,
        caller,
        JobCreate(
            prompt=body.prompt,
            duration=body.duration,
            seed=None if body.seed == -1 else body.seed,
            format=fmt,  # type: ignore[arg-type]
        ),
        kind="segmind",
        on_created=attach,
    )
    try:
        final = wait_for_job(state, job, state.settings.sync_timeout_seconds, done)
    finally:
        state.worker.unlisten(job.id)
    if final.status != "succeeded" or final.audio_id is None:
        if final.status in ("queued", "running"):
            state.worker.cancel(job.id)
        error = final.error or {"code": "GENERATION_FAILED", "message": f"job {final.status}"}
        raise GenerationFailed(error.get("message", "generation failed"), code=error.get("code"))
    from ..db import AudioFile

    with state.db.session() as s:
        record = s.get(AudioFile, final.audio_id)
    assert record is not None
    data = state.storage.get(record.key)
    if state.settings.key_credits is not None:
        state.keys.spend(caller.key_id, cost)
    return data


@router.post(
    "/{model_path}",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA.values()}, "description": "The audio."},
        406: {"description": "Not enough credits"},
    },
    summary="MusicGen (Segmind-compatible)",
)
async def segmind_generate(
    model_path: str,
    body: SegmindCreate,
    request: Request,
    x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    state: ServiceState = request.app.state.service
    caller = await run_in_threadpool(caller_for_key, state, x_api_key)
    if model_path not in MODEL_PATHS:
        raise NotFound(f"no model at /v1/{model_path}", details={"models": list(MODEL_PATHS)})
    fmt = _format(accept)
    data = await run_in_threadpool(generate, state, caller, body, fmt)
    return Response(data, media_type=MEDIA[fmt])


async def credits_header(request: Request, call_next: Any) -> Response:
    """Middleware: ``x-remaining-credits`` on every response under ``/v1/``."""
    response: Response = await call_next(request)
    if request.url.path.startswith("/v1/"):
        state: ServiceState = request.app.state.service

        def lookup() -> str:
            try:
                return remaining(state, state.keys.authenticate(request.headers.get("x-api-key")))
            except MusicGenError:
                return remaining(state, None)

        response.headers["x-remaining-credits"] = await run_in_threadpool(lookup)
    return response
