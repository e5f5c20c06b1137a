"""Reference tracks of music-01: an upload checked (WAV or MP3 by its bytes, 10 s … 10 min),
separated when it is a song (vocals and accompaniment), stored per account; looked up again by
id and kind, and cut to the clip a job is conditioned on. Knows no route.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ....audio import AudioOutput, load_audio
from ....audio.separate import separate
from ....errors import InvalidInput
from ...core.db import utcnow
from ...core.inputs import checked_audio, scratch_file
from ...core.state import ServiceState
from .schemas import base_resp
from .tables import ReferenceTrack

__all__ = ["reference", "reference_clip", "upload"]

MIN_SECONDS, MAX_SECONDS = 10.0, 600.0


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _store_reference(
    state: ServiceState, account: str, kind: str, purpose: str, audio: AudioOutput, how: str | None
) -> str:
    ref_id = f"{'vocal' if kind == 'voice' else 'instrumental'}-{utcnow():%Y%m%d%H%M%S}-" + (
        secrets.token_urlsafe(6)
    )
    key = f"ref-{secrets.token_urlsafe(12)}.wav"
    state.storage.put(key, audio.to_bytes("wav"))
    with state.db.session.begin() as s:
        s.add(ReferenceTrack(id=ref_id, account_id=account, kind=kind, purpose=purpose, key=key,
                             duration=audio.duration, separation=how))  # fmt: skip
    return ref_id


def upload(state: ServiceState, account: str, data: bytes, purpose: str) -> dict[str, Any]:
    if _sniff(data) is None:
        raise InvalidInput("the file is neither WAV nor MP3", code="INVALID_AUDIO")
    audio = checked_audio(data, "the audio", MAX_SECONDS, MIN_SECONDS)  # length from the header
    out: dict[str, Any] = {}
    if purpose == "song":
        vocals, accompaniment, method = separate(audio)
        out["voice_id"] = _store_reference(state, account, "voice", purpose, vocals, method)
        out["instrumental_id"] = _store_reference(
            state, account, "instrumental", purpose, accompaniment, method
        )
        out["separation"] = method
    elif purpose == "voice":
        out["voice_id"] = _store_reference(state, account, "voice", purpose, audio, None)
    else:
        out["instrumental_id"] = _store_reference(state, account, "instrumental", purpose, audio,
                                                  None)  # fmt: skip
    return {**out, "base_resp": base_resp()}


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
