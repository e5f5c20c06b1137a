"""The intake: turning a request into a queued job. Validation with the library's codes (text
that can be stored, limits, the model's capabilities, output format, webhook URL), the seed
that will be used, the Idempotency-Key's fingerprint, the queue; and the ETA of a job.

Every way a job is created (``/generate``, batches, the WebSocket, ``/multi-instrument``,
``/edit`` and the drop-in adapters) goes through ``submit``: one validation, one job system.
A request is a ``JobRequest`` (a generation), an ``EditRequest`` or a ``MultitrackRequest``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import soundfile as sf
from sqlalchemy.exc import SQLAlchemyError

from ...audio.effects import build_chain
from ...audio.loop import LoopSpec, loop_source_seconds
from ...audio.mixer import PRESETS
from ...composition import CompositionPlan
from ...errors import Conflict, InvalidInput, MusicGenError, UnsupportedFeature
from ...families import Capability, ModelCard, require
from ...families.base import unsupported
from ...params import Request as ParamsRequest
from ...params import validate_prompt
from .adapter_choice import adapter_part, check_adapter_choice
from .checks import check_output, check_storable, checked_prompt, max_duration, resolve_model
from .edits import validate_edit
from .infra.auth import Caller
from .infra.db import Job, JobStatus
from .inputs import MAX_UPLOAD_SECONDS, fetch_input_audio, upload_input
from .jobs.jobs import NewJob
from .jobs.requests import EditRequest, MultitrackRequest
from .jobs.spec import INPUT_FILES, JobRequest, JobSpec, JobType
from .state import ServiceState

__all__ = [
    "Request",
    "check_storable",
    "eta_seconds",
    "queue_position",
    "submit",
    "validate",
    "validate_request",
]

#: every kind of request ``submit`` takes
Request = JobRequest | EditRequest | MultitrackRequest
#: the job type each kind of request makes by default
_TYPES: dict[type, JobType] = {EditRequest: JobType.EDIT, MultitrackRequest: JobType.MULTITRACK}


#: the request's fields its family takes as keywords (``MusicFamily.build_request``)
_KEYWORDS = ("temperature", "top_k", "top_p", "guidance_scale", "lyrics", "bpm", "key",
             "time_signature", "vocal_language", "steps", "negative_prompt")  # fmt: skip


def validate_request(
    state: ServiceState, body: JobRequest, caller: Caller | None = None
) -> JobSpec:
    """``body`` as the job's spec: the typed ``params.Request`` its model's family builds of
    the fields the client set, validated once by that family (``MusicFamily.check_request``, at
    this server's duration limit); here only what the service alone knows: the model
    resolved, text it can store, a loop or plan, the seed drawn, output and webhook, input
    files fetched. Raises InvalidInput, UnsupportedFeature & co."""
    check_storable(body.model_dump())
    model = resolve_model(state, body.model)
    card = state.catalog.card(model)
    loop = _loop(state, model, card, body)  # a loop's bpm is the loop's, whatever the model
    given = {name: getattr(body, name) for name in _KEYWORDS
             if name in body.model_fields_set and getattr(body, name) is not None}  # fmt: skip
    if loop is not None:
        given.pop("bpm", None)
    # input audio: the request names it (an upload, a URL); the file is fetched once the
    # request passed, and its name stands for it until then
    inputs = {
        "reference": body.reference_upload_id or body.reference_url,
        "melody": body.melody_upload_id,
        "continuation": body.continuation_upload_id,
    }
    given.update({name: value for name, value in inputs.items() if value is not None})
    family = state.catalog.family(model)
    request = family.build_request(card, [body.prompt], **given)  # UNSUPPORTED_FEATURE
    plan = _plan(state, model, body) if body.plan is not None else None
    duration = body.duration if loop is None else loop.seconds
    if plan is not None:
        if loop is not None:
            raise InvalidInput("a loop is one piece; a plan has sections: ask for one",
                               code="INVALID_PLAN")  # fmt: skip
        duration = plan.duration
    text = body.prompt if plan is None or body.prompt.strip() else plan.prompt()
    prompt = checked_prompt(state, text)
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    adapter = adapter_part(body)
    request = replace(request, prompts=(prompt,), duration=duration, seed=seed, adapter=adapter)
    limited = replace(card, max_duration=max_duration(state, model))
    request = replace(family.check_request(limited, request), seed=seed)  # the one check
    whole = "loop" if loop is not None else "plan" if plan is not None else None
    check_adapter_choice(state, caller, model, card, request.adapter, whole)
    check_output(state, body.format, body.sample_rate, body.webhook_url)
    files = {}
    if inputs["reference"] is not None:
        files["reference"] = str(reference_input(state, caller, body))
    for name in ("melody", "continuation"):
        upload_id = inputs[name]
        if upload_id is not None:
            path = _account_upload(state, caller, upload_id, name)
            if name == "continuation":
                _shorter_than(path, float(request.duration or 0.0))
            files[name] = str(path)  # the file the engine reads
    spec: dict[str, Any] = {
        "model": model,
        "request": _with_files(request, files),
        "output": {"format": body.format, "sample_rate": body.sample_rate},
        "reference_upload_id": body.reference_upload_id,  # what job_public shows
        "melody_upload_id": body.melody_upload_id,
        "continuation_upload_id": body.continuation_upload_id,
    }
    if loop is not None:
        spec["loop"] = loop  # the request's duration is the loop's length
    if plan is not None:
        spec["plan"] = plan.to_dict()
    return JobSpec.model_validate(spec)


def _with_files(request: ParamsRequest, files: dict[str, str]) -> ParamsRequest:
    """``request`` with its input audio as the server files fetched for it."""
    if "reference" in files and request.song is not None:
        request = replace(request, song=replace(request.song, reference=files["reference"]))
    fetched = {name: files[name] for name in ("melody", "continuation") if name in files}
    if fetched and request.conditioning is not None:
        request = replace(request, conditioning=replace(request.conditioning, **fetched))
    return request


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
    loop_source_seconds(loop, max_duration(state, model))  # INVALID_DURATION: too long here
    if not card.can(Capability.BPM):
        from ...looping import prompt_with_tempo

        prompt_with_tempo(body.prompt, loop.bpm)  # INVALID_BPM: the prompt names another tempo
    return loop


#: what a plan carries itself (its lines, its sections) and so cannot come beside it
_NOT_WITH_A_PLAN = ("lyrics", "melody_upload_id", "continuation_upload_id")


def _plan(state: ServiceState, model: str, body: JobRequest) -> CompositionPlan:
    """``body.plan`` checked for ``model`` (``plan`` capability, its duration limit), the
    prompt, if any, one more global style: ``INVALID_PLAN`` for what a plan cannot take."""
    require(state.catalog.card(model), {"plan": body.plan})
    plan = CompositionPlan.coerce(body.plan)
    given = [name for name in _NOT_WITH_A_PLAN if getattr(body, name) is not None]
    if given:
        raise InvalidInput(
            f"a plan carries its own lines and sections; {given[0]} cannot come with it",
            code="INVALID_PLAN", details={"field": given[0]},
        )  # fmt: skip
    if "duration" in body.model_fields_set and abs(body.duration - plan.duration) > 1e-6:
        raise InvalidInput(
            f"the plan lasts {plan.duration:g} s; duration {body.duration:g} disagrees",
            code="INVALID_PLAN", details={"duration": body.duration, "plan": plan.duration},
        )  # fmt: skip
    if body.prompt.strip():
        plan = replace(plan, global_styles=(body.prompt.strip(), *plan.global_styles))
    return plan.checked(max_duration(state, model))


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


def eta_seconds(state: ServiceState, duration: float) -> float:
    """Queue ahead of the job plus its own decode, at the worker's measured speed (the count
    is the worker's last one when the database does not answer: a job already stored must
    never be reported to its client as an error)."""
    capacity = max(1, state.backend.capacity)
    ahead = state.queue_depth() / capacity
    return round((ahead + 1) * duration * state.worker.rtf, 1)


def validate(state: ServiceState, body: Request, caller: Caller | None = None) -> JobSpec:
    """Any request as the job's spec, validated once (see ``validate_request``)."""
    if isinstance(body, EditRequest):
        return validate_edit(state, body, caller)
    if isinstance(body, MultitrackRequest):
        return validate_multitrack(state, body, caller)
    return validate_request(state, body, caller)


def validate_multitrack(
    state: ServiceState, body: MultitrackRequest, caller: Caller | None = None
) -> JobSpec:
    """A multitrack request: instruments and mix settings checked, then one generation
    request for all of them (their prompts joined) with the stems and mix as spec fields."""
    check_storable(body.model_dump())
    instruments = {}
    for name, prompt in body.instruments.items():
        if not name.strip() or name.strip() == "mix":
            raise InvalidInput(
                "an instrument needs a name other than 'mix'",
                code="INVALID_INSTRUMENT",
                details={"instrument": name},
            )
        instruments[name.strip()] = validate_prompt(prompt)
    settings = dict(body.mix_settings or {})
    if body.mix_preset is not None:
        settings["preset"] = body.mix_preset
    if settings.get("preset") is not None and settings["preset"] not in PRESETS:
        raise InvalidInput(
            f"unknown mix preset; choose one of {', '.join(PRESETS)}",
            code="INVALID_MIX",
            details={"known": sorted(PRESETS), "preset": settings["preset"]},
        )
    unknown = sorted(str(k) for k in set(settings) - _MIX_SETTINGS)
    if unknown:
        raise InvalidInput(
            f"unknown mix settings; known are {', '.join(sorted(_MIX_SETTINGS))}",
            code="INVALID_MIX",
            details={"unknown": unknown},
        )
    for field in ("levels", "panning", "effects"):  # a list or number here is a clear 422
        if not isinstance(settings.get(field) or {}, dict):
            raise InvalidInput(
                f"mix_settings.{field} must be an object keyed by instrument", code="INVALID_MIX"
            )
    for chain in (settings.get("effects") or {}).values():
        build_chain(chain)  # INVALID_EFFECT before anything is queued
    joined = "; ".join(f"{name}: {prompt}" for name, prompt in instruments.items())
    request = JobRequest(
        prompt=joined[: state.settings.max_prompt_chars],
        duration=body.duration,
        seed=body.seed,
        model=body.model or _multitrack_model(state),
        format=body.format,
        sample_rate=body.sample_rate,
        webhook_url=body.webhook_url,
        track_id=body.track_id,
    )
    spec = validate_request(state, request, caller)
    return JobSpec.model_validate(
        {**spec.stored(), "instruments": instruments, "mix_settings": settings}
    )


_MIX_SETTINGS = {"preset", "levels", "panning", "effects", "target_lufs"}


def _multitrack_model(state: ServiceState) -> str:
    """The default model of a multitrack job: the first served one whose stems come from one
    plan and line up (multitrack and stems: the composer)."""
    for name in state.catalog.names():
        try:
            card = state.catalog.card(name)
            if card.can(Capability.MULTITRACK) and card.can(Capability.STEMS):
                return name
        except MusicGenError:
            continue
    return "composer"


def submit(
    state: ServiceState,
    caller: Caller,
    body: Request,
    *,
    type: JobType | None = None,
    origin: str = "api",
    options: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    batch_id: str | None = None,
    idempotency_key: str | None = None,
    on_created: Callable[[Job], None] | None = None,
    validated: JobSpec | None = None,
) -> tuple[Job, bool]:
    """Validate ``body`` (unless ``validated`` holds ``validate``'s result already) and queue
    it as a job of ``type`` (default: the request's kind) from ``origin`` (an adapter's name,
    with its own ``options``). ``fields``: more spec fields the caller set itself (an
    adapter's conditioning file), checked by ``JobSpec``. With an ``idempotency_key`` seen
    before, the first job comes back (``created`` False), or 409 for another request."""
    if type is None:
        kinds = [t for kind, t in _TYPES.items() if isinstance(body, kind)]
        type = kinds[0] if kinds else JobType.BATCH
    try:
        check_storable(body.model_dump())  # the caller's words first, then the adapter's
        check_storable({"options": options or {}, "fields": fields or {}})
        spec = validated if validated is not None else validate(state, body, caller)
        if fields:
            spec = JobSpec.model_validate({**spec.stored(), **fields})
    except Exception:
        _drop_files(state, [fields.get(name) for name in INPUT_FILES] if fields else [])
        raise
    try:
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
                fingerprint=_fingerprint(body, spec, type, origin, options),
            )
        )
    except Conflict:
        _drop_inputs(state, spec)  # the request is refused: its scratch copies are nobody's
        raise
    if not created:
        _drop_inputs(state, spec, keep=job)
        return job, False
    if on_created is not None:  # e.g. attach a listener before the worker can see the job
        on_created(job)
    state.worker.wake()
    return job, True


def _fingerprint(
    body: Request, spec: JobSpec, type: JobType, origin: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """What an Idempotency-Key identifies: the request as the caller sent it and the spec it
    made, less what differs between two tries of one request (a seed the server drew, the
    scratch copies of input audio: the request names their upload, job or URL)."""
    stored = spec.stored()
    drop = set(INPUT_FILES) | ({"seed"} if body.seed is None else set())
    same = {k: v for k, v in stored.items() if k not in drop}
    return {"request": body.model_dump(mode="json"), "spec": same, "origin": origin,
            "type": type.value, "options": options}  # fmt: skip


def _drop_inputs(state: ServiceState, spec: JobSpec, keep: Job | None = None) -> None:
    """Delete the scratch input files of a request that made no job (``keep``: the job it
    found instead, whose files stay)."""
    kept = {keep.params.get(name) for name in INPUT_FILES} if keep is not None else set()
    _drop_files(state, [name for name in spec.input_files() if name not in kept])


def _drop_files(state: ServiceState, names: list[Any]) -> None:
    """Delete these files where they are scratch copies (under ``data_dir/inputs``)."""
    scratch = (state.settings.data_dir / "inputs").resolve()
    for name in names:
        if isinstance(name, str) and Path(name).resolve().parent == scratch:
            Path(name).unlink(missing_ok=True)


def queue_position(state: ServiceState, job: Job) -> int | None:
    """A queued job's place in the queue (1 = next); None otherwise or when the database
    does not answer (the job itself was read already)."""
    if job.status != JobStatus.QUEUED.value:
        return None
    try:
        return state.store.queue_positions([job.id]).get(job.id)
    except SQLAlchemyError:
        return None
