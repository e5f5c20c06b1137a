"""``WS /ws/stream``: generate with audio chunks sent while the tokens are produced.

Client → server: ``{"type": "generate", "prompt": ..., "stream": true, <any POST /generate
field>}`` (and ``{"type": "ping"}``). Server → client, in order:
``{"type": "started", "task_id", "eta", "queue_position"}``, then (when ``stream``) one
``{"type": "audio_chunk", "task_id", "index", "data": <base64 WAV>, "format": "wav",
"sample_rate", "channels", "offset", "duration", "timestamp"}`` per chunk, then
``{"type": "complete", "task_id", "audio_url", "duration", "metadata"}``. Models that cannot
stream audio (songs: a diffusion model has all of its audio only at the end) send
``{"type": "progress", "task_id", "status", "progress", "detail"}`` as the job advances
(plans too: ``detail`` names the section being made, as ``progress_detail`` in the job JSON),
then the whole song as one ``audio_chunk`` and ``complete``. Problems arrive as
``{"type": "error", "error": {"code", "message", "details"}}``; the socket stays open for the
next request (a binary frame or JSON that cannot be read is such an error) unless
authentication failed. Every ``generate`` message is authenticated again (a key revoked while
the socket is open stops working) and spends one rate-limit hit. ``complete`` is read from the
job itself when the worker's events do not arrive (the job ran in another server process, or
ended before the listener was attached). Closing the socket cancels the work.

The job is an ordinary durable job (kind ``stream``): if the server restarts mid-stream the
socket is gone, but the job still finishes and its result stays at its URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from ....audio import AudioOutput
from ....errors import MusicGenError
from ....families import Capability
from ...core.infra.auth import Caller
from ...core.infra.db import Job, JobStatus
from ...core.jobs.events import JobEvent
from ...core.jobs.spec import JobType
from ...core.state import ServiceState
from ...core.submit import submit
from ..deps import caller_for_key, ws_key
from ..responses import scrub_text
from ..schemas import JobCreate
from ..views import job_public, submitted

router = APIRouter(tags=["stream"])


async def _send(websocket: WebSocket, message: Any) -> None:
    """``message`` as a JSON text frame that always encodes (``responses.scrub_text``)."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = scrub_text(text)
    await websocket.send_text(text)


def _error(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message, "details": details or {}}}


POLL_SECONDS = 1.0  # how often a waiting socket reads its job's state from the database
_DATABASE_DOWN = _error("DATABASE_UNAVAILABLE", "the database is not answering; retry shortly")


@router.websocket("/ws/stream")
async def stream(websocket: WebSocket) -> None:
    await websocket.accept()
    state: ServiceState = websocket.app.state.service
    key = ws_key(websocket)
    try:
        caller = await run_in_threadpool(caller_for_key, state, key)
    except SQLAlchemyError:
        await _send(websocket, _DATABASE_DOWN)
        await websocket.close(code=1013)  # try again later
        return
    except MusicGenError as exc:
        await _send(websocket, {"type": "error", **exc.to_dict()})
        await websocket.close(code=4401 if exc.http_status == 401 else 4429)
        return
    try:
        while True:
            message = _parse(await websocket.receive())
            if message is None:
                return
            if isinstance(message, str):  # unreadable: say so and wait for the next one
                await _send(websocket, _error("INVALID_MESSAGE", message))
                continue
            if message["type"] == "ping":
                await _send(websocket, {"type": "pong", "timestamp": time.time()})
                continue
            try:  # each request: the key must still be valid, and it spends a hit
                caller = await run_in_threadpool(caller_for_key, state, key)
            except SQLAlchemyError:
                await _send(websocket, _DATABASE_DOWN)
                continue
            except MusicGenError as exc:
                await _send(websocket, {"type": "error", **exc.to_dict()})
                if exc.http_status == 401:
                    await websocket.close(code=4401)
                    return
                continue
            try:
                await _generate(websocket, state, caller, message)
            except SQLAlchemyError:  # the database is down: say so, keep the socket
                await _send(websocket, _DATABASE_DOWN)
    except WebSocketDisconnect:
        return


def _parse(raw: Mapping[str, Any]) -> dict[str, Any] | str | None:
    """A client message: the request, a reason it cannot be used, or None (disconnected)."""
    if raw.get("type") == "websocket.disconnect":
        return None
    text = raw.get("text")
    if text is None:
        return "messages must be JSON text frames, not binary"
    try:
        message = json.loads(text)
    except RecursionError:
        return "the message is nested too deeply"
    except ValueError:
        return "messages must be JSON"
    if not isinstance(message, dict) or message.get("type") not in ("generate", "ping"):
        return 'send {"type": "generate", "prompt": ...}'
    return message


async def _generate(
    websocket: WebSocket, state: ServiceState, caller: Caller, message: dict[str, Any]
) -> None:
    wants_chunks = bool(message.get("stream", True))
    fields = {k: v for k, v in message.items() if k not in ("type", "stream")}
    try:
        body = JobCreate(**fields)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        await _send(websocket, _error("VALIDATION_ERROR", "invalid request", {"errors": errors}))
        return
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[JobEvent, Any]] = asyncio.Queue()

    def listener(kind: JobEvent, payload: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (kind, payload))

    def register(job: Job) -> None:
        state.worker.listen(job.id, listener)

    try:
        job, _ = await run_in_threadpool(
            submit,
            state,
            caller,
            body,
            type=JobType.STREAM if wants_chunks else JobType.BATCH,
            on_created=register,
        )
    except MusicGenError as exc:
        await _send(websocket, {"type": "error", **exc.to_dict()})
        return
    info = await run_in_threadpool(submitted, state, job)
    await _send(websocket, {"type": "started", "task_id": job.id, "eta": info.eta,
                               "queue_position": info.queue_position})  # fmt: skip
    receiver = asyncio.ensure_future(websocket.receive())
    index = 0
    # models that cannot stream audio (songs) send progress messages instead, as the job's
    # progress moves (read from the database every POLL_SECONDS)
    # (and plans, made whole: their progress says which section is being made)
    reports = not state.catalog.card(job.model).can(Capability.STREAM) or body.plan is not None
    reported: Any = None
    try:
        while True:
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait(
                {getter, receiver}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if receiver in done:
                getter.cancel()
                if receiver.result().get("type") == "websocket.disconnect":
                    await run_in_threadpool(_cancel, state, job.id)
                    raise WebSocketDisconnect()
                receiver = asyncio.ensure_future(websocket.receive())  # ignore chatter mid-job
                continue
            if getter not in done:  # no event for a while: did the job end without us?
                getter.cancel()
                latest = await run_in_threadpool(_latest, state, job.id)
                if latest is not None and not JobStatus(latest.status).final and reports:
                    now = (latest.progress, latest.report)
                    if now != reported:  # songs and plans: progress while there is no audio
                        reported = now
                        await _send(websocket, _progress(job.id, latest))
                    continue
                if latest is None or not JobStatus(latest.status).final or not events.empty():
                    continue
                kind, payload = _final_event(latest)
            else:
                kind, payload = getter.result()
            if kind == JobEvent.CHUNK:
                await _send(websocket, _chunk(job.id, index, payload))
                index += 1
                continue
            await _send(websocket, _outcome(state, job.id, kind, payload, index))
            return
    finally:
        state.worker.unlisten(job.id)
        if not receiver.done():
            receiver.cancel()


def _latest(state: ServiceState, job_id: str) -> Job | None:
    """The job as stored, with this process's worker's fresher progress while it runs."""
    with contextlib.suppress(Exception):  # the database may be down: try again later
        job = state.store.get(job_id)
        if job.status == "running":
            job.progress = state.worker.progress.get(job.id, job.progress)
            job.report = state.worker.progress_detail.get(job.id, job.report)
        return job
    return None


def _progress(job_id: str, job: Job) -> dict[str, Any]:
    return {"type": "progress", "task_id": job_id, "status": job.status,
            "progress": round(job.progress, 4), "detail": job.report}  # fmt: skip


def _final_event(job: Job) -> tuple[JobEvent, Any]:
    kinds = {"succeeded": JobEvent.DONE, "failed": JobEvent.FAILED,
             "cancelled": JobEvent.CANCELLED}  # fmt: skip
    return kinds[job.status], job


def _outcome(state: ServiceState, job_id: str, kind: JobEvent, payload: Any, chunks: int) -> Any:
    if kind == JobEvent.DONE:
        public = job_public(state, payload)
        return {
            "type": "complete",
            "task_id": job_id,
            "audio_url": public.audio_url,
            "duration": public.duration,
            "metadata": public.metadata,
            "chunks": chunks,
        }
    if kind == JobEvent.FAILED:
        return {"type": "error", "task_id": job_id, "error": payload.error}
    return {"type": "cancelled", "task_id": job_id}


def _cancel(state: ServiceState, job_id: str) -> None:
    with contextlib.suppress(MusicGenError):
        state.store.cancel(job_id)
    state.worker.cancel(job_id)


def _chunk(job_id: str, index: int, audio: AudioOutput) -> dict[str, Any]:
    return {
        "type": "audio_chunk",
        "task_id": job_id,
        "index": index,
        "data": audio.to_base64("wav"),
        "format": "wav",
        "sample_rate": audio.sample_rate,
        "channels": audio.channels,
        "offset": float(audio.metadata.get("start_s", 0.0)),
        "duration": audio.duration,
        "timestamp": time.time(),
    }
