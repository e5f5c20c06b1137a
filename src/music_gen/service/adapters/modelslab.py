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

import base64
import hashlib
import hmac
import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import InvalidInput, MusicGenError, NotFound
from ..api.deps import caller_for_key
from ..api.schemas import JobCreate
from ..api.views import submitted
from ..core.db import AudioFile, Job
from ..core.inputs import fetch_input_audio
from ..core.state import ServiceState
from ..core.submit import resolve_model, submit
from .common import (
    conditioning_for,
    derived_audio,
    error_message,
    listener_event,
    mp3_kbps,
    parse_json_object,
    wait_for_job,
)

__all__ = ["attach", "router"]

router = APIRouter(prefix="/api/v6/voice", tags=["modelslab (drop-in)"])

FRAMES_PER_SECOND = 50
TEMP_LINK_SECONDS = 3600
MEDIA = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac"}
BITRATES = {"128k": 128, "192k": 192, "320k": 320}


class ModelsLabCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""
    prompt: str
    init_audio: str | None = None
    sampling_rate: int = Field(32000, gt=0, le=192000)
    max_new_token: int = Field(256, ge=256, le=1024)
    output_format: Literal["wav", "mp3", "flac"] = "wav"
    bitrate: Literal["128k", "192k", "320k"] = "320k"
    base64: bool = False
    temp: bool | float = False  # modelslab-py types it as a number
    webhook: str | None = None
    track_id: str | None = Field(None, max_length=200)


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "message": message}


def _options(job: Job) -> dict[str, Any]:
    return dict((job.options or {}).get("modelslab") or {})


# ---------------------------------------------------------------------- the delivered file
def delivered(state: ServiceState, job: Job) -> AudioFile | None:
    """The file this request asked for: the job's own WAV, or its MP3 at the asked bitrate or
    its FLAC (``common.derived_audio``: made once, then reused)."""
    o = _options(job)
    return derived_audio(
        state, job, o.get("output_format", "wav"), BITRATES[o.get("bitrate", "320k")]
    )


# ---------------------------------------------------------------------- temporary links
def _signature(state: ServiceState, name: str, expires: int) -> str:
    message = f"modelslab-temp|{name}|{expires}".encode()
    return hmac.new(state.link_secret, message, hashlib.sha256).hexdigest()[:32]


def temporary_url(state: ServiceState, job: Job, fmt: str) -> str:
    name, expires = f"{job.id}.{fmt}", int(time.time()) + TEMP_LINK_SECONDS
    sig = _signature(state, name, expires)
    return f"{state.settings.base_url}/api/v6/voice/temp/{name}?expires={expires}&sig={sig}"


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
    if not hmac.compare_digest(_signature(state, name, expires).encode(), given):
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


# ---------------------------------------------------------------------- answers
def response_body(state: ServiceState, job: Job) -> dict[str, Any]:
    """The ModelsLab answer for ``job`` in its current state."""
    p, o = job.params, _options(job)
    fmt = o.get("output_format", "wav")
    meta: dict[str, Any] = {
        "base64": "yes" if o.get("base64") else "no",
        "filename": None,
        "input_text": o.get("prompt", p.get("prompt")),
        "max_new_token": o.get("max_new_token"),
        "output_format": fmt,
        "bitrate": o.get("bitrate") if fmt == "mp3" else None,
        "sampling_rate": p.get("sample_rate"),
        "temp": "yes" if o.get("temp") else "no",
        "conditioning_melody": [o["init_audio"]] if o.get("init_audio") else [],
        "seed": job.seed,
        "track_id": job.track_id,
    }
    if job.status in ("failed", "cancelled"):
        message = (job.error or {}).get("message", f"generation {job.status}")
        return {**_error(message), "id": job.id, "track_id": job.track_id}
    record = delivered(state, job) if job.status == "succeeded" else None
    if record is None:
        return {
            "status": "processing",
            "eta": submitted(state, job).eta,
            "id": job.id,
            "message": "generation in progress; POST fetch_result with your key",
            "fetch_result": f"{state.settings.base_url}/api/v6/voice/fetch/{job.id}",
            "output": [],
            "proxy_links": [],
            "meta": meta,
        }
    url = temporary_url(state, job, fmt) if o.get("temp") else state.audio_url(record.id) or ""
    meta["filename"] = f"{job.id}.{fmt}"  # names the job, never the audio id
    meta["sampling_rate"] = record.sample_rate
    if fmt == "mp3":  # what the file holds (a low sampling_rate caps the bitrate)
        meta["bitrate"] = f"{mp3_kbps(record.sample_rate, BITRATES[o.get('bitrate', '320k')])}k"
    output = [url]
    if o.get("base64"):
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


def attach(state: ServiceState) -> None:
    """Webhooks of ModelsLab jobs carry ModelsLab's body (the same as ``fetch`` answers)."""
    state.webhooks.bodies["modelslab"] = lambda job: webhook_body(state, job)


def _create(state: ServiceState, raw: bytes) -> dict[str, Any]:
    try:
        values = parse_json_object(raw)
        body = ModelsLabCreate(**values)
    except MusicGenError as exc:
        return _error(error_message(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        return _error(f"{where}: {first['msg']}")
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
            JobCreate(
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
            final = wait_for_job(state, job, state.settings.sync_wait_seconds, done)
        finally:
            state.worker.unlisten(job.id)
        return response_body(state, final)
    except MusicGenError as exc:
        return _error(error_message(exc))


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}}
    return {"requestBody": {**schema, "required": True}}


@router.post(
    "/music_gen",
    summary="Music Gen (ModelsLab-compatible)",
    openapi_extra=_json_body(ModelsLabCreate),
)
async def music_gen(request: Request) -> dict[str, Any]:
    state: ServiceState = request.app.state.service
    raw = await request.body()
    result: dict[str, Any] = await run_in_threadpool(_create, state, raw)
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
        return _error(error_message(exc))


@router.post("/fetch/{job_id}", summary="Fetch a queued result (ModelsLab-compatible)")
async def fetch(job_id: str, request: Request) -> dict[str, Any]:
    state: ServiceState = request.app.state.service
    raw = await request.body()
    result: dict[str, Any] = await run_in_threadpool(_fetch, state, job_id, raw)
    return result
