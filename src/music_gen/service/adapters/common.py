"""What the vendor adapters share (and the one module they share it in): the concrete
``VendorAdapter`` they plug in as (``core.plugins.Adapter``), their settings' base class and the
declarative base of their tables, JSON bodies parsed safely, waiting for a job, conditioning on
a reference clip (its tempo and key as words for the composer: ``reference_hint``), and results
delivered in the format a vendor asked for (constant-bitrate MP3, FLAC) next to the job's own.

The adapters translate; the job system, validation, engine and storage are the service's own.
This module knows no vendor.

Tempo and key (``analyse_reference``): the composer cannot be conditioned on audio, but its
plan follows "in A minor" and "96 bpm" in the prompt (``compose.plan``). Tempo: the
autocorrelation of a spectral-flux onset envelope, searched over 60..180 bpm with a mild
preference for values near 110 bpm (halving/doubling errors are the usual failure). Key: a
pitch-class profile from STFT magnitudes (55 Hz .. 2 kHz) correlated with the Krumhansl-Kessler
major and minor profiles in all twelve transpositions. It knows nothing of modulations, meter or
swing; a clip with no clear pulse still gets the best-scoring tempo.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf
from fastapi import APIRouter, Request
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict
from scipy import signal
from sqlalchemy import JSON, DateTime, select
from sqlalchemy.orm import DeclarativeBase

from ...audio import AudioOutput, load_audio
from ...audio.output import _MP3_SAMPLE_RATES
from ...errors import InvalidInput, MusicGenError
from ..core.infra.db import AudioFile, Job, JobStatus, Migrations
from ..core.infra.quota import UsageSource
from ..core.jobs.events import JobEvent
from ..core.plugins import Middleware, WebhookBody
from ..core.runners.results import store_file
from ..core.state import ServiceState

__all__ = [
    "AdapterBase",
    "AdapterSettings",
    "Conditioning",
    "ReferenceFeatures",
    "VendorAdapter",
    "adapter_settings",
    "analyse_reference",
    "conditioning_for",
    "derived_audio",
    "encode_mp3",
    "json_body",
    "mp3_kbps",
    "parse_json_object",
    "reference_hint",
    "wait_for_job",
]


# ---------------------------------------------------------------------- plugging in
class AdapterSettings(BaseSettings):
    """An adapter's own settings: read from the same ``MUSIC_GEN_*`` variables as the
    service's (``MUSIC_GEN_KEY_CREDITS`` …), so deployments set them as before."""

    model_config = SettingsConfigDict(env_prefix="MUSIC_GEN_", extra="ignore")


class AdapterBase(DeclarativeBase):
    """The adapters' tables (not the core's metadata: each adapter's migrations create them)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


@dataclass(frozen=True)
class VendorAdapter:
    """One adapter as ``core.plugins.Adapter`` sees it, plus its ``settings`` (which its routes
    read through ``adapter_settings``)."""

    name: str
    router: APIRouter
    settings: AdapterSettings | None = None
    paths: tuple[str, ...] = ()  # where its middleware runs
    middleware: tuple[Middleware, ...] = ()
    migrations: Migrations | None = None
    webhook_body: WebhookBody | None = None
    storage_usage: UsageSource | None = None  # bytes an account keeps in its stored files


def adapter_settings(request: Request, name: str) -> Any:
    """The settings of the adapter ``name`` in the app serving ``request`` (``app.py`` keeps
    the wired adapters in ``app.state.adapters``)."""
    return request.app.state.adapters[name].settings


def migrations_dir(package_file: str, name: str) -> Migrations:
    """An adapter's history: the ``migrations`` folder beside its package's ``__init__``."""
    return Migrations(name, Path(package_file).with_name("migrations"))


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body that the route parses itself (to answer a bad
    one in its vendor's shape, or to check the path and key first)."""
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}}
    return {"requestBody": {**schema, "required": True}}


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


# ---------------------------------------------------------------------- tempo and key
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_RATE, _HOP, _NFFT = 22050, 512, 2048
_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class ReferenceFeatures:
    tempo: float  # beats per minute
    key: str  # tonic, one of NOTE_NAMES
    mode: str  # "major" | "minor"

    @property
    def words(self) -> str:
        return f"in {self.key} {self.mode}, {round(self.tempo)} bpm"


def analyse_reference(audio: AudioOutput) -> ReferenceFeatures:
    """Estimate the tempo and key of ``audio`` (its first minute)."""
    clip = audio.to_mono()
    clip = AudioOutput(clip.samples[:, : int(_MAX_SECONDS * clip.sample_rate)], clip.sample_rate)
    if clip.sample_rate != _RATE:
        clip = clip.resample(_RATE)
    wav = clip.samples[0].astype(np.float64)
    freqs, _, spec = signal.stft(wav, _RATE, nperseg=_NFFT, noverlap=_NFFT - _HOP, boundary=None)
    magnitude = np.abs(spec)
    return ReferenceFeatures(_tempo(magnitude), *_key(magnitude, freqs))


def reference_hint(audio: AudioOutput) -> str:
    """``analyse_reference(audio).words``: e.g. ``"in A minor, 96 bpm"``."""
    return analyse_reference(audio).words


def _tempo(magnitude: np.ndarray) -> float:
    log_mag = np.log1p(100.0 * magnitude)
    flux = np.maximum(np.diff(log_mag, axis=1), 0.0).sum(axis=0)
    if flux.size < 8 or not np.any(flux):
        return 120.0
    onset = flux - flux.mean()
    frames_per_second = _RATE / _HOP
    corr = np.correlate(onset, onset, mode="full")[onset.size - 1 :]
    lags = np.arange(corr.size)
    bpm = np.divide(60.0 * frames_per_second, lags, out=np.zeros(lags.size), where=lags > 0)
    usable = (bpm >= 60.0) & (bpm <= 180.0)
    if not usable.any():
        return 120.0
    weight = np.exp(-0.5 * (np.log2(np.where(usable, bpm, 1.0) / 110.0) / 1.0) ** 2)
    score = np.where(usable, corr * weight, -np.inf)
    return float(bpm[int(np.argmax(score))])


def _key(magnitude: np.ndarray, freqs: np.ndarray) -> tuple[str, str]:
    band = (freqs >= 55.0) & (freqs <= 2000.0)
    pitch = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    energy = magnitude[band].sum(axis=1)
    profile = np.bincount(pitch, weights=energy, minlength=12)
    if not np.any(profile):
        return "C", "major"
    best = (-np.inf, 0, "major")
    for tonic in range(12):
        for mode, template in (("major", _MAJOR), ("minor", _MINOR)):
            score = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if score > best[0]:
                best = (score, tonic, mode)
    return NOTE_NAMES[best[1]], best[2]
