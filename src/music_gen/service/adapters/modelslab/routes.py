"""ModelsLab (seed 001): ``POST /api/v6/voice/music_gen`` and ``POST /api/v6/voice/fetch/{id}``.

The key travels in the body (``key``); both calls count against the key's rate limit. Fields:
``prompt``; ``init_audio`` (a URL — or base64 data when ``base64`` is true — fetched safely, see
``inputs.fetch_input_audio``; it conditions melody checkpoints through its chroma, is the
continuation prompt for text-only checkpoints, and gives the composer its tempo and key);
``sampling_rate`` (default 32000; values under 10000 are raised to 10000, which
``meta.sampling_rate`` reports); ``max_new_token`` 256..1024 (MusicGen frames: 50 per second,
so 5.12..20.48 s; default 256); ``output_format`` ``wav`` | ``mp3`` | ``flac`` (default wav) and
``bitrate`` ``128k`` | ``192k`` | ``320k`` (MP3 only, constant bitrate; an MP3 at a rate MP3
cannot hold is resampled to the next rate it can, and under 32 kHz MP3 itself caps the bitrate
at 160k, under 16 kHz at 64k: ``meta.sampling_rate`` and ``meta.bitrate`` say what the file
holds);
``base64`` (true: ``output`` holds the audio as base64 text); ``temp`` (true or any non-zero
number: links that expire after an hour); ``webhook`` + ``track_id`` (at most 200 characters;
the same body is POSTed, signed, when the job ends).

Answers, always HTTP 200 like ModelsLab: ``{"status": "success", "generationTime", "id",
"output": [url], "proxy_links": [url], "meta": {...}}`` when the job finished within
``MUSIC_GEN_SYNC_WAIT_SECONDS``; else ``{"status": "processing", "eta", "id", "fetch_result",
"output": [], "meta"}``; errors ``{"status": "error", "message"}`` (message ``CODE: text``).

Temporary links are ``/api/v6/voice/temp/{id}.{ext}?expires=…&sig=…``: they name the job, not
the audio, so nothing in a ``temp`` answer (``output``, ``proxy_links``, ``meta.filename``)
leads to the permanent audio URL, and without a valid ``expires`` + ``sig`` they answer 404.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from ....errors import InvalidInput, MusicGenError, NotFound
from ...api.deps import caller_for_key
from ...core.inputs import fetch_input_audio
from ...core.jobs.spec import JobRequest
from ...core.state import ServiceState
from ...core.submit import check_storable, resolve_model, submit
from ..common import (
    adapter_settings,
    conditioning_for,
    error_message,
    json_body,
    listener_event,
    parse_json_object,
    wait_for_job,
)
from .answers import delivered, error, response_body, signature
from .schemas import FRAMES_PER_SECOND, MEDIA, ModelsLabCreate
from .settings import ModelsLabSettings

__all__ = ["NAME", "router"]

router = APIRouter(prefix="/api/v6/voice", tags=["modelslab (drop-in)"])

NAME = "modelslab"


def _settings(request: Request) -> ModelsLabSettings:
    settings: ModelsLabSettings = adapter_settings(request, NAME)
    return settings


SettingsDep = Annotated[ModelsLabSettings, Depends(_settings)]


@router.get(
    "/temp/{name}",
    response_class=FileResponse,
    responses={200: {"content": {m: {} for m in MEDIA.values()}}, 404: {"description": "bad link"}},
    summary="A temporary audio link (ModelsLab `temp: true`)",
)
def temporary_audio(
    name: str,
    request: Request,
    expires: Annotated[int | None, Query()] = None,
    sig: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    state: ServiceState = request.app.state.service
    if expires is None or sig is None:
        raise NotFound("invalid temporary link", code="INVALID_LINK")
    given = sig.encode("utf-8", "replace")  # any text compares; a wrong one is just wrong
    if not hmac.compare_digest(signature(state, name, expires).encode(), given):
        raise NotFound("invalid temporary link", code="INVALID_LINK")
    if expires < time.time():
        raise NotFound("this temporary link has expired", code="LINK_EXPIRED")
    job_id, _, fmt = name.rpartition(".")
    record = delivered(state, state.store.get(job_id))
    if record is None or not state.storage.exists(record.key):
        raise NotFound("the audio is gone", code="AUDIO_NOT_FOUND")
    path = state.storage.local_path(record.key)
    if path is None:
        return Response(state.storage.get(record.key), media_type=MEDIA[fmt])
    return FileResponse(path, media_type=MEDIA[fmt], filename=name,
                        content_disposition_type="inline")  # fmt: skip


def _create(state: ServiceState, settings: ModelsLabSettings, raw: bytes) -> dict[str, Any]:
    try:
        values = parse_json_object(raw)
        check_storable(values)  # every text in it (the key too) can be used and stored
        body = ModelsLabCreate(**values)
    except MusicGenError as exc:
        return error(error_message(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        return error(f"{where}: {first['msg']}")
    try:
        caller = caller_for_key(state, body.key)
        rate = max(10000, body.sampling_rate)
        duration = body.max_new_token / FRAMES_PER_SECOND
        options: dict[str, Any] = {
            "prompt": body.prompt,
            "max_new_token": body.max_new_token,
            "output_format": body.output_format,
            "bitrate": body.bitrate,
            "base64": body.base64,
            "temp": bool(body.temp),
            "init_audio": body.init_audio if body.init_audio and not body.base64 else None,
        }
        extra: dict[str, Any] = {"modelslab": options, "api": "modelslab"}
        fields: dict[str, Any] = {}
        prompt = body.prompt
        model = resolve_model(state, None)
        if body.init_audio:
            path = fetch_input_audio(state, body.init_audio, body.base64)
            how = conditioning_for(state, model, path, duration)
            fields.update(how.params)
            prompt = how.prompt(prompt)
            options["conditioning"] = how.how
        done, listen = listener_event(state)
        job, _ = submit(
            state,
            caller,
            JobRequest(
                prompt=prompt,
                duration=duration,
                sample_rate=rate,
                webhook_url=body.webhook or None,
                track_id=body.track_id or None,
            ),
            origin="modelslab",
            options=extra,
            fields=fields,
            on_created=listen,
        )
        try:
            final = wait_for_job(state, job, settings.sync_wait_seconds, done)
        finally:
            state.worker.unlisten(job.id)
        return response_body(state, final)
    except MusicGenError as exc:
        return error(error_message(exc))


@router.post(
    "/music_gen",
    summary="Music Gen (ModelsLab-compatible)",
    openapi_extra=json_body(ModelsLabCreate),
)
async def music_gen(request: Request, settings: SettingsDep) -> dict[str, Any]:
    state: ServiceState = request.app.state.service
    raw = await request.body()
    result: dict[str, Any] = await run_in_threadpool(_create, state, settings, raw)
    return result


def _fetch(state: ServiceState, job_id: str, raw: bytes) -> dict[str, Any]:
    try:
        values = parse_json_object(raw)
        key = values.get("key")
        if key is not None and not isinstance(key, str):
            raise InvalidInput("key must be a string", code="INVALID_KEY")
        caller = caller_for_key(state, key)
        job = state.store.get(job_id, caller.account_id)
        return response_body(state, job)
    except MusicGenError as exc:
        return error(error_message(exc))


@router.post("/fetch/{job_id}", summary="Fetch a queued result (ModelsLab-compatible)")
async def fetch(job_id: str, request: Request) -> dict[str, Any]:
    state: ServiceState = request.app.state.service
    raw = await request.body()
    result: dict[str, Any] = await run_in_threadpool(_fetch, state, job_id, raw)
    return result
