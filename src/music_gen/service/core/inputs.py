"""Audio that requests bring in: uploads, a finished job's result, or a URL fetched safely.

Every input a job reads is copied to its own scratch WAV under ``data_dir/inputs`` (the worker
deletes the inputs a job names when it ends), so deleting an upload or a job's result never
pulls a file from under a running job.

- ``store_upload``: ``POST /api/v1/uploads`` — the bytes are sniffed (soundfile reads the header
  first, so a file longer than ``max_upload_seconds`` is refused before it is decoded) and kept
  as WAV under ``upload-<account>-<id>.wav`` in the service's storage until deleted.
- ``upload_input`` / ``job_input``: an upload or a job result of the caller's account, as a
  scratch copy.
- ``fetch_input_audio``: a URL through ``urlguard.fetch`` (http(s) only, private and loopback
  targets refused unless allowed, connected to the checked address, size and time bounded) or
  base64 data.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import secrets
from pathlib import Path

import soundfile as sf

from ...audio import AudioOutput, load_audio
from ...errors import InvalidInput, NotFound
from . import urlguard
from .auth import Caller
from .db import AudioFile
from .state import ServiceState

__all__ = [
    "checked_audio",
    "delete_upload",
    "fetch_input_audio",
    "job_input",
    "scratch_file",
    "store_upload",
    "upload_input",
]

MAX_UPLOAD_SECONDS = 600.0
_UPLOAD_ID = re.compile(r"up_[A-Za-z0-9_-]{16,40}")


def scratch_file(state: ServiceState, audio: AudioOutput) -> Path:
    """``audio`` saved as a fresh WAV under ``data_dir/inputs`` (one per request)."""
    folder = state.settings.data_dir / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_urlsafe(12)}.wav"
    audio.save(path)
    return path.resolve()


def checked_audio(
    data: bytes, what: str, max_seconds: float, min_seconds: float = 0.0
) -> AudioOutput:
    """Decode ``data`` once its header says its length is within bounds (a long, low-bitrate
    file is refused before it is decoded: decoding it whole could take gigabytes)."""

    def refuse(seconds: float) -> InvalidInput:
        return InvalidInput(
            f"{what} is {seconds:.1f} s long; it must be {min_seconds:g} s to {max_seconds:g} s",
            code="INVALID_AUDIO",
            details={"duration": seconds, "min_duration": min_seconds, "max_duration": max_seconds},
        )

    try:
        info = sf.info(io.BytesIO(data))
    except Exception:
        info = None  # not a format libsndfile reads from its header; decode to find out
    if info is not None and not min_seconds - 0.01 <= info.duration <= max_seconds + 0.01:
        raise refuse(info.duration)
    audio = load_audio(data, name=what)  # INVALID_AUDIO when the bytes are not audio
    if not min_seconds - 0.01 <= audio.duration <= max_seconds + 0.01:
        raise refuse(audio.duration)
    return audio


def fetch_input_audio(
    state: ServiceState,
    source: str,
    is_base64: bool = False,
    *,
    what: str = "init audio",
    max_seconds: float | None = None,
) -> Path:
    """Download (or decode) a clip safely and store it as a scratch WAV; returns its path."""
    s = state.settings
    if is_base64 and not source.startswith(("http://", "https://")):
        try:
            data = base64.b64decode(source.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"{what} is not valid base64", code="INVALID_AUDIO") from exc
    else:
        data = urlguard.fetch(
            source,
            allow_private=s.allow_private_urls,
            allow_loopback=s.allow_loopback_urls,
            what=what,
            max_bytes=s.max_input_audio_bytes,
            timeout=s.download_timeout_seconds,
        )
    if len(data) > s.max_input_audio_bytes:
        raise InvalidInput(f"{what} is too large", code="INVALID_AUDIO")
    limit = s.max_input_audio_seconds if max_seconds is None else max_seconds
    return scratch_file(state, checked_audio(data, what, limit))


def _upload_key(caller: Caller, upload_id: str) -> str:
    return f"upload-{caller.account_id}-{upload_id}.wav"


def store_upload(state: ServiceState, caller: Caller, data: bytes) -> tuple[str, AudioOutput]:
    if len(data) > state.settings.max_upload_bytes:
        raise InvalidInput("the upload is too large", code="INVALID_AUDIO")
    audio = checked_audio(data, "upload", MAX_UPLOAD_SECONDS)
    upload_id = f"up_{secrets.token_urlsafe(16)}"
    state.storage.put(_upload_key(caller, upload_id), audio.to_bytes("wav"))
    return upload_id, audio


def delete_upload(state: ServiceState, caller: Caller, upload_id: str) -> None:
    key = _upload_key(caller, _checked_id(upload_id))
    if not state.storage.exists(key):
        raise NotFound(f"no upload {upload_id!r}", code="UPLOAD_NOT_FOUND")
    state.storage.delete(key)


def _checked_id(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(f"no upload {upload_id!r}", code="UPLOAD_NOT_FOUND")
    return upload_id


def upload_input(state: ServiceState, caller: Caller, upload_id: str) -> Path:
    """A scratch copy of one of the caller's uploads."""
    key = _upload_key(caller, _checked_id(upload_id))
    if not state.storage.exists(key):
        raise NotFound(f"no upload {upload_id!r}", code="UPLOAD_NOT_FOUND")
    return scratch_file(state, load_audio(state.storage.get(key)))


def job_input(state: ServiceState, caller: Caller, job_id: str) -> Path:
    """A scratch copy of one of the caller's finished jobs' audio."""
    job = state.store.get(job_id, caller.account_id)
    with state.db.session() as s:
        record = s.get(AudioFile, job.audio_id) if job.audio_id else None
    if record is None or not state.storage.exists(record.key):
        raise InvalidInput(
            f"task {job_id!r} has no audio here (yet)",
            code="INVALID_SOURCE",
            details={"task_id": job_id, "status": job.status},
        )
    return scratch_file(state, load_audio(state.storage.get(record.key)))
