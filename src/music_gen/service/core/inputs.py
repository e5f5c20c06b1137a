"""Audio that requests bring in: uploads, a finished job's result, or a URL fetched safely.

Every input a job reads is its own scratch file under ``data_dir/inputs`` (the worker deletes
the inputs a job names when it ends), so deleting an upload or a job's result never pulls a
file from under a running job.

Encoded audio is checked by its real container (wav, flac, ogg, mp3: what its bytes say and
what libsndfile reads it as) and by its header — length, sample rate, channels, and what it
would decode to (``input_limits``: the length at 48 kHz stereo, at most 192 kHz and 8
channels) — before anything is decoded; then decoded block by block within the same bounds.

- ``store_upload``: ``POST /api/v1/uploads`` — the file is checked whole block by block (memory:
  one block) and stored as sent (never expanded to WAV) under ``upload-<account>-<id>.<fmt>``,
  with an ``uploads`` row whose size counts toward the account's storage quota (``quota``).
- ``upload_input`` / ``job_input``: an upload or a job result of the caller's account, as a
  scratch copy (an upload: a hard link where the storage is local, else a copy of its bytes).
- ``fetch_input_audio``: a URL through ``urlguard.fetch`` (http(s) only, private and loopback
  targets refused unless allowed, connected to the checked address, size and time bounded) or
  base64 data; checked like an upload and kept as sent.

A full disk is STORAGE_FULL (503) wherever these write, and nothing half-written stays.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from ...audio import AudioOutput, load_audio
from ...audio.io import CONTAINERS, AudioInfo, DecodeLimits, probe_audio, scan_audio
from ...errors import InvalidInput, NotFound
from .infra import urlguard
from .infra.auth import Caller
from .infra.db import AudioFile, Upload
from .infra.quota import check_quota
from .infra.storage import storage_failure

if TYPE_CHECKING:
    from .state import ServiceState

__all__ = [
    "MAX_UPLOAD_SECONDS",
    "checked_audio",
    "checked_file",
    "delete_upload",
    "fetch_input_audio",
    "input_limits",
    "job_input",
    "list_uploads",
    "scratch_file",
    "store_upload",
    "upload_input",
]

MAX_UPLOAD_SECONDS = 600.0
MAX_INPUT_SAMPLE_RATE = 192_000
MAX_INPUT_CHANNELS = 8
_UPLOAD_ID = re.compile(r"up_[A-Za-z0-9_-]{16,40}")


def input_limits(max_seconds: float, containers: tuple[str, ...] = CONTAINERS) -> DecodeLimits:
    """What an input of up to ``max_seconds`` may decode to: that long at 48 kHz stereo
    (frames × channels; 10 minutes: 57.6 M samples, 230 MB as float32), at most 192 kHz and 8
    channels, in one of ``containers``."""
    return DecodeLimits(
        max_samples=int((max_seconds + 0.01) * 48_000 * 2),
        max_sample_rate=MAX_INPUT_SAMPLE_RATE,
        max_channels=MAX_INPUT_CHANNELS,
        containers=containers,
    )


def _scratch_folder(state: ServiceState) -> Path:
    folder = state.settings.data_dir / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_scratch(state: ServiceState, suffix: str, write: Callable[[Path], object]) -> Path:
    """A fresh scratch file written by ``write(path)``; a failed write leaves nothing and is
    STORAGE_FULL / STORAGE_UNAVAILABLE."""
    path = _scratch_folder(state) / f"{secrets.token_urlsafe(12)}.{suffix}"
    try:
        write(path)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise storage_failure(exc, "the input audio") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path.resolve()


def scratch_file(state: ServiceState, audio: AudioOutput) -> Path:
    """``audio`` saved as a fresh WAV under ``data_dir/inputs`` (one per request)."""
    return _scratch_bytes(state, audio.to_bytes("wav"), "wav")  # a full disk: STORAGE_FULL


def _scratch_bytes(state: ServiceState, data: bytes, container: str) -> Path:
    """Encoded audio kept as sent, as a fresh scratch file named for its container."""
    return _write_scratch(state, container, lambda path: path.write_bytes(data))


def _length_check(seconds: float, what: str, max_seconds: float, min_seconds: float) -> None:
    if not min_seconds - 0.01 <= seconds <= max_seconds + 0.01:
        raise InvalidInput(
            f"{what} is {seconds:.1f} s long; it must be {min_seconds:g} s to {max_seconds:g} s",
            code="INVALID_AUDIO",
            details={"duration": seconds, "min_duration": min_seconds, "max_duration": max_seconds},
        )


def _header(data: bytes, what: str, limits: DecodeLimits) -> AudioInfo:
    """The header, checked but for what it decodes to (a file too long is told so first)."""
    return probe_audio(data, limits=dataclasses.replace(limits, max_samples=None), name=what)


def checked_audio(
    data: bytes,
    what: str,
    max_seconds: float,
    min_seconds: float = 0.0,
    containers: tuple[str, ...] = CONTAINERS,
) -> AudioOutput:
    """Decode ``data`` once its header says it is within bounds (length, and what it decodes
    to: a long, low-bitrate or many-channel file is refused before it is decoded), block by
    block within the same bounds (a header may lie)."""
    limits = input_limits(max_seconds, containers)
    _length_check(_header(data, what, limits).duration, what, max_seconds, min_seconds)
    audio = load_audio(data, name=what, limits=limits)  # INVALID_AUDIO when not audio
    _length_check(audio.duration, what, max_seconds, min_seconds)
    return audio


def checked_file(
    data: bytes,
    what: str,
    max_seconds: float,
    min_seconds: float = 0.0,
    containers: tuple[str, ...] = CONTAINERS,
) -> AudioInfo:
    """Check ``data`` as ``checked_audio`` does, decoding it whole but keeping none of it
    (memory: one block); what it holds, for storing it as sent."""
    limits = input_limits(max_seconds, containers)
    _length_check(_header(data, what, limits).duration, what, max_seconds, min_seconds)
    info = scan_audio(data, limits=limits, name=what)
    _length_check(info.duration, what, max_seconds, min_seconds)
    if info.frames * 32000 < 640 * info.sample_rate:
        raise InvalidInput(f"{what} is too short: {info.duration * 1000:.1f} ms",
                           code="INVALID_AUDIO")  # fmt: skip
    return info


def fetch_input_audio(
    state: ServiceState,
    source: str,
    is_base64: bool = False,
    *,
    what: str = "init audio",
    max_seconds: float | None = None,
) -> Path:
    """Download (or decode) a clip safely, check it (``checked_file``) and keep it as sent in a
    scratch file; returns its path."""
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
    info = checked_file(data, what, limit)
    return _scratch_bytes(state, data, info.container)


def _legacy_key(caller: Caller, upload_id: str) -> str:
    """Where uploads stored before the ``uploads`` table (as WAV, no row) live."""
    return f"upload-{caller.account_id}-{upload_id}.wav"


def store_upload(state: ServiceState, caller: Caller, data: bytes) -> tuple[Upload, AudioInfo]:
    """Check and keep an upload as sent (one row, one file; on any failure neither stays)."""
    if len(data) > state.settings.max_upload_bytes:
        raise InvalidInput("the upload is too large", code="INVALID_AUDIO")
    info = checked_file(data, "upload", MAX_UPLOAD_SECONDS)
    check_quota(state, caller.account_id, len(data))
    upload_id = f"up_{secrets.token_urlsafe(16)}"
    key = f"upload-{caller.account_id}-{upload_id}.{info.container}"
    try:
        state.storage.put(key, data)
    except OSError as exc:
        raise storage_failure(exc, "the upload") from exc
    row = Upload(id=upload_id, account_id=caller.account_id, key=key, format=info.container,
                 sample_rate=info.sample_rate, channels=info.channels, duration=info.duration,
                 size=len(data))  # fmt: skip
    try:
        with state.db.session.begin() as s:
            s.add(row)
    except BaseException:
        state.storage.delete(key)
        raise
    return row, info


def list_uploads(
    state: ServiceState, caller: Caller, limit: int = 100, offset: int = 0
) -> list[Upload]:
    """The caller's uploads, oldest first."""
    with state.db.session() as s:
        query = (
            select(Upload)
            .where(Upload.account_id == caller.account_id)
            .order_by(Upload.created_at, Upload.id)
            .limit(limit)
            .offset(offset)
        )
        return list(s.scalars(query))


def _checked_id(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(f"no upload {upload_id!r}", code="UPLOAD_NOT_FOUND")
    return upload_id


def _find_upload(state: ServiceState, caller: Caller, upload_id: str) -> tuple[str, Upload | None]:
    """The storage key of one of the caller's uploads (and its row; None for an old one)."""
    _checked_id(upload_id)
    with state.db.session() as s:
        row = s.get(Upload, upload_id)
    if row is not None and row.account_id == caller.account_id:
        return row.key, row
    legacy = _legacy_key(caller, upload_id)
    if row is None and state.storage.exists(legacy):
        return legacy, None
    raise NotFound(f"no upload {upload_id!r}", code="UPLOAD_NOT_FOUND")


def delete_upload(state: ServiceState, caller: Caller, upload_id: str) -> None:
    key, row = _find_upload(state, caller, upload_id)
    if row is not None:
        with state.db.session.begin() as s:
            s.execute(delete(Upload).where(Upload.id == row.id))
    state.storage.delete(key)


def upload_input(state: ServiceState, caller: Caller, upload_id: str) -> Path:
    """A scratch copy of one of the caller's uploads: a hard link to the stored file where
    storage is local (no bytes copied; deleting the upload leaves the link), else a copy."""
    key, row = _find_upload(state, caller, upload_id)
    suffix = row.format if row is not None else "wav"
    source = state.storage.local_path(key)
    if source is not None:
        path = _scratch_folder(state) / f"{secrets.token_urlsafe(12)}.{suffix}"
        try:
            os.link(source, path)
            os.utime(path)  # the link is new: the worker's sweep of old scratch goes by mtime
            return path.resolve()
        except OSError:  # another file system, links not allowed, …: a copy below
            path.unlink(missing_ok=True)
    try:
        data = state.storage.get(key)
    except FileNotFoundError as exc:
        raise NotFound(f"no upload {upload_id!r}", code="UPLOAD_NOT_FOUND") from exc
    return _scratch_bytes(state, data, suffix)


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
