"""Segmind (seed 002): the v1 blocking call and the v2 submit-poll-fetch path, ``x-api-key``.

- ``POST /v1/meta-musicgen-medium`` ``{prompt, duration 1..30 (default 10), seed -1..9999
  (default 42; -1 = random)}`` answers with the audio itself (``audio/wav``, or
  ``audio/mpeg`` / ``audio/flac`` / ``audio/ogg`` when ``Accept`` asks for it).
- ``POST /v2/meta-musicgen-medium`` (what the ``segmind`` SDK's ``run()`` and
  ``submit_async()`` call) answers at once ``{request_id, status: "QUEUED", status_url,
  response_url, poll_url}``; ``GET /v2/requests/{id}/status`` →
  ``{status: QUEUED|PROCESSING|COMPLETED|FAILED, request_id, metrics, error?}``;
  ``GET /v2/requests/{id}`` → ``{status: "COMPLETED", output: <audio URL>, audio_url,
  metrics, cost, remaining_credits, …}``. A FAILED request answers HTTP 422 with
  ``{status: "FAILED", error}`` on both, as Segmind's gateway does.

Errors use Segmind's envelope ``{"error": "<message>"}`` (plus our stable ``code``) and its
status codes: 400 bad body (checked after the model path and the key), 401 missing or bad key
(the message says to send ``x-api-key``), 404 unknown model path or request id, 405 wrong
method, 406 not enough credits, 429 rate limit, 500 generation failed.

Credits: each key starts with ``MUSIC_GEN_KEY_CREDITS`` and spends
``MUSIC_GEN_CREDITS_PER_SECOND`` per generated second; ``x-remaining-credits`` is on every
``/v1/{model}`` answer, errors and 405 included (``unlimited`` when keys have no balance): the
adapter's middleware (``middleware.py``) sets it, on Segmind's paths only. v1 spends after
success. v2 reserves the cost at submit (so concurrent submits cannot overspend) and gives it
back the first time the request is read as FAILED; a failure nobody reads stays spent.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import update

from ....errors import GenerationFailed, InvalidInput, MusicGenError, NotFound
from ...api.deps import caller_for_key
from ...api.responses import SafeJSONResponse as JSONResponse
from ...api.schemas import ERROR_RESPONSES
from ...core.infra.auth import Caller
from ...core.infra.db import AudioFile, Job
from ...core.jobs.spec import JobRequest
from ...core.state import ServiceState
from ...core.submit import submit
from ..common import (
    adapter_settings,
    json_body,
    listener_event,
    parse_json_object,
    wait_for_job,
)
from .credits import remaining, spend
from .errors import NotEnoughCredits, segmind_error
from .schemas import ACCEPT, MEDIA, V2_STATUS, SegmindCreate
from .settings import SegmindSettings

__all__ = ["router"]

router = APIRouter(tags=["segmind (drop-in)"], responses=ERROR_RESPONSES)

NAME = "segmind"
MODEL_PATHS = ("meta-musicgen-medium",)
REFUNDED = "segmind:refunded"  # the v2 job's track_id once its reserved cost was given back


def _settings(request: Request) -> SegmindSettings:
    settings: SegmindSettings = adapter_settings(request, NAME)
    return settings


SettingsDep = Annotated[SegmindSettings, Depends(_settings)]


def _format(accept: str | None) -> str:
    for part in (accept or "").split(","):
        fmt = ACCEPT.get(part.split(";")[0].strip().lower())
        if fmt:
            return fmt
    return "wav"


def _check_model(model_path: str) -> None:
    if model_path not in MODEL_PATHS:
        raise NotFound(
            f"Model not found: {model_path!r}; this server runs {', '.join(MODEL_PATHS)}",
            code="MODEL_NOT_FOUND",
            details={"models": list(MODEL_PATHS)},
        )


def _body(raw: bytes) -> SegmindCreate:
    try:
        return SegmindCreate(**parse_json_object(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        raise InvalidInput(f"{where}: {first['msg']}", code="VALIDATION_ERROR") from exc


def _cost(
    state: ServiceState, settings: SegmindSettings, caller: Caller, body: SegmindCreate
) -> float:
    cost = body.duration * settings.credits_per_second
    left = remaining(state.db, settings, caller)
    if left != "unlimited" and float(left) < cost:
        raise NotEnoughCredits(
            f"Insufficient credits: this request costs {cost:g}, {left} left",
            details={"cost": cost, "remaining": float(left)},
        )
    return cost


def _job_body(body: SegmindCreate, fmt: str) -> JobRequest:
    return JobRequest(
        prompt=body.prompt,
        duration=body.duration,
        seed=None if body.seed == -1 else body.seed,
        format=fmt,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------------------------- v1
def generate(
    state: ServiceState, settings: SegmindSettings, caller: Caller, body: SegmindCreate, fmt: str
) -> bytes:
    cost = _cost(state, settings, caller, body)
    done, attach = listener_event(state)
    job, _ = submit(state, caller, _job_body(body, fmt), origin="segmind", on_created=attach)
    try:
        final = wait_for_job(state, job, settings.sync_timeout_seconds, done)
    finally:
        state.worker.unlisten(job.id)
    if final.status != "succeeded" or final.audio_id is None:
        if final.status in ("queued", "running"):
            state.worker.cancel(job.id)
        error = final.error or {"code": "GENERATION_FAILED", "message": f"job {final.status}"}
        raise GenerationFailed(error.get("message", "generation failed"), code=error.get("code"))
    with state.db.session() as s:
        record = s.get(AudioFile, final.audio_id)
    if record is None:
        raise NotFound("the result's audio is gone", code="AUDIO_NOT_FOUND")
    data = state.storage.get(record.key)
    if settings.key_credits is not None:
        spend(state.db, caller.key_id, cost)
    return data


def _v1(
    state: ServiceState,
    settings: SegmindSettings,
    model_path: str,
    key: str | None,
    raw: bytes,
    fmt: str,
) -> bytes:
    _check_model(model_path)  # the path before the key and the body: an unknown model is 404
    caller = caller_for_key(state, key)
    return generate(state, settings, caller, _body(raw), fmt)


@router.post(
    "/v1/{model_path}",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA.values()}, "description": "The audio."},
        400: {"description": "Invalid body"},
        401: {"description": "Missing or invalid x-api-key"},
        404: {"description": "No such model"},
        406: {"description": "Not enough credits"},
        500: {"description": "Generation failed"},
    },
    summary="MusicGen (Segmind-compatible, v1: the audio in the response)",
    openapi_extra=json_body(SegmindCreate),
)
async def segmind_generate(
    model_path: str,
    request: Request,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    state: ServiceState = request.app.state.service
    raw = await request.body()
    fmt = _format(accept)
    try:
        data = await run_in_threadpool(_v1, state, settings, model_path, x_api_key, raw, fmt)
    except MusicGenError as exc:
        return segmind_error(exc)
    return Response(data, media_type=MEDIA[fmt])


@router.api_route(
    "/v1/{model_path}", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def segmind_wrong_method(model_path: str) -> Response:
    """405 in Segmind's envelope (the middleware adds the credits header, as to every /v1
    answer)."""
    body = {"error": "Method Not Allowed: the model routes take POST", "code": "METHOD_NOT_ALLOWED"}
    return JSONResponse(body, status_code=405, headers={"Allow": "POST"})


# ------------------------------------------------------------------------------------- v2
def _urls(state: ServiceState, job_id: str) -> dict[str, str]:
    base = f"{state.settings.base_url}/v2/requests/{job_id}"
    return {"status_url": f"{base}/status", "response_url": base, "poll_url": base}


def _submit_v2(
    state: ServiceState, settings: SegmindSettings, model_path: str, key: str | None, raw: bytes
) -> dict[str, Any]:
    _check_model(model_path)
    caller = caller_for_key(state, key)
    body = _body(raw)
    cost = _cost(state, settings, caller, body)
    extra = {"segmind": {"key_id": caller.key_id, "cost": cost}}
    job, _ = submit(state, caller, _job_body(body, "wav"), origin="segmind", options=extra)
    if settings.key_credits is not None:
        spend(state.db, caller.key_id, cost)  # reserved; given back if the request fails
    return {"request_id": job.id, "status": "QUEUED", **_urls(state, job.id)}


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 3)


def _metrics(job: Job) -> dict[str, float]:
    values = {
        "queue_time": _seconds(job.started_at, job.created_at),
        "inference_time": _seconds(job.finished_at, job.started_at),
        "total_time": _seconds(job.finished_at, job.created_at),
    }
    return {k: v for k, v in values.items() if v is not None}


def _refund_once(state: ServiceState, settings: SegmindSettings, job: Job) -> None:
    """Give a failed v2 request's reserved cost back, once (the track_id marks it)."""
    charge = (job.options or {}).get("segmind") or {}
    if settings.key_credits is None or not charge.get("cost"):
        return
    with state.db.session.begin() as s:
        marked = s.execute(
            update(Job).where(Job.id == job.id, Job.track_id.is_(None)).values(track_id=REFUNDED)
        )
    if getattr(marked, "rowcount", 0) == 1:
        spend(state.db, str(charge["key_id"]), -float(charge["cost"]))


def _v2_job(state: ServiceState, job_id: str, key: str | None) -> tuple[Job, Caller]:
    caller = caller_for_key(state, key)
    try:
        job = state.store.get(job_id, caller.account_id)
    except NotFound:
        raise NotFound(f"Request {job_id} not found", code="REQUEST_NOT_FOUND") from None
    if job.origin != "segmind":
        raise NotFound(f"Request {job_id} not found", code="REQUEST_NOT_FOUND")
    return job, caller


def _v2_view(
    state: ServiceState, settings: SegmindSettings, job_id: str, key: str | None, full: bool
) -> tuple[int, Any]:
    job, caller = _v2_job(state, job_id, key)
    status = V2_STATUS[job.status]
    body: dict[str, Any] = {"status": status, "request_id": job.id, "metrics": _metrics(job)}
    if status == "FAILED":
        _refund_once(state, settings, job)
        error = job.error or {}
        body["error"] = error.get("message") or f"the request was {job.status}"
        body["code"] = error.get("code", job.status.upper())
        return 422, body
    if status != "COMPLETED":
        return 200, {**body, **_urls(state, job.id)}
    if not full:
        return 200, body
    url = state.audio_url(job.audio_id)
    result = job.result or {}
    cost = float(((job.options or {}).get("segmind") or {}).get("cost", 0.0))
    return 200, {
        **body,
        "output": url,
        "audio_url": url,
        "duration": result.get("duration"),
        "sample_rate": result.get("sample_rate"),
        "seed": job.seed,
        "cost": cost,
        "remaining_credits": remaining(state.db, settings, caller),
    }


@router.post(
    "/v2/{model_path}",
    responses={
        400: {"description": "Invalid body"},
        401: {"description": "Missing or invalid x-api-key"},
        404: {"description": "No such model"},
        406: {"description": "Not enough credits"},
    },
    summary="MusicGen (Segmind-compatible, v2: submit, then poll status_url)",
    openapi_extra=json_body(SegmindCreate),
)
async def segmind_submit(
    model_path: str,
    request: Request,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None,
) -> Any:
    state: ServiceState = request.app.state.service
    raw = await request.body()
    try:
        return await run_in_threadpool(_submit_v2, state, settings, model_path, x_api_key, raw)
    except MusicGenError as exc:
        return segmind_error(exc)


async def _view(request: Request, request_id: str, key: str | None, full: bool) -> Any:
    state: ServiceState = request.app.state.service
    settings = _settings(request)
    try:
        status, body = await run_in_threadpool(_v2_view, state, settings, request_id, key, full)
    except MusicGenError as exc:
        return segmind_error(exc)
    return JSONResponse(body, status_code=status)


@router.get(
    "/v2/requests/{request_id}/status",
    responses={404: {"description": "No such request"}, 422: {"description": "FAILED"}},
    summary="Status of a v2 request (Segmind-compatible)",
)
async def segmind_status(
    request_id: str,
    request: Request,
    x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None,
) -> Any:
    return await _view(request, request_id, x_api_key, full=False)


@router.get(
    "/v2/requests/{request_id}",
    responses={404: {"description": "No such request"}, 422: {"description": "FAILED"}},
    summary="Result of a v2 request (Segmind-compatible)",
)
async def segmind_result(
    request_id: str,
    request: Request,
    x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None,
) -> Any:
    return await _view(request, request_id, x_api_key, full=True)
