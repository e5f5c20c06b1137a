"""``GET /audio/{id}``: a result in its stored format, or converted (``?format=``,
``?sample_rate=``), with HTTP Range support so browsers' audio players can seek.

Audio ids are unguessable (144 random bits): the URL itself is the capability, so it plays in an
``<audio>`` element without an Authorization header. Converted files are cached beside the
original and deleted with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from ...audio import load_audio
from ...audio.output import AUDIO_FORMATS
from ...errors import InvalidInput, NotFound
from ..db import AudioFile
from ..deps import StateDep

router = APIRouter(tags=["audio"])

MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mid": "audio/midi",
}


@router.get(
    "/audio/{audio_id}",
    response_class=FileResponse,
    responses={
        200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The audio."},
        206: {"description": "Partial content (Range request)."},
        416: {"description": "Range not satisfiable."},
    },
)
def get_audio(
    audio_id: str,
    state: StateDep,
    format: Annotated[str | None, Query(description="wav, mp3, flac or ogg")] = None,
    sample_rate: Annotated[int | None, Query(ge=8000, le=192000)] = None,
    expires: Annotated[int | None, Query(description="temporary links: expiry (unix s)")] = None,
    sig: Annotated[str | None, Query(description="temporary links: signature")] = None,
) -> Response:
    if expires is not None or sig is not None:
        _check_temporary_link(state, audio_id, expires, sig)
    with state.db.session() as s:
        record = s.get(AudioFile, audio_id)
    if record is None or not state.storage.exists(record.key):
        raise NotFound(f"no audio {audio_id!r}", code="AUDIO_NOT_FOUND", details={"id": audio_id})
    fmt = (format or record.format).lower()
    if record.format == "mid" and fmt != "mid":
        raise InvalidInput("a MIDI file cannot be converted to audio here", code="INVALID_FORMAT")
    if fmt not in (*AUDIO_FORMATS, "mid"):
        raise InvalidInput(
            f"unsupported format {format!r}; choose one of {', '.join(AUDIO_FORMATS)}",
            code="INVALID_FORMAT",
            details={"format": format, "allowed": list(AUDIO_FORMATS)},
        )
    rate = sample_rate or record.sample_rate
    key = record.key
    if record.format != "mid" and (fmt != record.format or rate != record.sample_rate):
        key = f"{record.id}.{rate}.{fmt}"
        if not state.storage.exists(key):
            audio = load_audio(state.storage.get(record.key))
            if rate != audio.sample_rate:
                audio = audio.resample(rate)
            state.storage.put(key, audio.to_bytes(fmt))
    path = state.storage.local_path(key)
    filename = f"{record.job_id or record.id}.{fmt}"
    if path is None:  # object storage: no Range support from here
        return Response(state.storage.get(key), media_type=MEDIA_TYPES[fmt])
    return FileResponse(
        path, media_type=MEDIA_TYPES[fmt], filename=filename, content_disposition_type="inline"
    )


def _check_temporary_link(
    state: StateDep, audio_id: str, expires: int | None, sig: str | None
) -> None:
    import time

    if expires is None or sig is None or not state.link_signature_ok(audio_id, expires, sig):
        raise NotFound("invalid temporary link", code="INVALID_LINK")
    if expires < time.time():
        raise NotFound("this temporary link has expired", code="LINK_EXPIRED")
