"""AI/ML API music-01 (seed 003): reference uploads, then generation conditioned on them.

- ``POST /v2/generate/audio/minimax/upload`` (multipart ``file`` + ``purpose``):
  ``song`` → separated into vocals and accompaniment (``voice_id`` + ``instrumental_id``),
  ``voice`` → ``voice_id``, ``instrumental`` → ``instrumental_id``. The file must decode as WAV
  or MP3 (sniffed from its bytes, whatever its name says) and last 10 s … 10 min. Separation:
  a neural separator when one is installed (none is, here), else REPET-SIM
  (``audio.separate``), named in ``separation``. References are per account:
  ``GET …/minimax/references`` lists them, ``DELETE …/minimax/references/{id}`` deletes one.
- ``POST /v2/generate/audio/minimax/generate`` ``{model: "music-01", lyrics, refer_voice,
  refer_instrumental, audio_setting: {sample_rate, bitrate, format}}`` (+ our optional
  ``prompt`` and ``duration``, default 30 s) → ``{id, generation_id, status, base_resp}``;
  ``GET`` (or ``POST``) ``…/minimax/generate?generation_id=`` → ``{id, generation_id, status,
  data: {status, audio (hex)}, extra_info: {audio_length (ms), audio_size, audio_bitrate,
  audio_sample_rate}, trace_id, base_resp}``; ``data.status`` 1 = in progress, 2 = done, 3 =
  failed; the top-level ``status`` (``queued`` → ``generating`` → ``completed`` | ``error``) is
  what the AI/ML API SDK's generic polling helper reads.
- ``refer_instrumental`` conditions the music: chroma for melody checkpoints, continuation for
  text-only ones, and for the composer (the default where no weights are cached) the reference's
  tempo and key as words in its prompt, so the composer's music follows them.
  Lyrics are sung when the server has a song model (``MUSIC_GEN_SONG_MODEL``, or a served model
  with the ``lyrics`` capability): the job runs on it with the lyrics (``##…##`` accompaniment
  becomes an ``[instrumental]`` section) and the references as its reference audio (voice,
  instrumental, or both mixed back into one song). Without one, lyrics that must be sung fail
  with base_resp 2060 and a message saying so (``VocalEngine`` is the interface for another
  singing engine; ``##…##`` markers and blank lines need no voice).

base_resp codes: 0 success, 1004 authentication, 2013 invalid parameters, 2060 no vocal
engine, 1000 other (message says why); HTTP status 200 except for authentication (401).
"""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ...audio import AudioOutput, load_audio
from ...audio.separate import separate
from ...errors import InvalidInput, MusicGenError, NotFound
from ..api.deps import CallerDep, StateDep
from ..api.schemas import JobCreate
from ..core.db import Job, ReferenceTrack, utcnow
from ..core.inputs import checked_audio, scratch_file
from ..core.state import ServiceState
from ..core.submit import resolve_model, submit
from .common import conditioning_for, derived_audio, mp3_kbps

router = APIRouter(prefix="/v2/generate/audio/minimax", tags=["ai/ml api music-01 (drop-in)"])

MIN_SECONDS, MAX_SECONDS = 10.0, 600.0
NO_VOCAL_ENGINE = 2060


class VocalEngine(Protocol):
    """A singing-voice engine: sings ``lyrics`` in the reference ``voice`` over ``backing``."""

    name: str

    def sing(self, lyrics: str, voice: AudioOutput, backing: AudioOutput) -> AudioOutput: ...


VOCAL_ENGINES: dict[str, VocalEngine] = {}  # none ships with music-gen


def base_resp(code: int = 0, message: str = "success") -> dict[str, Any]:
    return {"status_code": code, "status_msg": message}


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


def _upload(state: ServiceState, account: str, data: bytes, purpose: str) -> dict[str, Any]:
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


@router.post("/upload", summary="Upload a reference track (music-01)")
async def upload(
    state: StateDep,
    caller: CallerDep,
    file: Annotated[UploadFile, File(description="WAV or MP3, 10 s to 10 minutes")],
    purpose: Annotated[Literal["song", "voice", "instrumental"], Form()],
) -> dict[str, Any]:
    data = await file.read()
    try:
        result: dict[str, Any] = await run_in_threadpool(
            _upload, state, caller.account_id, data, purpose
        )
    except MusicGenError as exc:
        return {"base_resp": base_resp(2013, f"{exc.code}: {exc.message}")}
    return result


@router.get("/references", summary="List uploaded references")
def list_references(state: StateDep, caller: CallerDep) -> dict[str, Any]:
    with state.db.session() as s:
        rows = s.scalars(
            select(ReferenceTrack).where(ReferenceTrack.account_id == caller.account_id)
        ).all()
    items = [
        {"id": r.id, "kind": r.kind, "purpose": r.purpose, "duration": r.duration,
         "separation": r.separation, "created_at": r.created_at.isoformat()}
        for r in rows
    ]  # fmt: skip
    return {"references": items, "base_resp": base_resp()}


@router.delete("/references/{ref_id}", summary="Delete an uploaded reference")
def delete_reference(ref_id: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    with state.db.session.begin() as s:
        row = s.get(ReferenceTrack, ref_id)
        if row is None or row.account_id != caller.account_id:
            return {"base_resp": base_resp(2013, f"no reference {ref_id!r}")}
        state.storage.delete(row.key)
        s.delete(row)
    return {"deleted": ref_id, "base_resp": base_resp()}


class AudioSetting(BaseModel):
    sample_rate: Literal[16000, 24000, 32000, 44100] = 44100
    bitrate: Literal[32000, 64000, 128000, 256000] = 256000
    format: Literal["mp3", "wav", "pcm"] = "mp3"


class MusicCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: Literal["music-01"] = "music-01"
    lyrics: str = ""
    refer_voice: str | None = None
    refer_instrumental: str | None = None
    audio_setting: AudioSetting = Field(default_factory=AudioSetting)
    prompt: str | None = None  # ours: words for the model (default from the references)
    duration: float = Field(default=30.0, gt=0, le=300)  # ours: music-01 has no length field


def needs_singing(lyrics: str) -> bool:
    """True when ``lyrics`` holds words to sing (``##…##`` marks accompaniment, not words)."""
    return bool(re.sub(r"##.*?##", "", lyrics, flags=re.S).strip(" \n\t#"))


def _reference(state: ServiceState, account: str, ref_id: str, kind: str) -> ReferenceTrack:
    with state.db.session() as s:
        row = s.get(ReferenceTrack, ref_id)
    if row is None or row.account_id != account or row.kind != kind:
        raise InvalidInput(f"no {kind} reference {ref_id!r}", code="INVALID_REFERENCE")
    return row


def _reference_clip(state: ServiceState, reference: ReferenceTrack) -> Path:
    """The reference's first 30 s as this request's own scratch WAV (the worker deletes a
    job's inputs when it ends, so jobs never share one)."""
    clip = load_audio(state.storage.get(reference.key))
    return scratch_file(
        state, AudioOutput(clip.samples[:, : int(30 * clip.sample_rate)], clip.sample_rate)
    )


def _generate(state: ServiceState, caller: Any, body: MusicCreate) -> dict[str, Any]:
    """Validate the references and lyrics, then queue one job. What flows where:

    - ``lyrics``: only checked here (``needs_singing``); words to sing need a ``VocalEngine``
      (none ships), ``##…##`` markers and blank lines make an instrumental. They are kept in
      the job's ``aimlapi`` options, not used by the instrumental engines.
    - ``refer_instrumental``: its clip conditions the music (``conditioning_for``): chroma for
      melody checkpoints, continuation for text-only ones, tempo-and-key words in the prompt for
      the composer.
    - ``refer_voice``: checked to exist, recorded as unused (no singing voice).
    - ``prompt`` (ours): the words for the model; default from the references.
    """
    if not body.refer_voice and not body.refer_instrumental:
        raise InvalidInput("give refer_voice and/or refer_instrumental", code="INVALID_REFERENCE")
    voice = body.refer_voice and _reference(state, caller.account_id, body.refer_voice, "voice")
    backing = body.refer_instrumental and _reference(
        state, caller.account_id, body.refer_instrumental, "instrumental"
    )
    song_model = state.catalog.song_model()
    if song_model is not None:  # a model that sings: the lyrics are sung
        return _sing(state, caller, body, song_model, voice or None, backing or None)
    if needs_singing(body.lyrics) and not VOCAL_ENGINES:
        return {"base_resp": base_resp(
            NO_VOCAL_ENGINE,
            "these lyrics must be sung, and no singing-voice engine is installed "
            "(the instrumental engines cannot sing); send empty lyrics or only ##…## "
            "accompaniment markers for an instrumental",
        )}  # fmt: skip
    model = resolve_model(state, None)
    options: dict[str, Any] = {
        "lyrics": body.lyrics,
        "refer_voice": body.refer_voice,
        "refer_voice_unused": bool(voice),
        "refer_instrumental": body.refer_instrumental,
        "audio_setting": body.audio_setting.model_dump(),
    }
    extra: dict[str, Any] = {"api": "aimlapi", "aimlapi": options,
                             "audio_setting": options["audio_setting"]}  # fmt: skip
    fields: dict[str, Any] = {}
    prompt = body.prompt or "instrumental music in the style of the reference track"
    if backing:
        how = conditioning_for(state, model, _reference_clip(state, backing), body.duration)
        fields.update(how.params)
        prompt = how.prompt(prompt)
        options["conditioning"] = how.how
    fmt: Literal["wav"] = "wav"  # MP3 is made from it at the asked bitrate (``_result``)
    job, _ = submit(
        state,
        caller,
        JobCreate(
            prompt=prompt,
            duration=body.duration,
            format=fmt,
            sample_rate=body.audio_setting.sample_rate,
        ),
        origin="aimlapi",
        options=extra,
        fields=fields,
    )
    return {"id": job.id, "generation_id": job.id, "status": "queued", "base_resp": base_resp()}


def song_lyrics(lyrics: str) -> str:
    """music-01 lyrics as a song model reads them: ``##…##`` (accompaniment) becomes an
    ``[instrumental]`` section; lines, blank-line pauses and [verse]/[chorus] tags stay."""
    return re.sub(r"##.*?##", "\n[instrumental]\n", lyrics, flags=re.S).strip()


def _sing(
    state: ServiceState,
    caller: Any,
    body: MusicCreate,
    model: str,
    voice: ReferenceTrack | None,
    backing: ReferenceTrack | None,
) -> dict[str, Any]:
    """The lyrics sung by the song model. The references become its reference audio (a voice
    and style it follows): the voice, the instrumental, or both mixed back into one song."""
    clips = [load_audio(state.storage.get(r.key), target_sample_rate=48000, channels=2)
             for r in (voice, backing) if r is not None]  # fmt: skip
    length = min(c.num_samples for c in clips)
    mixed = sum(c.samples[:, :length] for c in clips)
    reference = scratch_file(state, AudioOutput(np.asarray(mixed), 48000))
    fmt: Literal["wav"] = "wav"  # MP3 is made from it at the asked bitrate (``_result``)
    options = {"lyrics": body.lyrics, "refer_voice": body.refer_voice,
               "refer_instrumental": body.refer_instrumental, "sung_by": model,
               "audio_setting": body.audio_setting.model_dump()}  # fmt: skip
    job, _ = submit(
        state,
        caller,
        JobCreate(
            prompt=body.prompt or "a song in the style of the reference track",
            duration=body.duration,
            model=model,
            lyrics=song_lyrics(body.lyrics),
            format=fmt,
            sample_rate=body.audio_setting.sample_rate,
        ),
        origin="aimlapi",
        options={"api": "aimlapi", "aimlapi": options, "audio_setting": options["audio_setting"]},
        fields={"reference": str(reference)},
    )
    return {"id": job.id, "generation_id": job.id, "status": "queued", "base_resp": base_resp()}


@router.post("/generate", summary="Generate music (music-01)")
def generate(body: MusicCreate, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    try:
        return _generate(state, caller, body)
    except MusicGenError as exc:
        return {"base_resp": base_resp(2013, f"{exc.code}: {exc.message}")}


# top-level ``status`` as the AI/ML API's generation endpoints spell it (its SDK's polling
# helper keeps waiting while it reads queued/generating, and stops on anything else)
STATUS = {"queued": "queued", "running": "generating", "succeeded": "completed",
          "failed": "error", "cancelled": "error"}  # fmt: skip


def _result(state: ServiceState, job: Job) -> dict[str, Any]:
    trace, status = job.id, STATUS[job.status]
    head = {"id": job.id, "generation_id": job.id, "status": status}
    if job.status in ("failed", "cancelled"):
        error = job.error or {}
        message = error.get("message", job.status)
        return {**head, "error": {"code": error.get("code", job.status.upper()),
                                  "message": message},
                "data": {"status": 3, "audio": ""}, "trace_id": trace,
                "base_resp": base_resp(1000, message)}  # fmt: skip
    if job.status != "succeeded" or job.audio_id is None:
        return {**head, "data": {"status": 1, "audio": ""}, "trace_id": trace,
                "base_resp": base_resp()}  # fmt: skip
    setting = (job.options or {}).get("audio_setting") or {}
    asked_kbps = int(setting.get("bitrate", 256000)) // 1000
    # MP3 at the asked constant bitrate, made once from the job's WAV (jobs keep WAV results)
    record = derived_audio(state, job, "mp3" if setting.get("format") == "mp3" else "wav",
                           asked_kbps)  # fmt: skip
    if record is None:
        raise NotFound("the result's audio is gone", code="AUDIO_NOT_FOUND")
    data = state.storage.get(record.key)
    if setting.get("format") == "pcm":  # raw 16-bit little-endian PCM
        import soundfile as sf

        samples, _ = sf.read(io.BytesIO(data), dtype="int16")
        data = samples.tobytes()
    bitrate = 1000 * mp3_kbps(record.sample_rate, asked_kbps) if record.format == "mp3" else (
        record.sample_rate * record.channels * 16
    )  # fmt: skip
    return {
        **head,
        "data": {"status": 2, "audio": data.hex()},
        "extra_info": {
            "audio_length": round(record.duration * 1000),
            "audio_size": len(data),
            "audio_bitrate": bitrate,
            "audio_sample_rate": record.sample_rate,
        },
        "trace_id": trace,
        "base_resp": base_resp(),
    }


@router.get("/generate", summary="Retrieve a generation (music-01)")
def retrieve(
    state: StateDep, caller: CallerDep, generation_id: Annotated[str, Query()]
) -> dict[str, Any]:
    try:
        job = state.store.get(generation_id, caller.account_id)
    except MusicGenError as exc:
        return {"base_resp": base_resp(2013, f"{exc.code}: {exc.message}")}
    return _result(state, job)


@router.post("/generate/retrieve", summary="Retrieve a generation (music-01), POST form")
def retrieve_post(state: StateDep, caller: CallerDep, body: dict[str, Any]) -> dict[str, Any]:
    return retrieve(state, caller, str(body.get("generation_id", "")))
