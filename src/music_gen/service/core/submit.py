"""Turning a request into a queued job: validation with the library's codes, limits, the model
choice, the seed that will be used, the webhook URL check, the ETA, and the public view of a job.

Every route that creates work (REST, WebSocket, and the drop-in adapters) goes through here, so
there is one validation and one job system.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import soundfile as sf
from sqlalchemy.exc import SQLAlchemyError

from ...audio.loop import LoopSpec, loop_source_seconds
from ...audio.output import _MP3_SAMPLE_RATES, AUDIO_FORMATS
from ...errors import InvalidInput, UnsupportedFeature
from ...families import Capability, ModelCard, require
from ...families.base import unsupported
from ...params import GenerationParams, SongParams, resolve_seeds, validate_prompt
from .auth import Caller
from .db import Job, JobStatus
from .inputs import MAX_UPLOAD_SECONDS, fetch_input_audio, upload_input
from .jobs import NewJob
from .spec import INPUT_FILES, JobRequest, JobSpec, JobType
from .state import ServiceState
from .urlguard import check_public_url

__all__ = ["eta_seconds", "queue_position", "submit", "validate_request"]


def resolve_model(state: ServiceState, requested: str | None) -> str:
    return state.catalog.resolve(requested)


def validate_request(
    state: ServiceState, body: JobRequest, caller: Caller | None = None
) -> JobSpec:
    """``body`` as the job's spec (model resolved, seed drawn, inputs fetched), validated once
    against the model's capabilities and the server's limits; raises InvalidInput,
    UnsupportedFeature & co."""
    s = state.settings
    model = resolve_model(state, body.model)
    card = state.catalog.card(model)
    reference = body.reference_upload_id or body.reference_url
    loop = _loop(state, model, card, body)  # a loop's bpm is the loop's, whatever the model
    duration = body.duration if loop is None else loop.seconds
    require(card, {"lyrics": body.lyrics, "bpm": None if loop else body.bpm, "key": body.key,
                   "time_signature": body.time_signature, "vocal_language": body.vocal_language,
                   "reference": reference, "melody": body.melody_upload_id,
                   "continuation": body.continuation_upload_id})  # fmt: skip
    for name in ("prompt", "track_id", "webhook_url", "model"):
        _storable_text(name, getattr(body, name))
    prompt = validate_prompt(body.prompt)
    if len(prompt) > s.max_prompt_chars:
        raise InvalidInput(
            f"prompt is {len(prompt)} characters long; this server allows {s.max_prompt_chars}",
            code="INVALID_PROMPT",
            details={"length": len(prompt), "max_length": s.max_prompt_chars},
        )
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    resolve_seeds(seed, 1)  # INVALID_SEED
    sound: dict[str, Any]
    if card.can(Capability.LYRICS):
        sound = SongParams.validate(
            duration=duration, max_duration=_max_duration(state, model), lyrics=body.lyrics,
            steps=body.steps, guidance_scale=body.guidance_scale, bpm=body.bpm, key=body.key,
            time_signature=body.time_signature, vocal_language=body.vocal_language or "en",
        ).to_dict()  # fmt: skip
    else:
        if body.steps is not None:
            raise UnsupportedFeature(
                f"steps applies to song (diffusion) models; {model} is a {card.family} model",
                details={"model": model, "family": card.family},
            )
        sound = GenerationParams.validate(
            duration=duration,
            temperature=body.temperature,
            top_k=body.top_k,
            top_p=body.top_p,
            guidance_scale=3.0 if body.guidance_scale is None else body.guidance_scale,
            max_duration=_max_duration(state, model),
        ).to_dict()
    if body.format not in AUDIO_FORMATS:
        raise InvalidInput(f"unknown format {body.format!r}", code="INVALID_FORMAT")
    if body.sample_rate is not None and not 8000 <= body.sample_rate <= 192000:
        raise InvalidInput(
            "sample_rate must be within 8000..192000 Hz",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": body.sample_rate},
        )
    if body.format == "mp3" and body.sample_rate not in (None, *_MP3_SAMPLE_RATES):
        raise InvalidInput(
            f"mp3 cannot encode {body.sample_rate} Hz; choose one of {_MP3_SAMPLE_RATES}",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": body.sample_rate},
        )
    if body.webhook_url is not None:
        check_public_url(
            body.webhook_url, s.allow_private_urls, s.allow_loopback_urls, what="webhook url"
        )
    spec: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        **sound,
        "seed": seed,
        "format": body.format,
        "sample_rate": body.sample_rate,
    }
    if loop is not None:
        spec.update(loop=True, bpm=loop.bpm, bars=loop.bars, beats_per_bar=loop.beats_per_bar)
    if reference is not None:
        spec["reference"] = str(reference_input(state, caller, body))
        spec["reference_upload_id"] = body.reference_upload_id  # what job_public shows
    for name in ("melody", "continuation"):
        upload_id = getattr(body, f"{name}_upload_id")
        if upload_id is not None:
            path = _account_upload(state, caller, upload_id, name)
            if name == "continuation":
                _shorter_than(path, float(sound["duration"]))
            spec[name] = str(path)  # the file the engine reads
            spec[f"{name}_upload_id"] = upload_id
    return JobSpec.model_validate(spec)


def _loop(state: ServiceState, model: str, card: ModelCard, body: JobRequest) -> LoopSpec | None:
    """The loop ``body`` asks for (None: not a loop), checked against the model."""
    if not body.loop:
        if body.bars is not None or body.beats_per_bar is not None:
            raise InvalidInput("bars and beats_per_bar make a loop: add loop=true",
                               code="INVALID_LOOP")  # fmt: skip
        return None
    if not card.can(Capability.LOOP):
        raise unsupported(model, card.family, "loop", Capability.LOOP)
    if body.lyrics:
        raise UnsupportedFeature(
            "a loop is instrumental: leave the lyrics out",
            code="LOOP_NOT_INSTRUMENTAL",
            details={"model": model},
        )
    beats_per_bar = 4 if body.beats_per_bar is None else body.beats_per_bar
    loop = LoopSpec.validate(body.bpm, body.bars, beats_per_bar)
    loop_source_seconds(loop, _max_duration(state, model))  # INVALID_DURATION: too long here
    if not card.can(Capability.BPM):
        from ...looping import prompt_with_tempo

        prompt_with_tempo(body.prompt, loop.bpm)  # INVALID_BPM: the prompt names another tempo
    return loop


def _max_duration(state: ServiceState, model: str) -> float:
    """The longest job this server runs on ``model``: the server's limit, or the model's own
    where that is lower (one limit, the same one the loaded model is given)."""
    return min(state.settings.max_duration, state.catalog.card(model).max_duration)


def _account_upload(state: ServiceState, caller: Caller | None, upload_id: str, what: str) -> Path:
    if caller is None:
        raise InvalidInput(f"{what} uploads need an account", code="INVALID_AUDIO")
    return upload_input(state, caller, upload_id)


def _shorter_than(path: Path, duration: float) -> None:
    """The result starts with the continuation audio: it must be shorter than the result."""
    length = float(sf.info(str(path)).duration)
    if length >= duration:
        path.unlink(missing_ok=True)
        raise InvalidInput(
            f"duration ({duration:g} s) must be longer than the continuation audio "
            f"({length:.2f} s): it is the total length",
            code="INVALID_DURATION",
            details={"duration": duration, "continuation_duration": round(length, 3)},
        )


def reference_input(state: ServiceState, caller: Caller | None, body: JobRequest) -> Path:
    """The request's reference audio as a scratch file: an upload of the caller's, or a URL."""
    if body.reference_upload_id is not None:
        if caller is None:
            raise InvalidInput("reference uploads need an account", code="INVALID_REFERENCE")
        return upload_input(state, caller, body.reference_upload_id)
    assert body.reference_url is not None
    return fetch_input_audio(
        state, body.reference_url, what="reference audio", max_seconds=MAX_UPLOAD_SECONDS
    )


def _storable_text(name: str, value: Any) -> None:
    """Text that can be stored and sent back as JSON: no lone surrogates, no NUL."""
    if not isinstance(value, str):
        return
    code = "INVALID_PROMPT" if name == "prompt" else "INVALID_INPUT"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{name} is not valid Unicode text (a lone surrogate at {exc.start})",
            code=code,
            details={"field": name, "position": exc.start},
        ) from exc
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters", code=code,
                           details={"field": name})  # fmt: skip


def eta_seconds(state: ServiceState, duration: float) -> float:
    """Queue ahead of the job plus its own decode, at the worker's measured speed (the count
    is the worker's last one when the database does not answer: a job already stored must
    never be reported to its client as an error)."""
    capacity = max(1, state.backend.capacity)
    ahead = state.queue_depth() / capacity
    return round((ahead + 1) * duration * state.worker.rtf, 1)


def submit(
    state: ServiceState,
    caller: Caller,
    body: JobRequest,
    *,
    type: JobType = JobType.BATCH,
    origin: str = "api",
    options: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    batch_id: str | None = None,
    idempotency_key: str | None = None,
    on_created: Callable[[Job], None] | None = None,
    validated: JobSpec | None = None,
) -> tuple[Job, bool]:
    """Validate ``body`` (unless ``validated`` holds ``validate_request``'s result already)
    and queue it as a job of ``type`` from ``origin`` (an adapter's name, with its own
    ``options``). ``fields``: more spec fields the caller set itself (a multitrack's
    instruments, an adapter's conditioning file), checked by ``JobSpec``."""
    spec = validated if validated is not None else validate_request(state, body, caller)
    if fields:
        spec = JobSpec.model_validate({**spec.stored(), **fields})
    stored = spec.stored()
    # a seed the server drew is not part of what the Idempotency-Key identifies, nor is the
    # scratch copy of an upload (each try makes its own; the upload id stands for it)
    drop = {"seed"} if body.seed is None else set()
    drop |= {name for name in INPUT_FILES if stored.get(f"{name}_upload_id") is not None}
    same = {k: v for k, v in stored.items() if k not in drop}
    job, created = state.store.create(
        NewJob(
            account_id=caller.account_id,
            spec=spec,
            type=type,
            origin=origin,
            options=options,
            webhook_url=body.webhook_url,
            track_id=body.track_id,
            batch_id=batch_id,
            idempotency_key=idempotency_key,
            fingerprint={"spec": same, "origin": origin, "type": type.value, "options": options},
        )
    )
    if created:
        if on_created is not None:  # e.g. attach a listener before the worker can see the job
            on_created(job)
        state.worker.wake()
    return job, created


def queue_position(state: ServiceState, job: Job) -> int | None:
    """A queued job's place in the queue (1 = next); None otherwise or when the database
    does not answer (the job itself was read already)."""
    if job.status != JobStatus.QUEUED.value:
        return None
    try:
        return state.store.queue_positions([job.id]).get(job.id)
    except SQLAlchemyError:
        return None
