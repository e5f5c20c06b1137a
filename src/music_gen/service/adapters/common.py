"""What the drop-in adapters share: waiting for a job, safe input-audio downloads, conditioning.

The adapters translate; the job system, validation, engine and storage are the service's own.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ...audio import load_audio
from ...errors import InvalidInput, MusicGenError, UnsupportedFeature
from ..db import Job, JobStatus
from ..state import ServiceState
from ..webhooks import check_public_url

__all__ = ["conditioning_for", "fetch_input_audio", "wait_for_job"]


def wait_for_job(state: ServiceState, job: Job, timeout: float, done: threading.Event) -> Job:
    """Block until ``job`` ends or ``timeout`` passes (``done`` is set by its listener; the
    database is polled too, for a worker in another process). Returns the latest row."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return state.store.get(job.id)
        if done.wait(min(1.0, remaining)):
            return state.store.get(job.id)
        latest = state.store.get(job.id)
        if JobStatus(latest.status).final:
            return latest


def listener_event(state: ServiceState) -> tuple[threading.Event, Any]:
    """An event set when the job ends, and the ``on_created`` hook that attaches it."""
    event = threading.Event()

    def on_event(kind: str, payload: Any) -> None:
        if kind in ("done", "failed", "cancelled"):
            event.set()

    def attach(job: Job) -> None:
        state.worker.listen(job.id, on_event)

    return event, attach


def fetch_input_audio(state: ServiceState, source: str, is_base64: bool = False) -> Path:
    """Download (or decode) a conditioning clip safely and store it as WAV; returns its path.

    URLs: http(s) only, private/loopback/link-local targets refused (unless allowed by the
    settings), no redirects, ``max_input_audio_bytes`` and ``download_timeout_seconds`` caps.
    The bytes must decode as audio (sniffed, whatever the extension or Content-Type says) and
    last at most ``max_input_audio_seconds``.
    """
    s = state.settings
    if is_base64 and not source.startswith(("http://", "https://")):
        try:
            data = base64.b64decode(source.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("init_audio is not valid base64", code="INVALID_AUDIO") from exc
    else:
        check_public_url(source, s.allow_private_urls, s.allow_loopback_urls, what="init audio")
        data = _download(source, s.max_input_audio_bytes, s.download_timeout_seconds)
    if len(data) > s.max_input_audio_bytes:
        raise InvalidInput("init_audio is too large", code="INVALID_AUDIO")
    audio = load_audio(data)  # INVALID_AUDIO when the bytes are not audio
    if audio.duration > s.max_input_audio_seconds + 0.01:
        raise InvalidInput(
            f"init_audio is {audio.duration:.1f} s long; at most {s.max_input_audio_seconds:g} s",
            code="INVALID_AUDIO",
            details={"duration": audio.duration},
        )
    folder = s.data_dir / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_urlsafe(12)}.wav"
    audio.save(path)
    return path.resolve()


def _download(url: str, limit: int, timeout: float) -> bytes:
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise InvalidInput(
                    f"init_audio download answered HTTP {response.status_code}",
                    code="INVALID_AUDIO",
                    details={"url": url},
                )
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"init_audio is over {limit} bytes", code="INVALID_AUDIO")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise InvalidInput(
            f"init_audio could not be downloaded: {type(exc).__name__}",
            code="INVALID_AUDIO",
            details={"url": url},
        ) from exc
    return b"".join(chunks)


def conditioning_for(
    state: ServiceState, model: str, path: Path, duration: float
) -> dict[str, str]:
    """Melody checkpoints are conditioned on the clip's chroma; text-only checkpoints continue
    it: the output starts with (at most the first half of ``duration`` of) the clip. The
    composer cannot use audio."""
    from ..routes.system import describe_model

    capabilities = describe_model(state, model).capabilities
    if "melody" in capabilities:
        return {"melody": str(path)}
    if "continuation" in capabilities:
        clip = load_audio(path)
        keep = int(min(clip.duration, duration / 2) * clip.sample_rate)
        if keep < clip.num_samples:
            path = path.with_name(f"{path.stem}-{keep}.wav")
            if not path.exists():
                type(clip)(clip.samples[:, :keep], clip.sample_rate).save(path)
        return {"continuation": str(path)}
    raise UnsupportedFeature(
        f"model {model!r} cannot be conditioned on audio", details={"model": model}
    )


def error_message(exc: MusicGenError) -> str:
    return f"{exc.code}: {exc.message}"
