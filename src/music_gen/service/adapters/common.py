"""What the drop-in adapters share: JSON bodies parsed safely, waiting for a job, safe
input-audio downloads, conditioning on a reference clip, and results delivered in the format a
vendor asked for (constant-bitrate MP3, FLAC) next to the job's own.

The adapters translate; the job system, validation, engine and storage are the service's own.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf
from sqlalchemy import select

from ...audio import AudioOutput, load_audio
from ...audio.output import _MP3_SAMPLE_RATES
from ...errors import InvalidInput, MusicGenError
from ..core.db import AudioFile, Job, JobStatus
from ..core.events import JobEvent
from ..core.state import ServiceState
from ..core.worker import store_file

__all__ = [
    "Conditioning",
    "conditioning_for",
    "derived_audio",
    "encode_mp3",
    "mp3_kbps",
    "parse_json_object",
    "wait_for_job",
]


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object, or InvalidInput (``INVALID_BODY``) saying why not: not UTF-8,
    not JSON, not an object, or nested too deeply for the parser (a 100,000-deep array)."""
    try:
        value = json.loads(raw) if raw.strip() else None
    except RecursionError as exc:
        raise InvalidInput("the body nests too deeply", code="INVALID_BODY") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the body must be JSON", code="INVALID_BODY") from exc
    if value is None:
        raise InvalidInput("the body is empty; send a JSON object", code="INVALID_BODY")
    if not isinstance(value, dict):
        raise InvalidInput("the body must be a JSON object", code="INVALID_BODY")
    return value


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

    def on_event(kind: JobEvent, payload: Any) -> None:
        if kind.final:
            event.set()

    def attach(job: Job) -> None:
        state.worker.listen(job.id, on_event)

    return event, attach


@dataclass(frozen=True)
class Conditioning:
    """How a reference clip shapes a job: engine ``params`` (``melody`` / ``continuation``
    paths) and/or ``prompt_words`` to append to the prompt (the composer's tempo and key)."""

    how: str  # "melody" | "continuation" | "tempo-and-key"
    params: dict[str, str] = field(default_factory=dict)
    prompt_words: str = ""

    def prompt(self, prompt: str) -> str:
        return f"{prompt}, {self.prompt_words}" if self.prompt_words else prompt


def conditioning_for(state: ServiceState, model: str, path: Path, duration: float) -> Conditioning:
    """Melody checkpoints are conditioned on the clip's chroma; text-only checkpoints continue
    it: the output starts with (at most the first half of ``duration`` of) the clip. Models that
    take text only (the composer) get the clip's tempo and key (``reference_hint``) as words in
    their prompt, which the composer's plan follows.

    ``path`` is this request's scratch file: it is kept (melody), replaced by its trimmed copy
    (continuation) or deleted once measured (tempo and key)."""
    from ...families.base import Capability
    from .reference_hint import reference_hint

    card = state.catalog.card(model)  # what the model can do, from its own files
    if card.can(Capability.MELODY):
        return Conditioning("melody", {"melody": str(path)})
    if card.can(Capability.CONTINUATION):
        clip = load_audio(path)
        keep = int(min(clip.duration, duration / 2) * clip.sample_rate)
        if keep < clip.num_samples:
            trimmed = path.with_name(f"{path.stem}-{keep}.wav")
            type(clip)(clip.samples[:, :keep], clip.sample_rate).save(trimmed)
            path.unlink(missing_ok=True)
            path = trimmed
        return Conditioning("continuation", {"continuation": str(path)})
    # the composer (and the test-tone engine) take words only: the reference's tempo and key
    words = reference_hint(load_audio(path))
    path.unlink(missing_ok=True)
    return Conditioning("tempo-and-key", prompt_words=words)


def error_message(exc: MusicGenError) -> str:
    return f"{exc.code}: {exc.message}"


# ---------------------------------------------------------------------- delivered formats
def mp3_kbps(sample_rate: int, asked: int) -> int:
    """The constant bitrate an MP3 at ``sample_rate`` gets for ``asked`` kbit/s: MPEG-1
    (32 kHz and up) reaches 320, MPEG-2 (16-24 kHz) 160, MPEG-2.5 (8-12 kHz) 64."""
    top = 320 if sample_rate >= 32000 else 160 if sample_rate >= 16000 else 64
    return min(asked, top)


def encode_mp3(audio: AudioOutput, kbps: int) -> tuple[bytes, AudioOutput]:
    """Constant-bitrate MP3 (libsndfile/LAME); the rate is raised to one MP3 can hold. Returns
    the bytes and the audio they hold."""
    if audio.sample_rate not in _MP3_SAMPLE_RATES:
        higher = [r for r in _MP3_SAMPLE_RATES if r >= audio.sample_rate]
        audio = audio.resample(min(higher) if higher else max(_MP3_SAMPLE_RATES))
    top = mp3_kbps(audio.sample_rate, 10_000)
    # libsndfile maps compression level 0..1 linearly onto the version's bitrates, top..8 (32
    # for MPEG-1), then to the nearest standard one
    bottom = 32 if top == 320 else 8
    level = (top - mp3_kbps(audio.sample_rate, kbps)) / (top - bottom)
    buffer = io.BytesIO()
    sf.write(buffer, audio.samples.T.clip(-1, 1), audio.sample_rate, format="MP3",
             compression_level=min(0.99, level), bitrate_mode="CONSTANT")  # fmt: skip
    return buffer.getvalue(), audio


def derived_audio(state: ServiceState, job: Job, fmt: str, kbps: int = 320) -> AudioFile | None:
    """The job's result as ``fmt`` (an MP3 at ``kbps``): the stored result itself when it is
    in that format, else made once from it and stored as another audio file of the job (found
    again by its format; deleted with the job). None until the job has a result."""
    if job.audio_id is None:
        return None
    with state.db.session() as s:
        record = s.get(AudioFile, job.audio_id)
        if record is None or fmt == record.format:
            return record
        made = s.scalars(
            select(AudioFile)
            .where(AudioFile.job_id == job.id, AudioFile.format == fmt)
            .order_by(AudioFile.created_at, AudioFile.id)
        ).first()
    if made is not None:
        return made
    audio = load_audio(state.storage.get(record.key))
    if fmt == "mp3":
        data, audio = encode_mp3(audio, kbps)
    else:
        data = audio.to_bytes(fmt)
    return store_file(state.db, state.storage, data, job.account_id, job.id, fmt, audio)
