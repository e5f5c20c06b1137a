"""music-01 generation: references and lyrics checked, one job queued (sung by a song model
when the server has one, else an instrumental conditioned on the references), and the answer
for that job (``result``: the audio as hex in the asked format). Knows no route.
"""

from __future__ import annotations

import io
import re
from typing import Any, Literal, Protocol

import numpy as np

from ....audio import AudioOutput, load_audio
from ....errors import InvalidInput, NotFound, UnsupportedFeature
from ....families import Capability
from ...core.infra.db import Job
from ...core.inputs import scratch_file
from ...core.jobs.spec import JobRequest
from ...core.state import ServiceState
from ...core.submit import resolve_model, submit
from ..common import conditioning_for, derived_audio, mp3_kbps
from .references import reference, reference_clip
from .schemas import STATUS, MusicCreate, base_resp
from .tables import ReferenceTrack

__all__ = ["VOCAL_ENGINES", "VocalEngine", "generate", "needs_singing", "result", "song_lyrics"]

NO_VOCAL_ENGINE = 2060


class VocalEngine(Protocol):
    """A singing-voice engine: sings ``lyrics`` in the reference ``voice`` over ``backing``."""

    name: str

    def sing(self, lyrics: str, voice: AudioOutput, backing: AudioOutput) -> AudioOutput: ...


VOCAL_ENGINES: dict[str, VocalEngine] = {}  # none ships with music-gen


def needs_singing(lyrics: str) -> bool:
    """True when ``lyrics`` holds words to sing (``##…##`` marks accompaniment, not words)."""
    return bool(re.sub(r"##.*?##", "", lyrics, flags=re.S).strip(" \n\t#"))


def generate(state: ServiceState, caller: Any, body: MusicCreate) -> dict[str, Any]:
    """Validate the references and lyrics, then queue one job. What flows where:

    - ``lyrics``: only checked here (``needs_singing``); words to sing need a ``VocalEngine``
      (none ships), ``##…##`` markers and blank lines make an instrumental. They are kept in
      the job's ``aimlapi`` options, not used by the instrumental engines.
    - ``refer_instrumental``: its clip conditions the music (``conditioning_for``): chroma for
      melody checkpoints, continuation for text-only ones, tempo-and-key words in the prompt for
      the composer.
    - ``refer_voice``: checked to exist, recorded as unused (no singing voice).
    - With a song model (``sing``) the references are optional; one that takes no reference
      audio refuses a request carrying one (``UNSUPPORTED_FEATURE`` naming the capability).
    - ``prompt`` (ours): the words for the model; default from the references.
    """
    song_model = state.catalog.song_model()
    if not body.refer_voice and not body.refer_instrumental and song_model is None:
        raise InvalidInput("give refer_voice and/or refer_instrumental", code="INVALID_REFERENCE")
    if song_model is not None:
        _check_song_references(state, song_model, body)
    voice = body.refer_voice and reference(state, caller.account_id, body.refer_voice, "voice")
    backing = body.refer_instrumental and reference(
        state, caller.account_id, body.refer_instrumental, "instrumental"
    )
    if song_model is not None:  # a model that sings: the lyrics are sung
        return sing(state, caller, body, song_model, voice or None, backing or None)
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
        how = conditioning_for(state, model, reference_clip(state, backing), body.duration)
        fields.update(how.params)
        prompt = how.prompt(prompt)
        options["conditioning"] = how.how
    fmt: Literal["wav"] = "wav"  # MP3 is made from it at the asked bitrate (``_result``)
    job, _ = submit(
        state,
        caller,
        JobRequest(
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


def _check_song_references(state: ServiceState, model: str, body: MusicCreate) -> None:
    """A song model that takes no reference audio refuses a request that carries one (a
    reference is never dropped silently), naming the capability it lacks."""
    card = state.catalog.card(model)
    if card.can(Capability.REFERENCE_AUDIO):
        return
    for field in ("refer_voice", "refer_instrumental"):
        if getattr(body, field):
            raise UnsupportedFeature(
                f"the song model {card.name!r} ({card.family}) cannot take {field!r}: it lacks "
                "the 'reference_audio' capability; it sings from the lyrics and prompt alone, "
                "so send no reference",
                details={"model": card.name, "family": card.family, "option": field,
                         "capability": Capability.REFERENCE_AUDIO.value},
            )  # fmt: skip


def song_lyrics(lyrics: str) -> str:
    """music-01 lyrics as a song model reads them: ``##…##`` (accompaniment) becomes an
    ``[instrumental]`` section; lines, blank-line pauses and [verse]/[chorus] tags stay."""
    return re.sub(r"##.*?##", "\n[instrumental]\n", lyrics, flags=re.S).strip()


def sing(
    state: ServiceState,
    caller: Any,
    body: MusicCreate,
    model: str,
    voice: ReferenceTrack | None,
    backing: ReferenceTrack | None,
) -> dict[str, Any]:
    """The lyrics sung by the song model. The references become its reference audio (a voice
    and style it follows): the voice, the instrumental, or both mixed back into one song;
    without one, the model sings from the lyrics and the prompt alone."""
    clips = [load_audio(state.storage.get(r.key), target_sample_rate=48000, channels=2)
             for r in (voice, backing) if r is not None]  # fmt: skip
    fields: dict[str, Any] = {}
    if clips:
        length = min(c.num_samples for c in clips)
        mixed = sum(c.samples[:, :length] for c in clips)
        fields["reference"] = str(scratch_file(state, AudioOutput(np.asarray(mixed), 48000)))
    fmt: Literal["wav"] = "wav"  # MP3 is made from it at the asked bitrate (``_result``)
    options = {"lyrics": body.lyrics, "refer_voice": body.refer_voice,
               "refer_instrumental": body.refer_instrumental, "sung_by": model,
               "audio_setting": body.audio_setting.model_dump()}  # fmt: skip
    job, _ = submit(
        state,
        caller,
        JobRequest(
            prompt=body.prompt
            or ("a song in the style of the reference track" if clips else "a song, sung"),
            duration=body.duration,
            model=model,
            lyrics=song_lyrics(body.lyrics),
            format=fmt,
            sample_rate=body.audio_setting.sample_rate,
        ),
        origin="aimlapi",
        options={"api": "aimlapi", "aimlapi": options, "audio_setting": options["audio_setting"]},
        fields=fields,
    )
    return {"id": job.id, "generation_id": job.id, "status": "queued", "base_resp": base_resp()}


def result(state: ServiceState, job: Job) -> dict[str, Any]:
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
