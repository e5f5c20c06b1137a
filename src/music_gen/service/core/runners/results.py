"""Storing a job's results: encoded audio (and MIDI) under fresh random ids, one row each."""

from __future__ import annotations

import secrets
from typing import Any

from ....audio import AudioOutput
from ..infra.db import AudioFile, Database
from ..infra.storage import Storage

__all__ = ["jsonable", "result_size", "store_audio", "store_file"]


def store_audio(
    db: Database,
    storage: Storage,
    audio: AudioOutput,
    account_id: str,
    job_id: str | None,
    format: str = "wav",
    sample_rate: int | None = None,
    node: str | None = None,
) -> AudioFile:
    if sample_rate is not None and sample_rate != audio.sample_rate:
        audio = audio.resample(sample_rate)
    data = audio.to_bytes(format)
    return store_file(db, storage, data, account_id, job_id, format, audio, node)


def store_file(
    db: Database,
    storage: Storage,
    data: bytes,
    account_id: str,
    job_id: str | None,
    format: str,
    audio: AudioOutput,
    node: str | None = None,
) -> AudioFile:
    """Store encoded ``data`` (audio, or ``format="mid"`` for MIDI) under a fresh random id.

    Raises ``OSError`` when storage cannot take it; if the database row cannot be written the
    file is removed again, so a failure leaves nothing behind."""
    audio_id = secrets.token_urlsafe(18)
    key = f"{audio_id}.{format}"
    storage.put(key, data)
    record = AudioFile(
        id=audio_id,
        job_id=job_id,
        account_id=account_id,
        key=key,
        format=format,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        duration=audio.duration,
        size=len(data),
        node=node,
    )
    try:
        with db.session.begin() as s:
            s.add(record)
    except BaseException:
        storage.delete(key)
        raise
    return record


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def result_size(audio: AudioOutput, stems: dict[str, AudioOutput]) -> int:
    """Roughly the bytes a result needs (16-bit PCM of the mix and its stems)."""
    return sum(a.num_samples * a.channels * 2 for a in (audio, *stems.values()))
