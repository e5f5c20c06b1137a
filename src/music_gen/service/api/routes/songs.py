"""``/uploads`` (audio a request can name later) and ``/edit`` (edit a song).

``POST /uploads`` (multipart ``file``) keeps an audio file of up to 10 minutes for the account:
a reference voice or style for ``POST /generate`` (``reference_upload_id``) or the source of an
edit. ``POST /edit`` queues an edit of a song — repaint, cover, extract, lego, complete — on a
model with the ``edit`` capability (default: the server's song model); the source is an upload,
a finished task of the account, or a URL fetched behind the SSRF guard. The job is an ordinary
task: poll ``GET /generate/{task_id}``, or pass ``webhook_url``.
"""

from __future__ import annotations

import secrets
from typing import Any

import soundfile as sf
from fastapi import APIRouter, Response, UploadFile, status

from ....errors import InvalidInput, UnsupportedFeature
from ....families import Capability
from ....families.acestep import EDIT_TASKS, TRACKS
from ....params import SongParams, resolve_seeds, validate_prompt
from ...core.inputs import (
    MAX_UPLOAD_SECONDS,
    delete_upload,
    fetch_input_audio,
    job_input,
    store_upload,
    upload_input,
)
from ...core.jobs import NewJob
from ...core.spec import JobSpec, JobType
from ...core.webhooks import check_public_url
from ..deps import CallerDep, StateDep
from ..schemas import EditCreate, JobSubmitted, UploadPublic
from ..views import submitted

__all__ = ["router"]

router = APIRouter(tags=["songs"])


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadPublic)
async def create_upload(file: UploadFile, state: StateDep, caller: CallerDep) -> UploadPublic:
    data = await file.read(state.settings.max_upload_bytes + 1)
    upload_id, audio = store_upload(state, caller, data)
    return UploadPublic(
        upload_id=upload_id,
        duration=audio.duration,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
    )


@router.delete("/uploads/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_upload(upload_id: str, state: StateDep, caller: CallerDep) -> Response:
    delete_upload(state, caller, upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/edit", status_code=status.HTTP_202_ACCEPTED, response_model=JobSubmitted)
def create_edit(body: EditCreate, state: StateDep, caller: CallerDep) -> JobSubmitted:
    model = state.catalog.resolve(body.model or state.catalog.song_model() or None)
    card = state.catalog.card(model)
    if not card.can(Capability.EDIT):
        raise UnsupportedFeature(
            f"model {model!r} ({card.family}) cannot edit songs: it lacks the 'edit' capability",
            details={"model": model, "family": card.family, "capability": "edit"},
        )
    sources = [x for x in (body.source_upload_id, body.source_job_id, body.source_url) if x]
    if len(sources) != 1:
        raise InvalidInput(
            "name the source once: source_upload_id, source_job_id or source_url",
            code="INVALID_SOURCE",
        )
    prompt = validate_prompt(body.prompt) if body.prompt.strip() else ""
    song = SongParams.validate(
        duration=1.0, max_duration=card.max_duration, lyrics=body.lyrics, steps=body.steps
    )
    [seed] = resolve_seeds(body.seed if body.seed is not None else secrets.randbelow(2**31), 1)
    options = _task_options(body)
    if body.webhook_url is not None:
        s = state.settings
        check_public_url(body.webhook_url, s.allow_private_urls, s.allow_loopback_urls, "webhook")
    if body.source_upload_id:
        path = upload_input(state, caller, body.source_upload_id)
    elif body.source_job_id:
        path = job_input(state, caller, body.source_job_id)
    else:
        assert body.source_url is not None
        path = fetch_input_audio(
            state, body.source_url, what="source audio", max_seconds=MAX_UPLOAD_SECONDS
        )
    length = float(sf.info(str(path)).duration)
    if length > card.max_duration:
        raise InvalidInput(
            f"the source is {length:.1f} s; this model edits at most {card.max_duration:g} s",
            code="INVALID_DURATION",
        )
    for name in ("start", "end"):
        value = options.get(name)
        if value is not None and not 0.0 <= value <= length:
            raise InvalidInput(
                f"{name} {value:g} s lies outside the source's 0..{length:.2f} s",
                code="INVALID_RANGE",
            )
    spec = JobSpec.model_validate(dict(
        model=model, prompt=prompt, task=body.task, source=str(path), duration=length,
        lyrics=song.lyrics or None, steps=song.steps, seed=seed, **options,
        format=body.format, sample_rate=body.sample_rate,
        # what GET /generate/{id} shows instead of the server's file path
        source_upload_id=body.source_upload_id, source_job_id=body.source_job_id,
    ))  # fmt: skip
    job, _ = state.store.create(
        NewJob(
            account_id=caller.account_id,
            spec=spec,
            type=JobType.EDIT,
            webhook_url=body.webhook_url,
            track_id=body.track_id,
        )
    )
    state.worker.wake()
    return submitted(state, job)


def _task_options(body: EditCreate) -> dict[str, Any]:
    """The task's own options, checked: a range for repaint/lego, strength for cover, tracks
    for extract/lego/complete."""
    assert body.task in EDIT_TASKS
    options: dict[str, Any] = {}
    if body.task in ("repaint", "lego"):
        if body.start is not None and body.end is not None and body.start >= body.end:
            raise InvalidInput("start must be before end", code="INVALID_RANGE")
        options.update(start=body.start, end=body.end)
    if body.task == "cover":
        strength = 1.0 if body.strength is None else body.strength
        if not 0.0 <= strength <= 1.0:
            raise InvalidInput("strength must be within [0, 1]", code="INVALID_STRENGTH")
        options["strength"] = strength
    wanted: dict[str, list[str | None]] = {
        "extract": [body.track], "lego": [body.track], "complete": list(body.tracks or []),
    }  # fmt: skip
    for track in wanted.get(body.task, []):
        if track not in TRACKS:
            raise InvalidInput(
                f"unknown track {track!r}; choose one of {', '.join(TRACKS)}",
                code="INVALID_TRACK",
                details={"tracks": list(TRACKS)},
            )
    if body.task in ("extract", "lego"):
        options["track"] = body.track
    if body.task == "complete":
        options["tracks"] = body.tracks or ["drums", "bass"]
    return options
