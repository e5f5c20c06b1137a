"""Reference tracks of music-01: an upload checked (WAV or MP3 by its real container — its
bytes and what it decodes as —, 10 s … 10 min, bounded from its header before it is decoded),
separated when it is a song (vocals and accompaniment), stored per account as FLAC (within
the account's storage quota; ``stored_bytes`` counts them toward it); looked up again by id
and kind, and cut to the clip a job is conditioned on. Knows no route.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from ....audio import AudioOutput, load_audio
from ....audio.separate import separate
from ....errors import InvalidInput
from ...core.infra.db import utcnow
from ...core.infra.quota import check_quota
from ...core.infra.storage import storage_failure
from ...core.inputs import checked_audio, scratch_file
from ...core.state import ServiceState
from .schemas import base_resp
from .tables import ReferenceTrack

__all__ = ["reference", "reference_clip", "stored_bytes", "upload"]

MIN_SECONDS, MAX_SECONDS = 10.0, 600.0
CONTAINERS = ("wav", "mp3")
SEGMENT_SECONDS, FADE_SECONDS = 60.0, 0.5  # a song is separated a minute at a time


def _separate(audio: AudioOutput) -> tuple[AudioOutput, AudioOutput, str]:
    """``separate`` a minute at a time (segments overlapping by a second, crossfaded): memory
    and time follow a segment, not the song (a 10-minute 48 kHz stereo song separated whole
    took 5.9 GB and 94 s here)."""
    rate, n = audio.sample_rate, audio.num_samples
    fade = int(FADE_SECONDS * rate)
    count = int(np.ceil(n / (SEGMENT_SECONDS * rate)))
    if count <= 1:
        return separate(audio)
    bounds = np.linspace(0, n, count + 1).astype(int)  # segments of 30-60 s
    parts = [np.zeros_like(audio.samples), np.zeros_like(audio.samples)]  # [C, N] each
    ramp = np.linspace(0.0, 1.0, 2 * fade, dtype=np.float32)
    how = ""
    for i in range(count):
        lo, hi = max(0, bounds[i] - fade), min(n, bounds[i + 1] + fade)
        weight = np.ones(hi - lo, np.float32)
        if i > 0:
            weight[: 2 * fade] = ramp
        if i < count - 1:
            weight[-2 * fade :] = ramp[::-1]
        *pieces, how = separate(AudioOutput(audio.samples[:, lo:hi], rate))
        for out, piece in zip(parts, pieces, strict=True):
            got = piece.samples[:, : hi - lo]
            out[:, lo : lo + got.shape[1]] += got * weight[: got.shape[1]]
    return (AudioOutput(parts[0], rate, {"separation": how}),
            AudioOutput(parts[1], rate, {"separation": how}), how)  # fmt: skip


def _store_references(
    state: ServiceState, account: str, purpose: str, clips: dict[str, AudioOutput],
    how: str | None,
) -> dict[str, str]:  # fmt: skip
    """Store each ``kind -> clip`` as FLAC with its row: all of them, or (on a full disk or
    quota, or any other failure) none. Returns ``kind -> reference id``."""
    encoded = {kind: clip.to_bytes("flac") for kind, clip in clips.items()}
    check_quota(state, account, sum(len(data) for data in encoded.values()))
    rows, keys = [], []
    try:
        for kind, data in encoded.items():
            key = f"ref-{secrets.token_urlsafe(12)}.flac"
            try:
                state.storage.put(key, data)
            except OSError as exc:
                raise storage_failure(exc, "the reference") from exc
            keys.append(key)
            ref_id = f"{'vocal' if kind == 'voice' else 'instrumental'}-{utcnow():%Y%m%d%H%M%S}-"
            rows.append(ReferenceTrack(
                id=ref_id + secrets.token_urlsafe(6), account_id=account, kind=kind,
                purpose=purpose, key=key, duration=clips[kind].duration, separation=how,
            ))  # fmt: skip
        with state.db.session.begin() as s:
            s.add_all(rows)
    except BaseException:
        for key in keys:
            state.storage.delete(key)
        raise
    return {row.kind: row.id for row in rows}


def upload(state: ServiceState, account: str, data: bytes, purpose: str) -> dict[str, Any]:
    audio = checked_audio(data, "the audio", MAX_SECONDS, MIN_SECONDS, CONTAINERS)
    check_quota(state, account)  # an account already full is told so before any separation
    how: str | None = None
    if purpose == "song":
        vocals, accompaniment, how = _separate(audio)
        clips = {"voice": vocals, "instrumental": accompaniment}
    else:
        clips = {"voice" if purpose == "voice" else "instrumental": audio}
    ids = _store_references(state, account, purpose, clips, how)
    out: dict[str, Any] = {f"{kind}_id": ref_id for kind, ref_id in ids.items()}
    if how is not None:
        out["separation"] = how
    return {**out, "base_resp": base_resp()}


def stored_bytes(state: ServiceState, account: str) -> int:
    """Bytes the account's references take in storage (for its storage quota)."""
    with state.db.session() as s:
        keys = s.scalars(select(ReferenceTrack.key).where(ReferenceTrack.account_id == account))
        total = 0
        for key in keys:
            path = state.storage.local_path(key)
            if path is not None:
                total += path.stat().st_size if path.is_file() else 0
            elif state.storage.exists(key):
                total += len(state.storage.get(key))
    return total


def reference(state: ServiceState, account: str, ref_id: str, kind: str) -> ReferenceTrack:
    with state.db.session() as s:
        row = s.get(ReferenceTrack, ref_id)
    if row is None or row.account_id != account or row.kind != kind:
        raise InvalidInput(f"no {kind} reference {ref_id!r}", code="INVALID_REFERENCE")
    return row


def reference_clip(state: ServiceState, reference: ReferenceTrack) -> Path:
    """The reference's first 30 s as this request's own scratch WAV (the worker deletes a
    job's inputs when it ends, so jobs never share one)."""
    clip = load_audio(state.storage.get(reference.key))
    return scratch_file(
        state, AudioOutput(clip.samples[:, : int(30 * clip.sample_rate)], clip.sample_rate)
    )
