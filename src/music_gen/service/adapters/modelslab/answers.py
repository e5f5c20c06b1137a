"""What ModelsLab answers about a job (``response_body``: the ``music_gen`` and ``fetch``
answers and the webhook body), the file it delivers (the job's WAV, or its MP3 / FLAC made once)
and its signed temporary links. Knows no route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from ...api.views import submitted
from ...core.infra.db import AudioFile, Job
from ...core.state import ServiceState
from ..common import derived_audio, mp3_kbps
from .schemas import BITRATES

__all__ = ["delivered", "response_body", "signature", "temporary_url", "webhook_body"]

TEMP_LINK_SECONDS = 3600


def error(message: str) -> dict[str, Any]:
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
def signature(state: ServiceState, name: str, expires: int) -> str:
    message = f"modelslab-temp|{name}|{expires}".encode()
    return hmac.new(state.link_secret, message, hashlib.sha256).hexdigest()[:32]


def temporary_url(state: ServiceState, job: Job, fmt: str) -> str:
    name, expires = f"{job.id}.{fmt}", int(time.time()) + TEMP_LINK_SECONDS
    sig = signature(state, name, expires)
    return f"{state.settings.base_url}/api/v6/voice/temp/{name}?expires={expires}&sig={sig}"


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
        return {**error(message), "id": job.id, "track_id": job.track_id}
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
