"""``GET /audio/{id}``: a result in its stored format, or converted (``?format=``,
``?sample_rate=``), with HTTP Range support so browsers' audio players can seek.

Audio ids are unguessable (144 random bits): the URL itself is the capability, so it plays in an
``<audio>`` element without an Authorization header. Conversions to common sample rates are
cached beside the original (a bounded number per result) and deleted with it; other rates are
converted per request. Several servers on one database with separate data directories: a
server that does not hold the file redirects (307) to the one that stored it, so any node
answers any audio URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from ....audio import load_audio
from ....audio.output import AUDIO_FORMATS
from ....errors import InvalidInput, NotFound
from ...core.infra.db import AudioFile
from ...core.infra.storage import conversion_key
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
    request: Request,
    format: Annotated[str | None, Query(description="wav, mp3, flac or ogg")] = None,
    sample_rate: Annotated[int | None, Query(ge=8000, le=192000)] = None,
    expires: Annotated[int | None, Query(description="temporary links: expiry (unix s)")] = None,
    sig: Annotated[str | None, Query(description="temporary links: signature")] = None,
) -> Response:
    if expires is not None or sig is not None:
        _check_temporary_link(state, audio_id, expires, sig)
    with state.db.session() as s:
        record = s.get(AudioFile, audio_id)
    if record is None:
        raise NotFound(f"no audio {audio_id!r}", code="AUDIO_NOT_FOUND", details={"id": audio_id})
    if not state.storage.exists(record.key):
        node = (record.node or "").rstrip("/")
        here = state.settings.node_base_url
        if node and node != here and "node" not in request.query_params:
            # stored by another server: send the client there (marked, so it never loops)
            query = f"{request.url.query}&node=1" if request.url.query else "node=1"
            return RedirectResponse(f"{node}/api/v1/audio/{audio_id}?{query}", status_code=307)
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
    key: str | None = record.key
    if record.format != "mid" and (fmt != record.format or rate != record.sample_rate):
        key = conversion_key(record.id, rate, fmt)
        if key is None or not state.storage.exists(key):
            audio = load_audio(state.storage.get(record.key))
            if rate != audio.sample_rate:
                audio = audio.resample(rate)
            data = audio.to_bytes(fmt)
            if key is None:  # an uncommon rate: not cached
                return Response(data, media_type=MEDIA_TYPES[fmt])
            state.storage.put(key, data)
    assert key is not None
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
