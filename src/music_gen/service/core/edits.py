"""The intake of edits: a song's edit tasks (repaint, cover, extract, lego, complete: models
with ``edit``) and the plan's (``extend``: the source then more seconds or a plan's sections;
``replace``: one plan section made again, every other sample kept — models with ``plan``),
each of a source the caller names once: an upload, a finished job of the account, or a URL
fetched behind the SSRF guard."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import soundfile as sf

from ...composition import CompositionPlan
from ...errors import InvalidInput, UnsupportedFeature
from ...families import Capability, require
from ...params import Edit, Song
from ...params import Request as ParamsRequest
from .adapter_choice import adapter_part, check_adapter_choice
from .checks import check_output, check_storable, checked_prompt, max_duration, resolve_model
from .infra.auth import Caller
from .inputs import MAX_UPLOAD_SECONDS, fetch_input_audio, job_input, upload_input
from .jobs.requests import EditRequest
from .jobs.spec import JobSpec, Rework
from .state import ServiceState

__all__ = ["REWORKS", "validate_edit", "validate_rework"]

#: the edit tasks a plan's families do (``MusicGenerator.extend`` / ``replace_section``)
REWORKS = ("extend", "replace")


def validate_edit(state: ServiceState, body: EditRequest, caller: Caller | None = None) -> JobSpec:
    """An edit of a song (repaint, cover, extract, lego, complete) on a model with the
    ``edit`` capability (default: the server's song model), of a source the caller names once:
    an upload, a finished job of the account, or a URL fetched behind the SSRF guard."""
    check_storable(body.model_dump())
    if body.task in REWORKS:
        return validate_rework(state, body, caller)
    model = resolve_model(state, body.model or state.catalog.song_model() or None)
    card = state.catalog.card(model)
    if not card.can(Capability.EDIT):
        raise UnsupportedFeature(
            f"model {model!r} ({card.family}) cannot edit songs: it lacks the 'edit' capability",
            details={"model": model, "family": card.family, "capability": "edit"},
        )
    tasks = card.details.get("edit_tasks")
    if tasks is not None and body.task not in tasks:  # e.g. cover without an audio tokenizer
        raise InvalidInput(
            f"model {model!r} cannot {body.task}: its files lack what that task needs",
            code="UNSUPPORTED_TASK",
            details={"model": model, "task": body.task, "tasks": list(tasks)},
        )
    sources = [x for x in (body.source_upload_id, body.source_job_id, body.source_url) if x]
    if len(sources) != 1:
        raise InvalidInput(
            "name the source once: source_upload_id, source_job_id or source_url",
            code="INVALID_SOURCE",
        )
    prompt = checked_prompt(state, body.prompt) if body.prompt.strip() else ""
    limit = max_duration(state, model)
    options = _edit_options(body, list(card.details.get("tracks") or []))
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    source = body.source_upload_id or body.source_job_id or body.source_url  # fetched later
    tracks = options.get("tracks")
    edit = Edit(body.task, source, options.get("start"), options.get("end"),
                options.get("strength"), options.get("track"),
                tracks and tuple(tracks))  # fmt: skip
    request = ParamsRequest((prompt,), seed=seed, song=Song(body.lyrics, body.steps), edit=edit,
                            adapter=adapter_part(body))  # fmt: skip
    limited = replace(card, max_duration=limit)
    checked = state.catalog.family(model).check_request(limited, request)  # the one check
    song, adapter = checked.song, checked.adapter
    assert song is not None
    check_adapter_choice(state, caller, model, card, adapter)
    check_output(state, body.format, body.sample_rate, body.webhook_url)
    path = _edit_source(state, caller, body)
    length = float(sf.info(str(path)).duration)
    problem = None
    if length > limit:
        problem = InvalidInput(
            f"the source is {length:.1f} s; this model edits at most {limit:g} s here",
            code="INVALID_DURATION",
            details={"duration": round(length, 3), "max_duration": limit},
        )
    for name in ("start", "end"):
        value = options.get(name)
        if problem is None and value is not None and not 0.0 <= value <= length:
            problem = InvalidInput(
                f"{name} {value:g} s lies outside the source's 0..{length:.2f} s",
                code="INVALID_RANGE",
            )
    if problem is not None:
        path.unlink(missing_ok=True)
        raise problem
    return JobSpec.model_validate(dict(
        model=model, prompt=prompt, task=body.task, source=str(path), duration=length,
        lyrics=song.lyrics or None, steps=song.steps, seed=seed, **options,
        format=body.format, sample_rate=body.sample_rate,
        adapter=adapter and adapter.name, adapter_scale=adapter and adapter.scale,
        # what GET /generate/{id} shows instead of the server's file path
        source_upload_id=body.source_upload_id, source_job_id=body.source_job_id,
    ))  # fmt: skip


def _edit_source(state: ServiceState, caller: Caller | None, body: EditRequest) -> Path:
    """The edit's source as a scratch file of this request."""
    if body.source_upload_id or body.source_job_id:
        if caller is None:
            raise InvalidInput("edit sources need an account", code="INVALID_SOURCE")
        if body.source_upload_id:
            return upload_input(state, caller, body.source_upload_id)
        assert body.source_job_id is not None
        return job_input(state, caller, body.source_job_id)
    assert body.source_url is not None
    return fetch_input_audio(
        state, body.source_url, what="source audio", max_seconds=MAX_UPLOAD_SECONDS
    )


def _edit_options(body: EditRequest, tracks: list[str]) -> dict[str, Any]:
    """The task's own options: a range for repaint/lego (its order checked), strength for
    cover, tracks (checked against the model's own names, from its card) for
    extract/lego/complete."""
    options: dict[str, Any] = {}
    if body.task in ("repaint", "lego"):
        if body.start is not None and body.end is not None and body.start >= body.end:
            raise InvalidInput("start must be before end", code="INVALID_RANGE")
        options.update(start=body.start, end=body.end)
    if body.task == "cover":  # its range and default: the family's (``check_request``)
        options["strength"] = body.strength
    wanted: dict[str, list[str | None]] = {
        "extract": [body.track], "lego": [body.track], "complete": list(body.tracks or []),
    }  # fmt: skip
    for track in wanted.get(body.task, []):
        if track not in tracks:
            raise InvalidInput(
                f"unknown track; choose one of {', '.join(tracks)}",
                code="INVALID_TRACK",
                details={"tracks": tracks, "track": track},
            )
    if body.task in ("extract", "lego"):
        options["track"] = body.track
    if body.task == "complete":
        options["tracks"] = body.tracks or list(Edit.DEFAULT_TRACKS)
    return options


def validate_rework(
    state: ServiceState, body: EditRequest, caller: Caller | None = None
) -> JobSpec:
    """``extend`` (``duration`` more seconds after ``prompt``, or ``plan``'s sections) or
    ``replace`` (``plan``'s ``section`` made again) of the source, on a model with ``plan``
    (default: the server's). The output is the source and what is added (extend), or as long
    as the source (replace): within the model's limit here."""
    model = resolve_model(state, body.model)
    card = state.catalog.card(model)
    limit = max_duration(state, model)
    unused = [n for n in ("start", "end", "strength", "track", "tracks", "lyrics")
              if getattr(body, n) is not None]  # fmt: skip
    if unused:
        raise InvalidInput(f"{body.task} takes no {unused[0]}", code="INVALID_INPUT",
                           details={"field": unused[0]})  # fmt: skip
    plan, index, names = None, None, []
    if body.plan is not None:
        require(card, {"plan": body.plan})
        plan = CompositionPlan.coerce(body.plan).checked(limit)
    if body.task == "replace":
        if plan is None or body.section is None:
            raise InvalidInput("replace needs the source's plan and the section to make again",
                               code="INVALID_PLAN")  # fmt: skip
        require(card, {"plan": body.plan})
        names = [s.name for s in plan.sections]
        index = body.section if isinstance(body.section, int) else None
        if isinstance(body.section, str) and body.section in names:
            index = names.index(body.section)
        if index is None or not 0 <= index < len(names):
            raise InvalidInput(
                f"no section {body.section!r}; the plan has {', '.join(names)}",
                code="INVALID_PLAN", details={"section": body.section, "sections": names},
            )  # fmt: skip
        if body.duration is not None:
            raise InvalidInput("replace keeps the source's length: no duration",
                               code="INVALID_DURATION")  # fmt: skip
    elif (plan is None) == (body.duration is None):
        raise InvalidInput("extend by duration seconds (after the prompt) or by a plan: one",
                           code="INVALID_PLAN")  # fmt: skip
    elif plan is None and not body.prompt.strip():
        raise InvalidInput("extend by duration needs a prompt for what comes next",
                           code="INVALID_PROMPT")  # fmt: skip
    elif body.duration is not None and not 0 < body.duration <= limit:
        raise InvalidInput(f"duration (the seconds added) must be within 0..{limit:g}",
                           code="INVALID_DURATION")  # fmt: skip
    sources = [x for x in (body.source_upload_id, body.source_job_id, body.source_url) if x]
    if len(sources) != 1:
        raise InvalidInput(
            "name the source once: source_upload_id, source_job_id or source_url",
            code="INVALID_SOURCE",
        )
    prompt = checked_prompt(state, body.prompt) if body.prompt.strip() else ""
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    check_output(state, body.format, body.sample_rate, body.webhook_url)
    path = _edit_source(state, caller, body)
    length = float(sf.info(str(path)).duration)
    added = 0.0 if body.task == "replace" else (body.duration or (plan and plan.duration) or 0.0)
    problem = None
    if length + added > limit + 1e-6:
        problem = InvalidInput(
            f"the result would be {length + added:.1f} s; this model makes at most {limit:g} s "
            "here", code="INVALID_DURATION",
            details={"duration": round(length + added, 3), "max_duration": limit},
        )  # fmt: skip
    if body.task == "replace" and plan is not None and problem is None:
        assert index is not None
        end = plan.bounds()[index][1]
        if end > length + 0.05:
            problem = InvalidInput(
                f"section {names[index]!r} ends at {end:g} s, after the source's {length:.2f} s",
                code="INVALID_RANGE", details={"end": end, "source_seconds": round(length, 3)},
            )  # fmt: skip
    if problem is not None:
        path.unlink(missing_ok=True)
        raise problem
    request = ParamsRequest((prompt or (plan.prompt() if plan else "")[:200],),
                            duration=length + added, seed=seed)  # fmt: skip
    request = state.catalog.family(model).check_request(replace(card, max_duration=limit), request)
    rework = Rework(task=body.task, source=str(path),  # type: ignore[arg-type]
                    section=body.section, added=body.duration)  # fmt: skip
    return JobSpec.model_validate({
        "model": model, "request": replace(request, seed=seed), "rework": rework,
        "plan": None if plan is None else plan.to_dict(),
        "output": {"format": body.format, "sample_rate": body.sample_rate},
        "source_upload_id": body.source_upload_id, "source_job_id": body.source_job_id,
    })  # fmt: skip
